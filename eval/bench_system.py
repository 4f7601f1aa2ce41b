"""System benchmark: index build, incremental update, retrieval latency at scale, FAISS index type, memory.

    python eval/bench_system.py [--quick] [--out eval/bench_system.md] [--json FILE]

This project against the peer recipe of eval/peer.py (LangChain: RecursiveCharacterTextSplitter(1000, 200),
HuggingFaceEmbeddings in float32 with the model's prompts, FAISS, BM25Retriever, EnsembleRetriever 0.5/0.5 on the
same model folder), on the same machine in the same run, with 2 threads. Both embedders (rag.settings.EMBEDDERS:
embeddinggemma, the default, which ours runs as int8 ONNX; e5-small), each for ours and for the peer, where the
time allows; SYNTH_EMBEDDER (embeddinggemma) alone where it does not, as the section headings say. Measurements:

1. Index build from an empty folder on the xquad-vi-dev corpus (120 paragraphs; the first 40 with --quick), in a
   fresh subprocess per system and embedder: model load (libraries imported included), then the build:
   documents/s, texts embedded/s, characters/s; the same processes give the peak RSS while indexing (section 4).
2. Incremental update of one document in a deterministic synthetic Vietnamese corpus of 500 documents (100 with
   --quick; xquad and seed sentences recombined with a fixed seed), SYNTH_EMBEDDER only: ours =
   Assistant.build_index() again; peer = its recipe's rebuild (FAISS.from_documents + BM25 over all chunks, the
   same work as its full build, so measured once and reported for both); peer + LangChain's own incremental
   path (langchain_core.indexing.index with an InMemoryRecordManager, cleanup="incremental", over FAISS; BM25
   still has to be rebuilt over every chunk, since BM25Retriever has no update).
3. Retrieval latency p50/p95 (one question at a time, the systems taking turns, after warm-up) on the seeds
   (eval/qa.jsonl), both embedders for both systems; and, SYNTH_EMBEDDER only, on a synthetic corpus of 100,000
   chunks: chunk texts recombined from real sentences, vectors normalised mixes of 2-3 real embeddings (the
   update section's index's sentence vectors) plus small noise; ours as an IndexData queried with HybridRetriever,
   the peer as FAISS.from_embeddings + BM25Retriever over the same texts, queried through the EnsembleRetriever;
   the question is embedded for real by each system. Also the FAISS index type study: recall@10/@50 against exact
   search, search and build time, for the chunk and the sentence index.
4. Peak RSS (VmHWM) of a fresh subprocess per system and embedder: while indexing (section 1's processes: load
   the model, build the xquad index from an empty folder) and while answering (load the model and the index,
   answer 50 questions with retrieve, k=10) on the seeds, both embedders, and on the synthetic corpus
   (SYNTH_EMBEDDER).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
os.environ.setdefault("OMP_NUM_THREADS", "2")

# Importing it also sets the offline environment (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, TOKENIZERS_PARALLELISM).
from bench_retrieval import code_state  # noqa: E402  (the tree's commit and its uncommitted rag/ files)

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


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values, q):
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


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


def machine() -> dict:
    import faiss
    import torch

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    import onnxruntime

    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "memory": mem,
            "python": platform.python_version(), "torch": torch.__version__, "faiss": faiss.__version__,
            "onnxruntime": onnxruntime.__version__,
            "bf16": "avx512_bf16" in Path("/proc/cpuinfo").read_text()}


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


# ----------------------------------------------------------------------------------------------------------
# 1. Index build throughput


def embedded_chars(data) -> tuple[int, int]:
    """Characters of the chunk texts and of the distinct sentence texts our index embedded."""
    from rag.indexing.builder import chunk_embed_text

    chunk_chars = 0
    for c in data.chunks:
        doc = data.docs[c.doc_id]
        chunk_chars += len(chunk_embed_text(doc, c.to_chunk(doc.text)))
    seen, sent_chars = set(), 0
    for j, c in enumerate(data.chunks):
        doc = data.docs[c.doc_id]
        for a, b in c.sentences:
            s = doc.text[a:b]
            if s not in seen:
                seen.add(s)
                sent_chars += len(s)
    return chunk_chars, sent_chars


def run_child(args: list[str], timeout: float = 3600) -> dict:
    """This script in a fresh subprocess (see child()); its last stdout line is JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_build(tmp: Path, sizes: dict, out: dict):
    """Section 1 (and section 4's indexing memory): a fresh subprocess per system and embedder."""
    corpus = XQUAD / "corpus"
    files = sorted(corpus.glob("*.txt"))[:sizes["build_docs"]]
    if sizes["build_docs"]:  # --quick: the first paragraphs only
        corpus = tmp / "xquad-build-corpus"
        corpus.mkdir()
        for f in files:
            shutil.copyfile(f, corpus / f.name)
    corpus_chars = sum(len(p.read_text(encoding="utf-8")) for p in files)
    res = {}
    for system, e in SYSTEMS:
        r = res[f"{system}/{e}"] = run_child(["--child", "index", "--child-system", system, "--child-embedder", e,
                                              "--child-corpus", str(corpus),
                                              "--child-index", str(tmp / f"xquad-{system}-{e}")])
        log(f"build {system}/{e}: load {r['load_s']:.1f} s, build {r['build_s']:.1f} s, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB")
    out["build"] = {"documents": len(files), "all_documents": len(list((XQUAD / "corpus").glob("*.txt"))),
                    "corpus_chars": corpus_chars, "systems": res}


