"""Questions arriving together at the reader: is one padded forward pass for all of them quicker than reading each
alone? The default reader (ReaderSettings: weights, runtime) reads, for N questions of a set at once, the window
the answer path reads (its best sentence with a neighbour either side): one after another, from N threads at once
(as the server's answer threads call it), and as one padded batch. Prints the median over --repeats of the time
until all N are read.

    python eval/bench_reader_batch.py --questions 10 --repeats 5
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from common import cpu_name  # noqa: E402

from rag.answer.reader import windows  # noqa: E402
from rag.reader.features import pad_batch  # noqa: E402
from rag.reader.runtime import reader_for  # noqa: E402
from rag.settings import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "compare" /
                    "xquad-vi-dev-heldout-embeddinggemma-retrieval.pkl",
                    help="retrieval results cached by eval/compare_readers.py --retrieve-only")
    args = ap.parse_args(argv)
    settings = Settings()
    r = settings.reader
    reader = reader_for(r, settings.threads)
    results = [res for res in pickle.loads(args.cache.read_bytes()).values() if res.supports][: args.questions]
    pairs = []
    for res in results:
        w = windows(res, r.sentences, r.neighbours, r.overlap_vi if res.lang == "vi" else r.overlap_en)[0]
        pairs.append((res.question, w.text))
    reader.read(pairs[0][0], [pairs[0][1]])  # loads the model (and exports its graph the first time)

    def serial() -> None:
        for q, text in pairs:
            reader.read(q, [text])

    def threads() -> None:
        ts = [threading.Thread(target=reader.read, args=(q, [text])) for q, text in pairs]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def batch() -> None:
        encoded = reader.featurizer.windows_batch([q for q, _ in pairs], [t for _, t in pairs])
        ids, mask = pad_batch([w for ws in encoded for w in ws], reader.featurizer.pad)
        reader.logits(ids, mask)

    print(f"{len(pairs)} questions at once, {r.runtime}, {cpu_name()}, {settings.threads} threads; median of "
          f"{args.repeats}:")
    for name, fn in (("one after another", serial), ("from one thread each", threads), ("one padded batch", batch)):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        print(f"- {name}: {statistics.median(times) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
