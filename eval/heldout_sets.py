"""Write the reader's held-out dev sets as QA folders that `rag eval` (and eval/compare_readers.py) read, from the
shared data folder ($RAG_DATA_DIR), into build/sets/ (never committed: the data stays outside the project).

- xquad-vi-dev-heldout, viquad2-dev-heldout: the questions on the articles the reader was not trained on
  (rag/training/data.py's split), over the whole set's corpus (a link to it), as `rag eval --held-out` reads them.
- vinewsqa-dev-heldout: UIT-ViNewsQA dev's held-out articles' questions over all 500 whole health-news articles
  (one file an article: its title, a blank line, its text), so retrieval has to find the article among the 500.

    python eval/heldout_sets.py          # then: rag eval --qa build/sets/NAME/qa.jsonl --corpus build/sets/NAME/corpus
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.training.data import BENCH_SETS, SPLIT_FILES, _jsonl, dev_question_ids, held_out  # noqa: E402
from rag.reader.paths import data_dir  # noqa: E402

NEWS = "vinewsqa-dev.vi.jsonl"


def _write(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "qa.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def bench_set(data: Path, bench: str, out: Path) -> int:
    keep = dev_question_ids(data, bench)
    rows = [r for r in _jsonl(data / bench / "qa.jsonl") if r["id"] in keep]
    folder = out / f"{bench}-heldout"
    _write(folder, rows)
    link = folder / "corpus"
    if not link.exists():
        link.symlink_to((data / bench / "corpus").resolve(), target_is_directory=True)
    return len(rows)


def news_set(data: Path, out: Path) -> int:
    rows = _jsonl(data / "reader-train" / NEWS)
    dev = held_out({r["title"] for r in rows}, SPLIT_FILES[NEWS])
    folder = out / "vinewsqa-dev-heldout"
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    doc_of: dict[str, str] = {}
    for r in rows:
        if r["context"] in doc_of:
            continue
        doc = "news-" + hashlib.sha256(r["context"].encode("utf-8")).hexdigest()[:10]
        doc_of[r["context"]] = doc
        (corpus / f"{doc}.txt").write_text(f"{r['title']}\n\n{r['context']}\n", encoding="utf-8")
    qa = [{"id": r["id"], "question": r["question"], "lang": r["lang_question"],
           "answers": list(dict.fromkeys(a["text"] for a in r["answers"])), "answerable": True,
           "gold_doc_ids": [doc_of[r["context"]]], "gold_passages": [r["answers"][0]["text"]]}
          for r in rows if r["title"] in dev]
    _write(folder, qa)
    return len(qa)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "sets")
    args = ap.parse_args(argv)
    data = data_dir()
    for bench in BENCH_SETS:
        print(f"{bench}-heldout: {bench_set(data, bench, args.out)} questions")
    print(f"vinewsqa-dev-heldout: {news_set(data, args.out)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