def load_models() -> tuple[dict, dict]:
    """Ours' embedder and the peer's recipe per embedder, loaded, for sections 2 and 3."""
    import torch
    from peer import PeerRecipe

    from rag.models.embedders import make_embedder
    from rag.settings import Settings

    ours, peers = {}, {}
    for e in EMBEDDERS:
        ours[e] = make_embedder(Settings(embedder=e).replace(threads=THREADS))
        ours[e].embed_queries(["khởi động"])
    for e in PEER_ORDER:
        peers[e] = PeerRecipe.for_embedder(e, ROOT / "models")
        peers[e].embeddings.embed_query("khởi động")
    torch.set_num_threads(THREADS)
    return ours, peers


# ----------------------------------------------------------------------------------------------------------
# 2. Incremental update in a synthetic corpus


def sentence_pool() -> list[str]:
    """Sentences of the xquad paragraphs and of the seed articles (cleaned as our corpus loader cleans them)."""
    from rag.ingest.corpus import load_corpus
    from rag.text import split_sentences

    pool, seen = [], set()
    for folder in (XQUAD / "corpus", SEEDS):
        for doc in load_corpus(folder).documents:
            for b in doc.blocks:
                if b.kind != "body":
                    continue
                for s in split_sentences(doc.text, b.start, b.end):
                    text = " ".join(doc.text[s.start:s.end].split())
                    if 30 <= len(text) <= 400 and text not in seen:
                        seen.add(text)
                        pool.append(text)
    return pool


