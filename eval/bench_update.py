"""System benchmark, section 2: the incremental update of one document, ours against the peer recipe.

    python eval/bench_update.py [--quick] [--out FILE.md] [--json FILE]

A deterministic synthetic Vietnamese corpus of 500 documents (100 with --quick; xquad and seed sentences
recombined with a fixed seed), SYNTH_EMBEDDER only: ours = Assistant.build_index() again; peer = its recipe's
rebuild (FAISS.from_documents + BM25 over all chunks, the same work as its full build, so measured once and
reported for both); peer + LangChain's own incremental path (langchain_core.indexing.index with an
InMemoryRecordManager, cleanup="incremental", over FAISS; BM25 still has to be rebuilt over every chunk, since
BM25Retriever has no update). Part of eval/bench_system.py's full run; its index is eval/bench_synth.py's base.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its siblings: system_common, common, peer

from system_common import (SEED, SEEDS, SYNTH_EMBEDDER, THREADS, XQUAD, log, part_main,  # noqa: E402
                           peer_load_docs, ratio)


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


def render_update(out: dict) -> list[str]:
    """Section 2 of the report, as markdown lines."""
    L = []
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
    return L


def main(argv=None) -> int:
    return part_main(argv, __doc__, ("update",), render_update, "Incremental update: ours vs the LangChain peer "
                     "recipe", "bench_update.py", f"Embedder: {SYNTH_EMBEDDER} (ours' default, int8 ONNX), for ours and "
                     "the peer.")


if __name__ == "__main__":
    raise SystemExit(main())
