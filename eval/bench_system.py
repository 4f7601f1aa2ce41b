"""System benchmark: index build, incremental update, retrieval latency at scale, FAISS index type, memory.

    python eval/bench_system.py [--quick] [--out eval/bench_system.md] [--json FILE]
    python eval/bench_system.py --stores 100000,1000000 [--store-dim 384] [--out FILE.md]   (eval/bench_store.py)

This project against the peer recipe of eval/peer.py (LangChain: RecursiveCharacterTextSplitter(1000, 200),
HuggingFaceEmbeddings in float32 with the model's prompts, FAISS, BM25Retriever, EnsembleRetriever 0.5/0.5 on the
same model folder), on the same machine in the same run, with 2 threads. Both embedders (rag.settings.EMBEDDERS:
embeddinggemma, the default, which ours runs as int8 ONNX; e5-small), each for ours and for the peer, where the
time allows; SYNTH_EMBEDDER (embeddinggemma) alone where it does not, as the section headings say. This driver
runs every part in order in one temporary folder and writes one report; each part also runs alone (its docstring
says what it measures, and which parts it runs first):

1. eval/bench_build.py: index build from an empty folder (a fresh subprocess per system and embedder);
2. eval/bench_update.py: incremental update of one document in a synthetic corpus;
3. eval/bench_latency.py: retrieval latency on the seeds (3a); eval/bench_synth.py: on a synthetic corpus of
   100,000 chunks (3b) and the FAISS index type study (3c);
4. eval/bench_memory.py: peak RSS of a fresh subprocess per system and embedder, indexing and answering.

The fresh subprocesses of sections 1 and 4 are this script: `--child index|answer --child-system ...`
(bench_memory.child()). Shared parts: eval/system_common.py, eval/common.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_build import render_build  # noqa: E402
from bench_latency import render_seeds  # noqa: E402
from bench_memory import child, render_memory  # noqa: E402
from bench_synth import render_synth  # noqa: E402
from bench_update import render_update  # noqa: E402
from system_common import EMBEDDERS, PARTS, SYNTH_EMBEDDER, arguments, render_run, run_report  # noqa: E402


def render(out: dict) -> str:
    L = render_build(out) + render_update(out) + render_seeds(out) + render_synth(out) + render_memory(out)
    return "\n".join(L + render_run(out)) + "\n"


def main(argv=None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--stores", default=None, metavar="SIZES",
                    help="only the store rows: FAISS folder and PostgreSQL at these sizes (eval/bench_store.py), "
                         "e.g. 100000,1000000")
    ap.add_argument("--store-dim", type=int, default=384, help="the store rows' vector dimension (default 384, "
                    "e5-small's: a million 768-dimensional vectors are 3 GB a copy, and the run holds several)")
    ap.add_argument("--child", choices=("index", "answer"), help=argparse.SUPPRESS)
    ap.add_argument("--child-system", choices=("ours", "peer"), help=argparse.SUPPRESS)
    ap.add_argument("--child-embedder", choices=EMBEDDERS, help=argparse.SUPPRESS)
    ap.add_argument("--child-corpus", help=argparse.SUPPRESS)
    ap.add_argument("--child-index", help=argparse.SUPPRESS)
    ap.add_argument("--child-questions", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    if args.stores:  # a row per store, both in one run (the full report's other sections are not re-run)
        import bench_store

        return bench_store.main(["--sizes", args.stores, "--dim", str(args.store_dim)] +
                                (["--out", str(args.out)] if args.out else []))
    return run_report(args, PARTS, render, "System benchmark: ours vs the LangChain peer recipe", "bench_system.py",
                      "Embedders: embeddinggemma (ours' default, int8 ONNX) and e5-small, each for ours and the peer; "
                      "sections 2, 3b and 3c on " + SYNTH_EMBEDDER + " only.")


if __name__ == "__main__":
    raise SystemExit(main())
