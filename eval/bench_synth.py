"""System benchmark, sections 3b and 3c: retrieval latency on 100,000 synthetic chunks, and FAISS index types.

    python eval/bench_synth.py [--quick] [--out FILE.md] [--json FILE]

SYNTH_EMBEDDER only. The corpus (10,000 chunks with --quick; eval/synth_corpus.py): chunk texts recombined from
real sentences, vectors normalised mixes of 2-3 real embeddings (the sentence vectors of section 2's index, so
eval/bench_update.py's part runs first) plus small noise; ours as an IndexData queried with HybridRetriever, the
peer as FAISS.from_embeddings + BM25Retriever over the same texts, queried through the EnsembleRetriever; the
question is embedded for real by each system, p50/p95 as in section 3a. The FAISS index type study:
recall@10/@50 against exact search, search and build time, for the chunk and the sentence index. Part of
eval/bench_system.py's full run; its saved indexes are the synthetic corpus eval/bench_memory.py answers from.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its siblings: system_common, common, peer

from bench_latency import latency_summary, render_latency, timed_questions  # noqa: E402
from common import pct  # noqa: E402
from synth_corpus import structure_stats, synth_corpus  # noqa: E402
from system_common import (K, SEED, SYNTH_EMBEDDER, THREADS, XQUAD, interleaved, log, part_main,  # noqa: E402
                           peer_set, read_jsonl)


def describe(index) -> str:
    name = type(index).__name__
    if hasattr(index, "nprobe"):
        return f"{name} nlist={index.nlist} nprobe={index.nprobe}"
    if hasattr(index, "hnsw"):
        return f"{name} efSearch={index.hnsw.efSearch}"
    return name


# The HNSW setting compared with the index rag/indexing/store.py builds (it was the first choice, see 3c).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80


def faiss_study(name: str, vectors, queries, n_single: int, keep: dict | None = None) -> list[dict]:
    """Exact IndexFlatIP against HNSW (several efSearch) and IVFFlat (several nprobe): recall, search, build."""
    import faiss
    import numpy as np


    n, dim = vectors.shape
    rows = []
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    flat_build = time.perf_counter() - t
    _, truth = flat.search(queries, 50)

    def measure(label, index, build_s, param=None):
        _, found = index.search(queries, 50)
        r10 = np.mean([len(set(found[i, :10]) & set(truth[i, :10])) / 10 for i in range(len(queries))])
        r50 = np.mean([len(set(found[i]) & set(truth[i])) / 50 for i in range(len(queries))])
        ms = []
        for q in queries[:n_single]:
            t0 = time.perf_counter()
            index.search(q[None, :], 50)
            ms.append((time.perf_counter() - t0) * 1000)
        rows.append({"index": name, "n": n, "config": label, "param": param, "build_s": build_s,
                     "search_p50_ms": pct(ms, 50), "search_p95_ms": pct(ms, 95),
                     "recall@10": float(r10), "recall@50": float(r50)})

    measure("IndexFlatIP (exact)", flat, flat_build)
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.add(vectors)
    hnsw_build = time.perf_counter() - t
    log(f"{name}: HNSW M={HNSW_M} efC={HNSW_EF_CONSTRUCTION} built in {hnsw_build:.1f} s")
    for ef in (64, 128, 256, 512):
        hnsw.hnsw.efSearch = ef
        measure(f"HNSW M={HNSW_M} efC={HNSW_EF_CONSTRUCTION} efSearch={ef}", hnsw, hnsw_build, ef)
    if keep is not None:
        keep["hnsw"] = (hnsw, hnsw_build)
    del hnsw
    nlist = int(4 * np.sqrt(n))
    t = time.perf_counter()
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.max_points_per_centroid = 64  # train on at most 64 points a list (faiss's default is 256)
    ivf.cp.niter = 10
    ivf.train(vectors)
    ivf.add(vectors)
    ivf_build = time.perf_counter() - t
    log(f"{name}: IVFFlat nlist={nlist} built in {ivf_build:.1f} s")
    for nprobe in (8, 16, 32, 64, 128):
        ivf.nprobe = nprobe
        measure(f"IVFFlat nlist={nlist} nprobe={nprobe}", ivf, ivf_build, nprobe)
    return rows


def bench_synth(tmp: Path, ours_embedder, peer, syn_assistant, sizes: dict, out: dict):
    import numpy as np
    import torch
    from langchain_community.vectorstores import FAISS

    from rag.indexing import store
    from rag.indexing.store import expected_manifest
    from rag.indexing.lexical import LexicalIndex, tokenize
    from rag.indexing.store import FORMAT_VERSION, IndexData, IndexStore, faiss_kind
    from rag.retrieval.hybrid import HybridRetriever
    from rag.settings import Settings

    # Base material: the distinct sentences of the update section's index, with their real vectors.
    real = syn_assistant.index_data()
    texts, vecs, seen = [], [], set()
    for c, (a, b) in zip([c for c in real.chunks for _ in c.sentences],
                         [s for c in real.chunks for s in c.sentences]):
        t = real.docs[c.doc_id].text[a:b]
        if t not in seen:
            seen.add(t)
            texts.append(t)
    key_row = {k: j for j, k in enumerate(real.sentence_keys)}
    vecs = np.stack([real.sentence_vectors[key_row[hashlib.sha256(t.encode()).hexdigest()[:32]]] for t in texts])
    t = time.perf_counter()
    toks = [tokenize(x) for x in texts]
    log(f"base: {len(texts)} real sentences, tokenised in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    docs, chunks, chunk_tokens, chunk_texts, cvec, svec, skeys = synth_corpus((texts, vecs, toks), sizes["synth_chunks"], SEED,
                                                                   real_chunks=real.chunk_vectors)
    gen_s = time.perf_counter() - t
    log(f"synthetic: {len(chunks):,} chunks, {len(svec):,} sentence rows, {len(docs):,} docs in {gen_s:.1f} s")
    info = {"embedder": SYNTH_EMBEDDER, "dimension": int(cvec.shape[1]), "chunks": len(chunks), "sentence_rows": len(svec), "documents": len(docs), "base_sentences": len(texts),
            "chunk_chars_mean": float(np.mean([len(x) for x in chunk_texts])), "generate_s": gen_s,
            "structure": {"real chunk vectors": structure_stats(real.chunk_vectors),
                          "synthetic chunk vectors": structure_stats(cvec),
                          "real sentence vectors": structure_stats(vecs),
                          "synthetic sentence vectors": structure_stats(svec)}}

    # Real question vectors for the FAISS study (with our query prompt per question language, as retrieval does).
    settings = Settings(embedder=SYNTH_EMBEDDER).replace(threads=THREADS)
    xq = read_jsonl(XQUAD / "qa.jsonl")
    qs = interleaved(xq, sizes["recall_queries"])
    qv = np.concatenate([ours_embedder.embed_queries([q["question"] for q in qs if q["lang"] == "vi"],
                                                     prompt=settings.retrieval.query_prompt_vi),
                         ours_embedder.embed_queries([q["question"] for q in qs if q["lang"] == "en"],
                                                     prompt=settings.retrieval.query_prompt_en)])
    qv = np.ascontiguousarray(qv, np.float32)
    built = {"chunks": {}, "sentences": {}}
    study = faiss_study("chunks", cvec, qv, sizes["search_queries"], built["chunks"])
    study += faiss_study("sentences", svec, qv, sizes["search_queries"], built["sentences"])
    out["faiss_study"] = study
    out["faiss_store"] = {"EXACT_SEARCH_LIMIT": store.EXACT_SEARCH_LIMIT,
                          "above the limit (built on 50,001 vectors)": describe(store.build_faiss_index(
                              np.resize(cvec, (store.EXACT_SEARCH_LIMIT + 1, cvec.shape[1])), cvec.shape[1]))}

    # Ours: an IndexData as rag/indexing/builder.py builds one; FAISS indexes built by rag.indexing.store.build_faiss_index.
    expected = expected_manifest(ours_embedder, settings.chunking, settings.lexical)
    manifest = {"format": FORMAT_VERSION, **expected,
                "faiss": {"chunks.faiss": faiss_kind(len(chunks)), "sentences.faiss": faiss_kind(len(svec))},
                "documents": {}, "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": len(svec)},
                "synthetic": True}
    t = time.perf_counter()
    lexical = LexicalIndex.build(chunk_tokens, settings.lexical)
    bm25_s = time.perf_counter() - t
    data = IndexData(manifest, docs, chunks, cvec, svec, skeys, lexical, tokens=chunk_tokens)
    build_s = {}
    for name, vectors in (("chunks", cvec), ("sentences", svec)):
        t = time.perf_counter()
        data._index(name, vectors)  # rag.indexing.store.build_faiss_index, as the indexer builds it
        build_s[name] = time.perf_counter() - t
    dense_s, sent_s = build_s["chunks"], build_s["sentences"]
    del built
    info["ours_build"] = {"bm25_s": bm25_s, "chunk_faiss_s": dense_s, "sentence_faiss_s": sent_s,
                          "chunk_faiss": describe(data.dense), "sentence_faiss": describe(data.sentence_index)}
    log(f"ours 100k: BM25 {bm25_s:.1f} s, chunk FAISS {dense_s:.1f} s, sentence FAISS {sent_s:.1f} s")
    retriever = HybridRetriever(data, ours_embedder, settings.retrieval)

    # The peer: FAISS.from_embeddings over the same chunk texts and vectors, BM25Retriever over the same texts.
    t = time.perf_counter()
    pstore = FAISS.from_embeddings(list(zip(chunk_texts, cvec.tolist())), peer.embeddings,
                                   metadatas=[{"doc_id": c.doc_id} for c in chunks])
    pfaiss_s = time.perf_counter() - t
    pchunks = [pstore.docstore.search(pstore.index_to_docstore_id[i]) for i in range(pstore.index.ntotal)]
    t = time.perf_counter()
    peer_set(peer, pstore, pchunks)
    pbm25_s = time.perf_counter() - t
    info["peer_build"] = {"faiss_s": pfaiss_s, "bm25_s": pbm25_s, "faiss": type(pstore.index).__name__}
    log(f"peer 100k: FAISS {pfaiss_s:.1f} s, BM25 {pbm25_s:.1f} s")

    torch.set_num_threads(THREADS)
    questions = interleaved(xq, sizes["synth_questions"])
    ms, langs = timed_questions({f"ours/{SYNTH_EMBEDDER}": (lambda r: lambda q: r.retrieve(q, k=K))(retriever),
                                 f"peer/{SYNTH_EMBEDDER}": lambda q: peer.retrieve(q, K, "ensemble")}, questions)
    out["latency_synth"] = {"systems": latency_summary(ms, langs)}
    out["synth"] = info
    log("synth latency p50: " + ", ".join(f"{k} {v['all']['p50']:.1f} ms"
                                          for k, v in out["latency_synth"]["systems"].items()))

    # Save both for the memory subprocesses.
    t = time.perf_counter()
    IndexStore(tmp / "synth-index").save(data)
    pstore.save_local(str(tmp / "peer-synth"))
    info["save_s"] = time.perf_counter() - t
    del data, retriever, pstore, pchunks
    peer.chunks = []
    peer._dense = peer._bm25 = peer._ensemble = None


def render_synth(out: dict) -> list[str]:
    """Sections 3b and 3c of the report, as markdown lines."""
    s = out["synth"]
    L = render_latency(out, "latency_synth", f"3b. Retrieval latency on the synthetic corpus ({s['embedder']})")
    L += [f"Synthetic corpus ({s['embedder']}, {s['dimension']} dimensions): {s['chunks']:,} chunks "
          f"({s['documents']:,} documents of 5 chunks, mean "
          f"{s['chunk_chars_mean']:.0f} characters a chunk), {s['sentence_rows']:,} sentence rows, from "
          f"{s['base_sentences']} real sentences and their real {s['embedder']} vectors (ours' int8 ONNX; generated "
          f"in {s['generate_s']:.0f} s). The peer's FAISS store holds the same vectors; each system embeds the "
          "question with its own model. Questions: xquad-vi-dev, vi and en alternating. Structure of the vectors "
          "(2,000-vector sample):", "",
          "| vectors | embedder | mean cosine of random pairs | mean nearest-neighbour cosine |", "|---|---|---|---|"]
    for k, v in s["structure"].items():
        L.append(f"| {k} | {s['embedder']} | {v['mean_pair_cos']:.3f} | {v['mean_nn_cos']:.3f} |")
    ob, pb = s["ours_build"], s["peer_build"]
    L += ["", f"Index construction from the precomputed vectors: ours BM25 {ob['bm25_s']:.1f} s, chunk FAISS "
          f"({ob['chunk_faiss']}) {ob['chunk_faiss_s']:.1f} s, sentence FAISS ({ob['sentence_faiss']}) "
          f"{ob['sentence_faiss_s']:.1f} s; peer FAISS.from_embeddings ({pb['faiss']}) {pb['faiss_s']:.1f} s, "
          f"BM25Retriever {pb['bm25_s']:.1f} s.", ""]

    fs = out["faiss_store"]
    L += [f"## 3c. FAISS index type on the synthetic vectors ({s['embedder']}, {s['dimension']} dimensions)", "",
          f"Recall of the top 10 / top 50 against exact search (IndexFlatIP), over real {s['embedder']} question "
          "vectors; search time of one question (k=50, as the retriever asks), 2 threads. rag/indexing/store.py now: "
          + ", ".join(f"{k}={v}" for k, v in fs.items()) + ".", "",
          "| index | embedder | n | configuration | build s | search p50 ms | search p95 ms | recall@10 | recall@50 |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in out["faiss_study"]:
        L.append(f"| {r['index']} | {s['embedder']} | {r['n']:,} | {r['config']} | {r['build_s']:.1f} | "
                 f"{r['search_p50_ms']:.2f} | {r['search_p95_ms']:.2f} | {r['recall@10']:.3f} | {r['recall@50']:.3f} |")
    L.append("")
    return L


def main(argv=None) -> int:
    return part_main(argv, __doc__, ("synth",), render_synth, "Retrieval at scale and the FAISS index type: ours vs "
                     "the LangChain peer recipe", "bench_synth.py", f"Embedder: {SYNTH_EMBEDDER} (ours' default, int8 "
                     "ONNX), for ours and the peer (section 2's update runs first: its index is the synthetic corpus' "
                     "base).")


if __name__ == "__main__":
    raise SystemExit(main())
