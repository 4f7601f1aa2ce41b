"""The reader's margin that may overrule the refusal floor's cosine (ReaderSettings.floor_margin): the margin that
all but --share of held-out unanswerable questions stay below, read over their own paragraphs. The questions are
the SQuAD 2.0 unanswerable ones machine-translated into Vietnamese whose titles rag/training/data.py holds out
(written against their paragraph: negations, antonyms, swapped entities), never a benchmark set's.

    python eval/floor_margin.py --share 0.05
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.reader.paths import data_dir  # noqa: E402
from rag.reader.runtime import reader_for  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.training.data import reader_train  # noqa: E402
from rag.training.evaluate import predict  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--share", type=float, default=0.05, help="of the unanswerable questions allowed above it")
    args = ap.parse_args(argv)
    settings = Settings()
    r = settings.reader
    reader = reader_for(r, settings.threads)
    _, dev = reader_train(data_dir())
    unanswerable = [e for e in dev if "vi-mt" in e.source and not e.answerable]
    margins = np.array([p.margin for p in predict(reader, unanswerable)])
    bar = float(np.percentile(margins, 100 * (1 - args.share)))
    print(f"{len(unanswerable)} held-out unanswerable questions ({r.runtime}): {100 * (1 - args.share):.0f}% have "
          f"a margin below {bar:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
