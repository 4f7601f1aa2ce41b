"""System benchmark, section 3a: retrieval latency on the seeds, ours against the peer recipe.

    python eval/bench_latency.py [--quick] [--out FILE.md] [--json FILE]

p50/p95 of one retrieve call (question embedding included, k=10), one question at a time, the systems taking
turns on each question, after warm-up, on the seed articles and eval/qa.jsonl (149 questions; 30 with --quick),
both embedders for both systems. Its indexes are the ones eval/bench_memory.py answers from. Part of
eval/bench_system.py's full run (eval/bench_synth.py uses its timing helpers for section 3b).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its siblings: system_common, common, peer

from common import pct  # noqa: E402
from system_common import (K, SEED_QA, SEEDS, SYSTEMS, THREADS, WARMUP, interleaved, log,  # noqa: E402
                           part_main, ratio, read_jsonl)


def timed_questions(pairs, questions, warm=WARMUP):
    """pairs: {name: fn(question)}; the systems take turns on each question. Returns {name: [ms]}."""
    for q in questions[:warm]:
        for fn in pairs.values():
            fn(q["question"])
    ms = {name: [] for name in pairs}
    langs = []
    for q in questions:
        langs.append(q["lang"])
        for name, fn in pairs.items():
            t = time.perf_counter()
            fn(q["question"])
            ms[name].append((time.perf_counter() - t) * 1000)
    return ms, langs


def latency_summary(ms: dict, langs: list[str]) -> dict:
    out = {}
    for name, xs in ms.items():
        out[name] = {"all": {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95)}}
        for lang in ("vi", "en"):
            sub = [x for x, l in zip(xs, langs) if l == lang]
            if sub:
                out[name][lang] = {"n": len(sub), "p50": pct(sub, 50), "p95": pct(sub, 95)}
    return out


def bench_seeds(tmp: Path, ours_embedders: dict, peers: dict, sizes: dict, out: dict):
    """Every system and embedder on the seeds, taking turns on each question; saves the indexes for section 4."""
    import torch

    from rag.assistant import Assistant
    from rag.settings import Settings

    calls, chunks = {}, {}
    for system, e in SYSTEMS:
        if system == "ours":
            settings = Settings(embedder=e).replace(corpus_dir=SEEDS, index_dir=tmp / f"seeds-index-{e}",
                                                    threads=THREADS)
            a = Assistant(settings, embedder=ours_embedders[e])
            a.build_index()
            a.warm_up()
            calls[f"ours/{e}"] = (lambda a: lambda q: a.retrieve(q, k=K))(a)
            chunks[f"ours/{e}"] = len(a.index_data().chunks)
        else:
            p = peers[e]
            p.build(SEEDS)
            p._dense.vectorstore.save_local(str(tmp / f"peer-seeds-{e}"))
            calls[f"peer/{e}"] = (lambda p: lambda q: p.retrieve(q, K, "ensemble"))(p)
            chunks[f"peer/{e}"] = len(p.chunks)
    torch.set_num_threads(THREADS)
    questions = interleaved(read_jsonl(SEED_QA), sizes["seed_questions"])
    ms, langs = timed_questions(calls, questions)
    out["latency_seeds"] = {"systems": latency_summary(ms, langs), "chunks": chunks}
    log("seeds latency p50: " + ", ".join(f"{k} {v['all']['p50']:.1f} ms"
                                          for k, v in out["latency_seeds"]["systems"].items()))


def render_latency(out: dict, key: str, title: str) -> list[str]:
    """Section 3a (key "latency_seeds") or 3b ("latency_synth") of the report, as markdown lines."""
    L = []
    lat = out[key]["systems"]
    L += [f"## {title}", "", "One question at a time, the systems taking turns on each question, k=10, question "
          f"embedding included, 2 threads, {WARMUP} warm-up questions; the peer is its EnsembleRetriever "
          "(BM25 + FAISS). The ratios compare ours with the peer on the same embedder.", "",
          "| system | embedder | questions | n | p50 ms | p95 ms | p50 ours/peer | p95 ours/peer |",
          "|---|---|---|---|---|---|---|---|"]
    for name, parts in lat.items():
        system, e = name.split("/")
        for part in ("all", "vi", "en"):
            if part not in parts:
                continue
            a = parts[part]
            peer = lat.get(f"peer/{e}", {}).get(part)
            cmp = (f"{ratio(a['p50'], peer['p50'])} | {ratio(a['p95'], peer['p95'])}"
                   if system == "ours" and peer else " | ")
            L.append(f"| {system} | {e} | {part} | {a['n']} | {a['p50']:.1f} | {a['p95']:.1f} | {cmp} |")
    L.append("")
    if key == "latency_seeds":
        L += ["Seeds: chunks " + ", ".join(f"{k.replace('/', ' (')}) {v}" for k, v in out[key]["chunks"].items())
              + "; questions of eval/qa.jsonl.", ""]
    return L


def render_seeds(out: dict) -> list[str]:
    return render_latency(out, "latency_seeds", "3a. Retrieval latency on the seeds (both embedders)")


def main(argv=None) -> int:
    return part_main(argv, __doc__, ("seeds",), render_seeds, "Retrieval latency on the seeds: ours vs the "
                     "LangChain peer recipe", "bench_latency.py", "Embedders: embeddinggemma (ours' default, int8 "
                     "ONNX) and e5-small, each for ours and the peer.")


if __name__ == "__main__":
    raise SystemExit(main())
