"""What the system benchmark's parts share: data paths, sizes, the systems, the peer's parts, model loading, the
child processes, the order the parts run in, and a standalone run's report (see bench_system.py).

Importing it sets the offline environment (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, TOKENIZERS_PARALLELISM) and
OMP_NUM_THREADS=2, unless already set; heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
os.environ.setdefault("OMP_NUM_THREADS", "2")

from common import code_state, machine, offline  # noqa: E402

offline()

XQUAD = ROOT.parent / "shared" / "data" / "xquad-vi-dev"
SEEDS = ROOT / "seeds"
SEED_QA = HERE / "qa.jsonl"
EMBEDDERS = ("embeddinggemma", "e5-small")  # rag.settings.EMBEDDERS; the first is the default
PEER_ORDER = ("e5-small", "embeddinggemma")
# Every (system, embedder), in the order they are run and reported.
SYSTEMS = tuple([("ours", e) for e in EMBEDDERS] + [("peer", e) for e in PEER_ORDER])
# The one embedder of the incremental update, the synthetic 100,000-chunk corpus and the FAISS study.
SYNTH_EMBEDDER = "embeddinggemma"
THREADS = 2
K = 10
WARMUP = 5
SEED = 20250710

FULL = {"build_docs": None, "docs": 500, "synth_chunks": 100_000, "seed_questions": 149, "synth_questions": 60,
        "recall_queries": 400, "search_queries": 200, "mem_questions": 50}
QUICK = {"build_docs": 40, "docs": 100, "synth_chunks": 10_000, "seed_questions": 30, "synth_questions": 20,
         "recall_queries": 100, "search_queries": 50, "mem_questions": 20}

PARTS = ("build", "update", "seeds", "synth", "memory")  # the full run's order


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def interleaved(rows: list[dict], n: int) -> list[dict]:
    """Up to n questions, vi and en alternating (file order within each language)."""
    by = {"vi": [r for r in rows if r["lang"] == "vi"], "en": [r for r in rows if r["lang"] == "en"]}
    out = []
    for i in range(max(len(v) for v in by.values())):
        for lang in ("vi", "en"):
            if i < len(by[lang]) and len(out) < n:
                out.append(by[lang][i])
    return out


# ----------------------------------------------------------------------------------------------------------
# The peer, as in eval/peer.py, with access to its parts


def peer_set(peer, store, chunks):
    """Point a PeerRecipe at a FAISS store and chunk list (BM25 built here, as the recipe does)."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever

    peer.chunks = chunks
    peer._dense = store.as_retriever(search_kwargs={"k": 4})
    peer._bm25 = BM25Retriever.from_documents(chunks)
    peer._ensemble = EnsembleRetriever(retrievers=[peer._bm25, peer._dense], weights=[0.5, 0.5])


def peer_load_docs(folder: Path):
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"doc_id": p.stem, "source": str(p)})
            for p in sorted(Path(folder).glob("*.txt"))]
    return RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)


def load_models(embedders=EMBEDDERS) -> tuple[dict, dict]:
    """Ours' embedder and the peer's recipe per embedder (default: both), loaded, for sections 2 and 3."""
    import torch
    from peer import PeerRecipe

    from rag.models.embedders import make_embedder
    from rag.settings import Settings

    ours, peers = {}, {}
    for e in [e for e in EMBEDDERS if e in embedders]:
        ours[e] = make_embedder(Settings(embedder=e).replace(threads=THREADS))
        ours[e].embed_queries(["khởi động"])
    for e in [e for e in PEER_ORDER if e in embedders]:
        peers[e] = PeerRecipe.for_embedder(e, ROOT / "models")
        peers[e].embeddings.embed_query("khởi động")
    torch.set_num_threads(THREADS)
    return ours, peers


