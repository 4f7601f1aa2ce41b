"""Calibrate the reader's refusal thresholds (rag/answer/refusal.py) on held-out dev questions, read as answers
read them: retrieval over the dev set's own corpus, the refusal floors, then the trained reader over the
retrieved sentences.

Data: the held-out articles of viquad2-dev (Vietnamese; a fifth of its questions unanswerable, one detail
changed) and xquad-vi-dev (all answerable; Vietnamese and English questions), as rag/training/data.py splits them;
never eval/qa.jsonl, which stays the test, and never the articles the reader was trained on.

Per question language the threshold is the highest margin that refuses at most --false-refusals of that
language's answerable dev questions (the floors' refusals counted). Written into the weights' manifest
(`thresholds`, and `calibration` with what they measured); printed: refusal recall and false refusals at that
threshold, the reader's ROC AUC past the floors, and how often the read span or its sentence holds a gold answer.

    python eval/calibrate_reader.py --false-refusals 0.05
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.assistant import Assistant  # noqa: E402
from rag.evaluation.metrics import answer_correct  # noqa: E402
from rag.training.data import dev_question_ids  # noqa: E402
from rag.reader.paths import data_dir  # noqa: E402
from rag.training.evaluate import roc_auc  # noqa: E402
from rag.settings import Settings  # noqa: E402

DATASETS = ("viquad2-dev", "xquad-vi-dev")


def retrieved(name: str, work: Path, settings: Settings) -> list[tuple[dict, object]]:
    """(QA row, RetrievalResult) per held-out question of a dataset, cached per embedder and retrieval settings."""
    folder = data_dir() / name
    key = hashlib.sha256(json.dumps(settings.to_json()["retrieval"], sort_keys=True, default=str).encode()).hexdigest()[:10]
    cache = work / f"{name}-{settings.embedder}-{key}-dev-results.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    s = settings.replace(corpus_dir=folder / "corpus", index_dir=work / f"idx-{name}")
    assistant = Assistant(s, notify=lambda m: print(m, flush=True))
    t = time.perf_counter()
    assistant.index_data()
    print(f"{name}: index ready in {time.perf_counter() - t:.0f} s", flush=True)
    dev = dev_question_ids(data_dir(), name)
    rows = [json.loads(line) for line in (folder / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    out = [(row, assistant.retrieve(row["question"])) for row in rows if row["id"] in dev]
    cache.write_bytes(pickle.dumps(out))
    return out


def highest_threshold(margins: np.ndarray, rate: float) -> float:
    """The highest threshold that refuses at most `rate` of these answerable questions (margin below it refuses;
    -inf stands for a question the floors refused)."""
    allowed = int(np.floor(rate * len(margins)))
    ranked = np.sort(margins)
    floor_refused = int(np.isneginf(ranked).sum())
    if floor_refused > allowed:
        return float(ranked[floor_refused]) if floor_refused < len(ranked) else 0.0
    return float(ranked[allowed]) if allowed < len(ranked) else float(ranked[-1] + 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--false-refusals", type=float, default=0.05, help="the rate each language's threshold allows")
    ap.add_argument("--work", type=Path, default=ROOT / "build")
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the manifest")
    ap.add_argument("--sentences", type=int, default=None, help="sentences the reader reads (ReaderSettings)")
    ap.add_argument("--neighbours", type=int, default=None, help="neighbours of each, either side")
    ap.add_argument("--fusion", type=float, default=None, help="weight of the window's cosine in the ranking")
    ap.add_argument("--runtime", default=None, help="torch or onnx-int8")
    ap.add_argument("--overlap-vi", type=float, default=None, help="weight of the question's words in the sentence rank")
    ap.add_argument("--overlap-en", type=float, default=None)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    changed = {k: getattr(args, k) for k in ("sentences", "neighbours", "fusion", "runtime", "overlap_vi", "overlap_en")
               if getattr(args, k) is not None}
    settings = settings.replace(reader=dataclasses.replace(settings.reader, **changed))
    # Margins are read with no threshold (they are what sets it); the manifest's is not needed.
    measuring = settings.replace(reader=dataclasses.replace(settings.reader, threshold_vi=-1e9, threshold_en=-1e9))
    decision = Assistant(measuring).decision()
    rows = []  # dataset, lang, answerable, margin (-inf: the floors refused), found (span or sentence holds an answer)
    started, read = time.perf_counter(), 0
    for name in DATASETS:
        for row, result in retrieved(name, args.work, settings):
            d = decision.decide(result)
            read += d.margin is not None
            best = d.readings[0] if d.readings else None
            found = bool(best) and answer_correct(f"{best.span} {best.support.text}", row["answers"])
            rows.append((name, row["lang"], row["answerable"], -np.inf if d.margin is None else d.margin, found))
    per_question = (time.perf_counter() - started) / max(1, read) * 1000
    thresholds, report = {}, {}
    for lang in ("vi", "en"):
        margins = np.array([r[3] for r in rows if r[1] == lang and r[2]])
        thresholds[lang] = round(highest_threshold(margins, args.false_refusals), 4)
    for name in DATASETS:
        for lang in ("vi", "en"):
            sel = [r for r in rows if r[0] == name and r[1] == lang]
            if not sel:
                continue
            t = thresholds[lang]
            ans = [r for r in sel if r[2]]
            una = [r for r in sel if not r[2]]
            past = [r for r in sel if not np.isneginf(r[3])]
            report[f"{name}:{lang}"] = {
                "questions": len(sel), "unanswerable": len(una),
                "false_refusals": round(sum(r[3] < t for r in ans) / len(ans), 4) if ans else None,
                "refusal_recall": round(sum(r[3] < t for r in una) / len(una), 4) if una else None,
                "found_if_answered": round(sum(r[4] for r in ans if r[3] >= t) / max(1, sum(r[3] >= t for r in ans)), 4),
                "reader_auc_past_floors": round(roc_auc(np.array([r[3] for r in past]),
                                                        np.array([r[2] for r in past])), 4) if una else None,
            }
    out = {"false_refusals_allowed": args.false_refusals, "thresholds": thresholds, "dev": report,
           "read_ms_per_question": round(per_question, 1)}
    print(json.dumps(out, indent=1))
    if not args.dry_run:
        path = settings.reader.weights.with_name("manifest.json")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["thresholds"] = thresholds
        manifest["calibration"] = {k: v for k, v in out.items() if k != "thresholds"} | {
            "command": "python eval/calibrate_reader.py " + " ".join(argv or sys.argv[1:]),
            "reader": {k: getattr(settings.reader, k) for k in ("sentences", "neighbours", "fusion", "runtime",
                                                                 "overlap_vi", "overlap_en", "max_length", "stride")},
            "embedder": settings.embedder}
        path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"thresholds written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
