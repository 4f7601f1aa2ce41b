"""Reader settings side by side, in one run, on every dev set: the same retrieval for each (run once per set and
cached), then each candidate reads, decides and composes every answer as `rag eval` does, scored by the same
metrics (rag/evaluation/metrics.py).

Sets: eval/qa.jsonl over seeds/, and the held-out sets eval/heldout_sets.py writes into build/sets/
(xquad-vi-dev, viquad2-dev, vinewsqa-dev). A candidate is `NAME` or `NAME:key=value,...` with ReaderSettings
fields (weights, sentences, neighbours, fusion, max_length, stride, runtime, overlap_vi, overlap_en,
threshold_vi, threshold_en, floor_margin), and GeneratorSettings' `mode` (reader or generate) and
`gloss_context_words` and `gloss_retry`:

    python eval/compare_readers.py --candidate shipped --candidate wide:sentences=4,fusion=5 --out eval/compare_readers.md

English answers are rendered by the local model where no rule covers them, as in the default settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.assistant import Assistant  # noqa: E402
from rag.evaluation.metrics import summarize  # noqa: E402
from rag.evaluation.runner import METRIC_PASSAGES, run_questions  # noqa: E402
from rag.evaluation.schema import load_qa  # noqa: E402
from rag.settings import Settings  # noqa: E402

SETS = {"seeds": (ROOT / "eval" / "qa.jsonl", ROOT / "seeds")}
for _name in ("xquad-vi-dev-heldout", "viquad2-dev-heldout", "vinewsqa-dev-heldout"):
    SETS[_name] = (ROOT / "build" / "sets" / _name / "qa.jsonl", ROOT / "build" / "sets" / _name / "corpus")
FIELDS = {"weights": Path, "sentences": int, "neighbours": int, "fusion": float, "max_length": int, "stride": int,
          "runtime": str, "overlap_vi": float, "overlap_en": float, "threshold_vi": float, "threshold_en": float,
          "floor_margin": float, "mode": str, "gloss_context_words": int,
          "gloss_retry": lambda v: v.lower() not in ("0", "false", "no")}
GENERATOR_FIELDS = ("mode", "gloss_context_words", "gloss_retry")


def candidate(text: str) -> tuple[str, dict]:
    name, _, rest = text.partition(":")
    changes = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        if key not in FIELDS:
            raise SystemExit(f"unknown reader setting {key!r}: use {', '.join(FIELDS)}")
        changes[key] = FIELDS[key](value)
    return name, changes


def cached_retrieval(assistant: Assistant, rows: list[dict], cache: Path) -> None:
    """Make `assistant.retrieve` answer from a cache of this set's results (filled on the first run)."""
    saved = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    real = assistant.retrieve

    def retrieve(question: str, k: int | None = None):
        if (question, k) not in saved:
            saved[(question, k)] = real(question, k=k)
        return saved[(question, k)]

    assistant.retrieve = retrieve
    assistant.save_cache = lambda: cache.write_bytes(pickle.dumps(saved))  # type: ignore[attr-defined]


def row_of(name: str, metrics: dict) -> str:
    def f(group: str, key: str, scale: float = 1.0, fmt: str = "{:.3f}") -> str:
        v = metrics.get(group, {}).get(key)
        return "–" if v is None else fmt.format(v * scale)

    return (f"| {name} | {f('vi', 'right')} | {f('en', 'right')} | {f('vi', 'correct')} | {f('en', 'correct')} | "
            f"{f('all', 'refusal_recall')} | {f('all', 'false_refusals')} | "
            f"{f('vi', 'total_ms_p50', 1, '{:.0f}')} | {f('en', 'first_token_ms_p50', 1, '{:.0f}')} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidate", action="append", default=[], help="NAME[:key=value,...] (repeat)")
    ap.add_argument("--retrieve-only", action="store_true", help="only fill the sets' retrieval caches")
    ap.add_argument("--set", action="append", choices=list(SETS), help="default: every set")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "compare")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables to this markdown file")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of each set (a smoke run)")
    ap.add_argument("--lang", choices=("vi", "en"), default=None, help="only the questions in this language")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    candidates = [candidate(c) for c in args.candidate]
    base = Settings()
    lines = [f"Reader candidates side by side ({time.strftime('%Y-%m-%d')}; `python eval/compare_readers.py "
             + " ".join(f"--candidate {c}" for c in args.candidate) + "`)", ""]
    shared: dict = {}
    for set_name in args.set or list(SETS):
        qa, corpus = SETS[set_name]
        rows = [r for r in load_qa(qa) if args.lang in (None, r["lang"])][: args.limit]
        settings = base.replace(corpus_dir=corpus, index_dir=args.work / f"index-{set_name}")
        if args.retrieve_only:
            assistant = Assistant(settings, embedder=shared.get("embedder"))
            shared["embedder"] = assistant.embedder
            cached_retrieval(assistant, rows, args.work / f"{set_name}-{settings.embedder}-retrieval.pkl")
            assistant.warm_up()
            for r in rows:
                assistant.retrieve(r["question"], k=max(METRIC_PASSAGES, settings.retrieval.k))
            assistant.save_cache()
            print(f"{set_name}: {len(rows)} retrievals cached", flush=True)
            continue
        # Timings are of the answer stage alone: the retrieval comes from the cache.
        lines += [f"### {set_name} ({len(rows)} questions)", "",
                  "| candidate | right vi | right en | correct vi | correct en | refusal recall | false refusals "
                  "| vi answer p50 ms | en first token p50 ms |", "|---|---|---|---|---|---|---|---|---|"]
        for name, changes in candidates:
            reader = {k: v for k, v in changes.items() if k not in GENERATOR_FIELDS}
            generator = {k: v for k, v in changes.items() if k in GENERATOR_FIELDS}
            s = settings.replace(reader=dataclasses.replace(settings.reader, **reader),
                                 generator=dataclasses.replace(settings.generator, **generator))
            assistant = Assistant(s, embedder=shared.get("embedder"), chat_model=shared.get("chat"),
                                  notify=lambda m: print(m, file=sys.stderr, flush=True))
            shared["embedder"] = assistant.embedder
            cached_retrieval(assistant, rows, args.work / f"{set_name}-{s.embedder}-retrieval.pkl")
            t0 = time.perf_counter()
            results = run_questions(assistant, rows)
            assistant.save_cache()
            if assistant._chat_model is not None:
                shared["chat"] = assistant._chat_model
            metrics = summarize(results)
            (args.work / f"{set_name}-{name}.json").write_text(json.dumps(
                {"candidate": changes, "metrics": metrics, "results": [r.to_json() for r in results]},
                ensure_ascii=False, default=str))
            lines.append(row_of(name, metrics))
            print(f"{set_name} {name}: {time.perf_counter() - t0:.0f} s  {lines[-1]}", flush=True)
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
