"""System benchmark, section 4: peak RSS (VmHWM) of a fresh process per system and embedder, ours against the peer.

    python eval/bench_memory.py [--quick] [--out FILE.md] [--json FILE]

While indexing: section 1's processes (load the model, build the xquad index from an empty folder). While
answering (load the model and the index, answer 50 questions with retrieve, k=10; 20 with --quick): on the
seeds, both embedders, and on the synthetic corpus (SYNTH_EMBEDDER). Those indexes are made by the other
sections, so run alone it runs all of eval/bench_system.py's parts first and reports this section only.
child() is the fresh process of sections 1 and 4: `python eval/bench_system.py --child index|answer ...`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its siblings: system_common, common, peer

from bench_build import embedded_chars  # noqa: E402
from system_common import (K, PARTS, ROOT, SEED_QA, SYNTH_EMBEDDER, SYSTEMS, THREADS, XQUAD,  # noqa: E402
                           interleaved, log, part_main, peer_set, ratio, read_jsonl, rss_mb, run_child)


def child(args) -> int:
    """A fresh process for one system and embedder; prints its figures and peak RSS as JSON.

    index: load the model, build the index of --child-corpus from an empty folder. answer: load the model and
    the saved index of --child-index, answer the questions of --child-questions."""
    import torch

    torch.set_num_threads(THREADS)
    system, e = args.child_system, args.child_embedder
    r = {"system": system, "embedder": e, "rss_start_mb": rss_mb()}
    t0 = time.perf_counter()
    if system == "ours":
        from rag.assistant import Assistant
        from rag.indexing.lexical import tokenize
        from rag.settings import Settings

        folder = Path(args.child_corpus or args.child_index)
        a = Assistant(Settings(embedder=e).replace(index_dir=Path(args.child_index), corpus_dir=folder, threads=THREADS))
        a.embedder.embed_queries(["khởi động"])
        tokenize("khởi động")
    else:
        from peer import PeerRecipe

        p = PeerRecipe.for_embedder(e, ROOT / "models")
        p.embeddings.embed_query("khởi động")
    r["rss_model_mb"] = rss_mb()
    r["model_load_s"] = time.perf_counter() - t0
    torch.set_num_threads(THREADS)

    if args.child == "index":
        t = time.perf_counter()
        if system == "ours":
            rep = a.build_index()
            r["build_s"] = time.perf_counter() - t
            r["peak_rss_mb"] = rss_mb("VmHWM")
            r["rss_index_mb"] = rss_mb()
            cc, sc = embedded_chars(a.index_data())
            r.update(texts=rep.chunks_embedded + rep.sentences_embedded, chunks=rep.chunks_embedded,
                     sentences=rep.sentences_embedded, embedded_chars=cc + sc)
        else:
            n = p.build(Path(args.child_corpus))
            r["build_s"] = time.perf_counter() - t
            r["peak_rss_mb"] = rss_mb("VmHWM")
            r["rss_index_mb"] = rss_mb()
            r.update(texts=n, chunks=n, sentences=0, embedded_chars=sum(len(c.page_content) for c in p.chunks))
        r["load_s"] = r["model_load_s"]
        print(json.dumps(r))
        return 0

    questions = [q["question"] for q in read_jsonl(Path(args.child_questions))]
    if system == "ours":
        a.warm_up()
        ask = lambda q: a.retrieve(q, k=K)  # noqa: E731
    else:
        from langchain_community.vectorstores import FAISS

        store = FAISS.load_local(args.child_index, p.embeddings, allow_dangerous_deserialization=True)
        chunks = [store.docstore.search(store.index_to_docstore_id[i]) for i in range(store.index.ntotal)]
        peer_set(p, store, chunks)
        ask = lambda q: p.retrieve(q, K, "ensemble")  # noqa: E731
    r["rss_index_mb"] = rss_mb()
    r["load_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    for q in questions:
        ask(q)
    r["answer_s"] = time.perf_counter() - t
    r["questions"] = len(questions)
    r["rss_end_mb"] = rss_mb()
    r["peak_rss_mb"] = rss_mb("VmHWM")
    print(json.dumps(r))
    return 0


def bench_memory(tmp: Path, sizes: dict, out: dict):
    """Answering: a fresh subprocess per system and embedder (the indexing figures come from section 1)."""
    res = {f"{key}/indexing xquad": r for key, r in out["build"]["systems"].items()}
    for corpus, qfile, systems in (("seeds", SEED_QA, SYSTEMS),
                                   ("synth", XQUAD / "qa.jsonl", (("ours", SYNTH_EMBEDDER), ("peer", SYNTH_EMBEDDER)))):
        qpath = tmp / f"mem-questions-{corpus}.jsonl"
        qpath.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n"
                                 for q in interleaved(read_jsonl(qfile), sizes["mem_questions"])), encoding="utf-8")
        for system, e in systems:
            if corpus == "seeds":
                idx = tmp / (f"seeds-index-{e}" if system == "ours" else f"peer-seeds-{e}")
            else:
                idx = tmp / ("synth-index" if system == "ours" else "peer-synth")
            key = f"{system}/{e}/answering {corpus}"
            res[key] = run_child(["--child", "answer", "--child-system", system, "--child-embedder", e,
                                  "--child-index", str(idx), "--child-questions", str(qpath)], timeout=1200)
            log(f"memory {key}: peak {res[key]['peak_rss_mb']:.0f} MB")
    out["memory"] = res


def render_memory(out: dict) -> list[str]:
    """Section 4 of the report, as markdown lines."""
    L = []
    m = out["memory"]
    L += ["## 4. Memory: peak RSS of a fresh process", "",
          "Each system and embedder in its own subprocess, VmHWM from /proc/self/status. Indexing: section 1's "
          "processes (load the model, build the xquad-vi-dev index from an empty folder). Answering: load the "
          "model, load the index (ours: the saved index folder; the peer: FAISS.load_local + BM25Retriever built "
          "over its chunks, as the recipe keeps BM25 in memory), then retrieve (k=10) for the questions; the "
          f"synthetic corpus on {SYNTH_EMBEDDER} only. The last column compares ours with the peer on the same "
          "embedder and process.", "",
          "| system | embedder | process | questions | peak MB | RSS after model MB | RSS after index MB | load s | "
          "peak ours/peer |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in m.items():
        system, e, phase = key.split("/")
        peer = m.get(f"peer/{e}/{phase}")
        cmp = ratio(r["peak_rss_mb"], peer["peak_rss_mb"]) if system == "ours" and peer else ""
        L.append(f"| {system} | {e} | {phase} | {r.get('questions', '')} | {r['peak_rss_mb']:.0f} | "
                 f"{r['rss_model_mb']:.0f} | {r['rss_index_mb']:.0f} | {r['load_s']:.1f} | {cmp} |")
    L += ["", "Load s: indexing, the model load; answering, the model and the index."]
    return L


def main(argv=None) -> int:
    return part_main(argv, __doc__, PARTS, render_memory, "Memory: ours vs the LangChain peer recipe",
                     "bench_memory.py", "Embedders: embeddinggemma (ours' default, int8 ONNX) and e5-small, each for "
                     f"ours and the peer; the synthetic corpus on {SYNTH_EMBEDDER} only.")


if __name__ == "__main__":
    raise SystemExit(main())
