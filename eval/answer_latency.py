"""How long an answer takes in one process, as `rag ask` answers: the default settings and index, the reader and
the local model warmed up, then the first N answerable seed questions of each language (eval/qa.jsonl) asked one
after another. Prints p50 of the Vietnamese answers' total time and of the English answers' first token, and the
process's peak RSS (the local model's worker is a process of its own beside it).

    python eval/answer_latency.py --questions 30
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.assistant import Assistant  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=30, help="per language")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in (ROOT / "eval" / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    assistant = Assistant()
    assistant.warm_up()
    assistant.warm_up_generator()
    out: dict = {}
    for lang in ("vi", "en"):
        questions = [r["question"] for r in rows if r["lang"] == lang and r["answerable"]][: args.questions]
        answers = [assistant.ask(q) for q in questions]
        out[lang] = {"questions": len(questions),
                     "total_ms_p50": round(statistics.median(a.timings["total_ms"] for a in answers)),
                     "first_token_ms_p50": round(statistics.median(a.timings["first_token_ms"] for a in answers))}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