def run_child(args: list[str], timeout: float = 3600) -> dict:
    """bench_system.py in a fresh subprocess (see bench_memory.child()); its last stdout line is JSON."""
    cmd = [sys.executable, str(HERE / "bench_system.py"), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------------
# The parts in order; a run and its report


def phase(out: dict, name: str, fn, *args):
    """fn(*args), its wall time recorded in out["phase_s"][name]."""
    t = time.perf_counter()
    result = fn(*args)
    out["phase_s"][name] = time.perf_counter() - t
    return result


def run_parts(tmp: Path, sizes: dict, out: dict, parts=PARTS) -> None:
    """The parts named, in the full run's order; each needs the ones before it that make its inputs: update needs
    nothing but its models, the synthetic corpus the update's index, memory the indexes of build, seeds and synth."""
    from bench_build import bench_build
    from bench_latency import bench_seeds
    from bench_memory import bench_memory
    from bench_synth import bench_synth
    from bench_update import bench_update

    if "build" in parts:
        phase(out, "build", bench_build, tmp, sizes, out)
    syn = None
    if {"update", "seeds", "synth"} & set(parts):
        ours, peers = phase(out, "model load", load_models,
                            EMBEDDERS if "seeds" in parts else (SYNTH_EMBEDDER,))
        if "update" in parts or "synth" in parts:
            syn = phase(out, "update", bench_update, tmp, ours[SYNTH_EMBEDDER], peers[SYNTH_EMBEDDER], sizes, out)
        if "seeds" in parts:
            phase(out, "seeds latency", bench_seeds, tmp, ours, peers, sizes, out)
        if "synth" in parts:
            phase(out, "synthetic corpus", bench_synth, tmp, ours[SYNTH_EMBEDDER], peers[SYNTH_EMBEDDER], syn, sizes,
                  out)
        del ours, peers
    del syn  # the update's assistant and its index, like the models above: freed before the memory processes
    if "memory" in parts:
        phase(out, "memory", bench_memory, tmp, sizes, out)


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def num(v) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def render_run(out: dict) -> list[str]:
    """The report's last section: machine, date, load, code, mode, sizes, phase times."""
    mc = out["machine"]
    return ["", "## Machine and run", "",
            f"{mc['cpu']}, {mc['cores']} cores ({mc['usable_cores']} usable), {mc['memory']}, native bf16: "
            f"{mc['bf16']}; Python {mc['python']}, torch {mc['torch']}, faiss {mc['faiss']}, onnxruntime "
            f"{mc['onnxruntime']}. Date {out['date']}. "
            f"1/5/15-min load average at the start {'/'.join(f'{x:.2f}' for x in out['load_start'])}, at the end "
            f"{'/'.join(f'{x:.2f}' for x in out['load_end'])}. Code: {out['code']}. Mode: "
            f"{'--quick' if out['quick'] else 'full'}; sizes {json.dumps(out['sizes'])}. Whole run "
            f"{out['total_s'] / 60:.1f} min ({', '.join(f'{k} {v:.0f} s' for k, v in out['phase_s'].items())})."]


def head(title: str, script: str, quick: bool, embedders: str) -> str:
    return (f"# {title}\n\n`python eval/{script}{' --quick' if quick else ''}`; peer as in eval/peer.py "
            "(RecursiveCharacterTextSplitter(1000, 200), HuggingFaceEmbeddings in float32 with the model's prompts, "
            "FAISS, BM25Retriever, EnsembleRetriever 0.5/0.5, same model folder). " + embedders + " Ratios are "
            "ours/peer on the same embedder: below 1 means ours takes less time or memory.\n\n")


def arguments(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run of a few minutes")
    ap.add_argument("--out", type=Path, help="also write the markdown report here")
    ap.add_argument("--json", type=Path, help="write the raw figures as JSON here")
    return ap


def run_report(args, parts, render, title: str, script: str, embedders: str) -> int:
    """Run the parts in a temporary folder, then print the report (head + render(out)) and write --out / --json."""
    import torch

    torch.set_num_threads(THREADS)
    sizes = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_start": os.getloadavg(), "quick": args.quick,
           "sizes": sizes, "code": code_state(), "phase_s": {}}
    with tempfile.TemporaryDirectory(prefix="bench-system-") as d:
        run_parts(Path(d), sizes, out, parts)
    out["load_end"] = os.getloadavg()
    out["machine"] = machine(details=True)
    out["total_s"] = time.perf_counter() - t0
    text = head(title, script, args.quick, embedders) + render(out)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return 0


def part_main(argv, doc: str, parts, lines, title: str, script: str, embedders: str) -> int:
    """A part run alone: the parts it needs, its own sections (lines(out): markdown lines) and the run section."""
    args = arguments(doc).parse_args(argv)
    return run_report(args, parts, lambda out: "\n".join(lines(out)).rstrip("\n") + "\n" +
                      "\n".join(render_run(out)) + "\n", title, script, embedders)