def make_corpus(folder: Path, pool: list[str], n: int, seed: int) -> list[Path]:
    """n distinct documents of 500-1500 characters, sentences drawn from the pool with a fixed seed."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    seen, paths = set(), []
    while len(paths) < n:
        target = rng.randint(500, 1500)
        sents, total = [], 0
        while total < target:
            s = rng.choice(pool)
            if total + len(s) + 1 > 1500 and total >= 500:
                break
            if total + len(s) + 1 > 1500:
                continue
            sents.append(s)
            total += len(s) + 1
        text = " ".join(sents)
        if text in seen or not 500 <= len(text) <= 1500:
            continue
        seen.add(text)
        p = folder / f"doc_{len(paths):04d}.txt"
        p.write_text(text + "\n", encoding="utf-8")
        paths.append(p)
    return paths


class _LookupEmbeddings:
    """Embeddings that answer from the vectors the peer already computed (to fill the LangChain record manager
    without embedding the corpus a third time); anything unknown goes to the real model."""

    def __init__(self, real, cache: dict):
        self.real, self.cache = real, cache

    def embed_documents(self, texts):
        missing = [t for t in texts if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.real.embed_documents(missing)):
                self.cache[t] = v
        return [self.cache[t] for t in texts]

    def embed_query(self, text):
        return self.real.embed_query(text)


def bench_update(tmp: Path, ours_embedder, peer, sizes: dict, out: dict):
    import faiss
    import numpy as np
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings
    from langchain_core.indexing import InMemoryRecordManager, index

    from rag.assistant import Assistant
    from rag.settings import Settings

    pool = sentence_pool()
    corpus = tmp / "syn-corpus"
    paths = make_corpus(corpus, pool, sizes["docs"], SEED)
    lengths = [len(p.read_text(encoding="utf-8")) for p in paths]
    log(f"synthetic corpus: {len(paths)} docs from {len(pool)} sentences, {sum(lengths):,} chars")

    settings = Settings(embedder=SYNTH_EMBEDDER).replace(corpus_dir=corpus, index_dir=tmp / "syn-index", threads=THREADS)
    ours = Assistant(settings, embedder=ours_embedder)
    t = time.perf_counter()
    full = ours.build_index()
    ours_full = time.perf_counter() - t
    log(f"ours full build {ours_full:.1f} s")

    # Change one document: append a sentence.
    victim = paths[len(paths) // 2]
    old = victim.read_text(encoding="utf-8").rstrip("\n")
    extra = next(s for s in reversed(pool) if s not in old)
    victim.write_text(old + " " + extra + "\n", encoding="utf-8")
    t = time.perf_counter()
    upd = ours.build_index()
    ours_upd = time.perf_counter() - t

    # The peer's recipe has no update: after the change it rebuilds over every chunk, the same work as its full
    # build, so that one build is measured once (on the changed corpus) and stands for both.
    t = time.perf_counter()
    n_peer = peer.build(corpus)
    peer_upd = time.perf_counter() - t
    log(f"ours update {ours_upd:.2f} s; peer rebuild (= its full build) {peer_upd:.1f} s")

    # LangChain's incremental path: a record manager beside a FAISS store, filled on the corpus before the change
    # from the vectors just computed (the changed document's old chunks embedded for real), then updated.
    victim.write_text(old + "\n", encoding="utf-8")
    store = peer._dense.vectorstore
    vecs = store.index.reconstruct_n(0, store.index.ntotal)
    cache = {store.docstore.search(store.index_to_docstore_id[i]).page_content: vecs[i].tolist()
             for i in range(store.index.ntotal)}

    class Lookup(_LookupEmbeddings, Embeddings):
        pass

    lc_store = FAISS(embedding_function=Lookup(peer.embeddings, cache), index=faiss.IndexFlatL2(vecs.shape[1]),
                     docstore=InMemoryDocstore(), index_to_docstore_id={})
    rm = InMemoryRecordManager("bench-system")
    rm.create_schema()
    t = time.perf_counter()
    first = index(peer_load_docs(corpus), rm, lc_store, cleanup="incremental", source_id_key="source")
    lc_fill = time.perf_counter() - t
    lc_store.embedding_function = peer.embeddings  # from here on, the real model

    victim.write_text(old + " " + extra + "\n", encoding="utf-8")  # the same change again
    t = time.perf_counter()
    chunks = peer_load_docs(corpus)
    t_split = time.perf_counter() - t
    res = index(chunks, rm, lc_store, cleanup="incremental", source_id_key="source")
    t_index = time.perf_counter() - t
    BM25Retriever.from_documents(chunks)
    lc_upd = time.perf_counter() - t
    log(f"update: ours {ours_upd:.2f} s, peer rebuild {peer_upd:.1f} s, LangChain index() {lc_upd:.2f} s")
    out["update"] = {
        "embedder": SYNTH_EMBEDDER, "documents": len(paths), "pool_sentences": len(pool), "chars_mean": float(np.mean(lengths)),
        "changed_doc": victim.name,
        "ours": {"full_s": ours_full, "chunks": full.chunks, "full_texts": full.chunks_embedded + full.sentences_embedded,
                 "full_chunks_embedded": full.chunks_embedded, "full_sentences_embedded": full.sentences_embedded,
                 "update_s": ours_upd, "chunks_embedded": upd.chunks_embedded,
                 "sentences_embedded": upd.sentences_embedded, "changed": upd.changed},
        "peer": {"full_s": peer_upd, "chunks": n_peer, "full_texts": n_peer, "update_s": peer_upd,
                 "chunks_embedded": n_peer, "full_is_update": True},
        "langchain_index": {"fill_s_from_cache": lc_fill, "fill": first, "update_s": lc_upd,
                            "split_s": t_split, "index_s": t_index - t_split, "bm25_s": lc_upd - t_index,
                            "result": res, "chunks_embedded": res["num_added"] + res["num_updated"]},
    }
    return ours


# ----------------------------------------------------------------------------------------------------------
# 3. Retrieval latency; the synthetic 100k corpus; the FAISS index study


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


def normalise(x):
    import numpy as np

    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


NOISE = 0.012  # per dimension: a noise vector of norm ~0.24 before normalisation


def synth_corpus(base, n_chunks: int, seed: int, real_chunks=None):
    """A synthetic IndexData of n_chunks chunks (5 a document, 4-5 sentences a chunk, one sentence of overlap).

    base: (sentence texts, their real vectors, their pyvi tokens). A synthetic sentence splices the words of
    two real sentences (first part of one, last part of the other); its vector is the normalised mix of the two
    real vectors and a third (weights ~0.65/0.25/0.10) plus Gaussian noise; its tokens are the matching parts
    of the real sentences' tokens. A chunk vector is the normalised mean of its sentence vectors plus noise.
    """
    import numpy as np

    from rag.indexing.store import ChunkRecord, DocRecord

    texts, vecs, toks = base
    rng = np.random.default_rng(seed)
    nb, dim = vecs.shape
    per_doc = 5
    n_docs = (n_chunks + per_doc - 1) // per_doc
    # Sentence count per chunk: 4-5 rows; the first row of every chunk but a document's first is the overlap.
    rows_per_chunk = rng.integers(4, 6, size=n_chunks)
    first_of_doc = (np.arange(n_chunks) % per_doc) == 0
    new_per_chunk = rows_per_chunk - (~first_of_doc)
    n_sent = int(new_per_chunk.sum())
    p = rng.integers(0, nb, n_sent)
    s = (p + rng.integers(1, nb, n_sent)) % nb
    r = rng.integers(0, nb, n_sent)
    w = rng.dirichlet([6.5, 2.5, 1.0], n_sent).astype(np.float32)
    cut = rng.uniform(0.4, 0.75, n_sent)
    svec = np.empty((n_sent, dim), np.float32)
    for a in range(0, n_sent, 50_000):
        b = min(n_sent, a + 50_000)
        m = (w[a:b, :1] * vecs[p[a:b]] + w[a:b, 1:2] * vecs[s[a:b]] + w[a:b, 2:3] * vecs[r[a:b]]
             + rng.normal(0, NOISE, (b - a, dim)).astype(np.float32))
        svec[a:b] = normalise(m)
    words = [t.split() for t in texts]
    stext, stok = [], []
    for i in range(n_sent):
        wp, ws = words[p[i]], words[s[i]]
        kp, ks = max(1, int(len(wp) * cut[i])), int(len(ws) * cut[i])
        stext.append(" ".join(wp[:kp] + ws[ks:]))
        tp, ts = toks[p[i]], toks[s[i]]
        stok.append(tp[: max(1, int(len(tp) * cut[i]))] + ts[int(len(ts) * cut[i]):])

    docs, chunks, chunk_rows, sent_rows, chunk_texts, keys = {}, [], [], [], [], []
    chunk_tokens: list[list[str]] = []
    nxt = 0
    for d in range(n_docs):
        doc_id = f"syn_{d:06d}"
        lo, hi = d * per_doc, min(n_chunks, (d + 1) * per_doc)
        # The document's sentences: the chunks' new sentences in order.
        order = list(range(nxt, nxt + int(new_per_chunk[lo:hi].sum())))
        nxt += len(order)
        spans, pos, parts = [], 0, []
        for i in order:
            spans.append((pos, pos + len(stext[i])))
            parts.append(stext[i])
            pos += len(stext[i]) + 1
        text = " ".join(parts)
        h = hashlib.sha256(text.encode()).hexdigest()
        docs[doc_id] = DocRecord(doc_id, f"{doc_id}.txt", None, None, None, h, text, (("body", 0, len(text)),))
        k = 0
        for ci, c in enumerate(range(lo, hi)):
            if ci == 0:
                idx = list(range(k, k + int(rows_per_chunk[c])))
            else:
                idx = list(range(k - 1, k - 1 + int(rows_per_chunk[c])))
            idx = [i for i in idx if i < len(order)]
            k = idx[-1] + 1
            sent_ids = [order[i] for i in idx]
            sp = tuple(spans[i] for i in idx)
            start, end = sp[0][0], sp[-1][1]
            ctext = text[start:end]
            chunk_tokens.append([t for i in sent_ids for t in stok[i]])
            key = hashlib.sha256(ctext.encode()).hexdigest()[:32]
            chunks.append(ChunkRecord(f"{doc_id}-{ci}", doc_id, start, end, "body", sp, key))
            chunk_rows.append(sent_ids)
            chunk_texts.append(ctext)
            sent_rows.extend(sent_ids)
    sent_rows = np.asarray(sent_rows, dtype=np.int64)
    keys = [hashlib.sha256(stext[i].encode()).hexdigest()[:32] for i in sent_rows]
    # A chunk vector: the normalised mix of 2-3 real chunk vectors plus noise, like a sentence vector from
    # real sentence vectors (the mean of random sentences would be a vector of no topic at all).
    base_c = real_chunks if real_chunks is not None else vecs
    nc = len(chunks)
    cp, cs, cr = rng.integers(0, len(base_c), nc), rng.integers(0, len(base_c), nc), rng.integers(0, len(base_c), nc)
    cw = rng.dirichlet([6.5, 2.5, 1.0], nc).astype(np.float32)
    chunk_vectors = normalise(cw[:, :1] * base_c[cp] + cw[:, 1:2] * base_c[cs] + cw[:, 2:3] * base_c[cr]
                              + rng.normal(0, NOISE, (nc, dim)).astype(np.float32))
    real_target = structure_stats(real_chunks)["mean_pair_cos"] if real_chunks is not None else None
    chunk_vectors = match_spread(chunk_vectors, real_chunks, real_target)
    sent_target = structure_stats(vecs)["mean_pair_cos"]
    svec_m = match_spread(svec, vecs, sent_target)
    sentence_vectors = svec_m[sent_rows]
    return docs, chunks, chunk_tokens, chunk_texts, np.ascontiguousarray(chunk_vectors, np.float32), \
        np.ascontiguousarray(sentence_vectors, np.float32), keys


def match_spread(x, real, target):
    """x' = normalise(mean_real + s (x - mean_x)), with s chosen so the mean cosine of random pairs is the target."""
    import numpy as np

    if real is None or target is None:
        return x
    mu_r, mu_x = real.mean(0), x.mean(0)
    rng = np.random.default_rng(1)
    sample = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
    iu = np.triu_indices(len(sample), 1)

    def pair_cos(s):
        y = normalise(mu_r + s * (sample - mu_x))
        return float((y @ y.T)[iu].mean())

    lo, hi = 0.5, 8.0
    for _ in range(25):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pair_cos(mid) > target else (lo, mid)
    s = (lo + hi) / 2
    out = np.empty_like(x)
    for a in range(0, len(x), 50_000):
        out[a:a + 50_000] = normalise(mu_r + s * (x[a:a + 50_000] - mu_x))
    return out


def structure_stats(vectors, rng_seed=0, n=2000) -> dict:
    """Mean cosine of random pairs and mean top-1 neighbour cosine of a sample: is the synthetic data shaped like real?"""
    import numpy as np

    rng = np.random.default_rng(rng_seed)
    idx = rng.choice(len(vectors), min(n, len(vectors)), replace=False)
    x = vectors[idx]
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    iu = np.triu_indices(len(x), 1)
    return {"mean_pair_cos": float(sims[iu].mean()), "mean_nn_cos": float(sims.max(1).mean())}


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


# ----------------------------------------------------------------------------------------------------------
# 4. Memory: one fresh subprocess per system and corpus


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


# ----------------------------------------------------------------------------------------------------------
# Report


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def num(v) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def render(out: dict) -> str:
    L = []
    b = out["build"]
    bs = b["systems"]
    part = f", the first {b['documents']} of {b['all_documents']}" if b["documents"] < b["all_documents"] else ""
    L += [f"## 1. Index build from an empty folder ({b['documents']} xquad-vi-dev paragraphs{part}, "
          f"{b['corpus_chars']:,} characters)", "",
          "A fresh subprocess per system and embedder. Model load includes importing the system's libraries "
          "(torch already imported); build = from an empty folder with the model loaded. The last column compares "
          "ours with the peer on the same embedder.", "",
          "| system | embedder | model load s | build s | texts embedded | documents/s | texts embedded/s | "
          "corpus characters/s | embedded characters/s | build ours/peer |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for system, e in SYSTEMS:
        r = bs[f"{system}/{e}"]
        cmp = ratio(r["build_s"], bs[f"peer/{e}"]["build_s"]) if system == "ours" else ""
        L.append(f"| {system} | {e} | {r['load_s']:.2f} | {r['build_s']:.2f} | {r['texts']:,} | "
                 f"{num(b['documents'] / r['build_s'])} | {num(r['texts'] / r['build_s'])} | "
                 f"{num(b['corpus_chars'] / r['build_s'])} | {num(r['embedded_chars'] / r['build_s'])} | {cmp} |")
    L += [""] + [f"- {system} ({e}) embeds {bs[f'{system}/{e}']['chunks']} chunks"
                 + (f" + {bs[f'{system}/{e}']['sentences']} sentences" if system == "ours" else "")
                 + f" ({bs[f'{system}/{e}']['embedded_chars']:,} characters)." for system, e in SYSTEMS]
    L += ["", "For documents/s and characters/s higher is better; for times lower is better. Ours runs "
              "embeddinggemma as int8 ONNX (onnxruntime) and e5-small in PyTorch; the peer runs both in float32 "
              "sentence-transformers.", ""]

    u = out["update"]
    o, p, lc = u["ours"], u["peer"], u["langchain_index"]
    e = u["embedder"]
    L += [f"## 2. Incremental update ({e}): one document of {u['documents']:,} changed (a sentence appended)", "",
          f"Synthetic corpus: {u['documents']:,} distinct documents of 500-1500 characters (mean {u['chars_mean']:.0f}), "
          f"recombined with a fixed seed from {u['pool_sentences']} sentences of the xquad paragraphs and the seed "
          f"articles; changed: `{u['changed_doc']}`. Both systems on {e} (this section runs one embedder).", "",
          "| system | embedder | full build s | texts embedded in the full build | update s | "
          "chunks embedded by the update | ours' update / this one |", "|---|---|---|---|---|---|---|",
          f"| ours (`build_index()` again) | {e} | {o['full_s']:.1f} | {o['full_texts']:,} ({o['full_chunks_embedded']:,} "
          f"chunks + {o['full_sentences_embedded']:,} distinct sentences) | {o['update_s']:.2f} | "
          f"{o['chunks_embedded']} (+{o['sentences_embedded']} sentences) | |",
          f"| peer (recipe: rebuild) | {e} | {p['full_s']:.1f} (= its update) | {p['full_texts']:,} | {p['update_s']:.1f} | "
          f"{p['chunks_embedded']:,} | {ratio(o['update_s'], p['update_s'])} |",
          f"| peer + LangChain `index()` incremental | {e} | (filled from the peer's vectors) | | {lc['update_s']:.2f} | "
          f"{lc['chunks_embedded']} | {ratio(o['update_s'], lc['update_s'])} |", ""]
    L += [f"Full build ours/peer {ratio(o['full_s'], p['full_s'])}. The peer's recipe has no update: after the change "
          "it rebuilds over every chunk, the same work as its full build, so that build is measured once (after the "
          "change) and stands for both. LangChain `index()` (InMemoryRecordManager, "
          f"cleanup=\"incremental\", source_id_key=\"source\", FAISS "
          f"IndexFlatL2): {json.dumps(lc['result'])}; split {lc['split_s']:.2f} s + index() {lc['index_s']:.2f} s + "
          f"BM25Retriever rebuilt over all chunks {lc['bm25_s']:.2f} s (BM25Retriever has no update). Ours' update "
          "loads the previous index version, re-chunks only the changed document, embeds its new chunk and "
          "sentence texts, rebuilds BM25 and FAISS from stored vectors, and writes a new version with fsync.", ""]

    s = out["synth"]
    for key, title in (("latency_seeds", "3a. Retrieval latency on the seeds (both embedders)"),
                       ("latency_synth", f"3b. Retrieval latency on the synthetic corpus ({s['embedder']})")):
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
    mc = out["machine"]
    L += ["", "Load s: indexing, the model load; answering, the model and the index.", "", "## Machine and run", "",
          f"{mc['cpu']}, {mc['cores']} cores ({mc['usable_cores']} usable), {mc['memory']}, native bf16: "
          f"{mc['bf16']}; Python {mc['python']}, torch {mc['torch']}, faiss {mc['faiss']}, onnxruntime "
          f"{mc['onnxruntime']}. Date {out['date']}. "
          f"1/5/15-min load average at the start {'/'.join(f'{x:.2f}' for x in out['load_start'])}, at the end "
          f"{'/'.join(f'{x:.2f}' for x in out['load_end'])}. Code: {out['code']}. Mode: "
          f"{'--quick' if out['quick'] else 'full'}; sizes {json.dumps(out['sizes'])}. Whole run "
          f"{out['total_s'] / 60:.1f} min ({', '.join(f'{k} {v:.0f} s' for k, v in out['phase_s'].items())})."]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run of a few minutes")
    ap.add_argument("--out", type=Path, help="also write the markdown report here")
    ap.add_argument("--json", type=Path, help="write the raw figures as JSON here")
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

    import torch

    torch.set_num_threads(THREADS)
    sizes = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_start": os.getloadavg(), "quick": args.quick,
           "sizes": sizes, "code": code_state(), "phase_s": {}}
    with tempfile.TemporaryDirectory(prefix="bench-system-") as d:
        tmp = Path(d)
        t = time.perf_counter()
        bench_build(tmp, sizes, out)
        out["phase_s"]["build"] = time.perf_counter() - t
        t = time.perf_counter()
        ours, peers = load_models()
        out["phase_s"]["model load"] = time.perf_counter() - t
        t = time.perf_counter()
        syn = bench_update(tmp, ours[SYNTH_EMBEDDER], peers[SYNTH_EMBEDDER], sizes, out)
        out["phase_s"]["update"] = time.perf_counter() - t
        t = time.perf_counter()
        bench_seeds(tmp, ours, peers, sizes, out)
        out["phase_s"]["seeds latency"] = time.perf_counter() - t
        t = time.perf_counter()
        bench_synth(tmp, ours[SYNTH_EMBEDDER], peers[SYNTH_EMBEDDER], syn, sizes, out)
        out["phase_s"]["synthetic corpus"] = time.perf_counter() - t
        del ours, peers, syn
        t = time.perf_counter()
        bench_memory(tmp, sizes, out)
        out["phase_s"]["memory"] = time.perf_counter() - t
    out["load_end"] = os.getloadavg()
    out["machine"] = machine()
    out["total_s"] = time.perf_counter() - t0
    text = render(out)
    head = (f"# System benchmark: ours vs the LangChain peer recipe\n\n`python eval/bench_system.py"
            f"{' --quick' if args.quick else ''}`; peer as in eval/peer.py (RecursiveCharacterTextSplitter(1000, 200), "
            "HuggingFaceEmbeddings in float32 with the model's prompts, FAISS, BM25Retriever, EnsembleRetriever "
            "0.5/0.5, same model folder). Embedders: embeddinggemma (ours' default, int8 ONNX) and e5-small, each for "
            "ours and the peer; sections 2, 3b and 3c on " + SYNTH_EMBEDDER + " only. Ratios are ours/peer on the "
            "same embedder: below 1 means ours takes less time or memory.\n\n")
    print(head + text)
    if args.out:
        args.out.write_text(head + text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
