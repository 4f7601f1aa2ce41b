"""Incremental index builds: only added or changed documents are chunked and embedded."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.errors import IndexMismatchError
from rag.files import sha256_text
from rag.indexing.lexical import LexicalIndex, tokenize
from rag.indexing.store import (
    FORMAT_VERSION,
    ChunkRecord,
    DocRecord,
    IndexData,
    IndexStore,
    check_compatible,
    expected_manifest,
    faiss_kind,
)
from rag.ingest.chunking import Chunk, chunk_document
from rag.ingest.corpus import Corpus, Document, changes
from rag.models.embedder import Embedder
from rag.settings import ChunkSettings, LexicalSettings


@dataclass(frozen=True)
class IndexReport:
    documents: int
    added: int
    changed: int
    removed: int
    unchanged: int
    chunks: int
    chunks_embedded: int
    sentences_embedded: int
    seconds: float
    version: str
    skipped: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"documents": self.documents, "added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged, "chunks": self.chunks, "chunks_embedded": self.chunks_embedded,
                "seconds": round(self.seconds, 3), "sentences_embedded": self.sentences_embedded,
                "version": self.version, "skipped": list(self.skipped)}


def _key(text: str) -> str:
    return sha256_text(text)[:32]


def chunk_embed_text(doc: Document | DocRecord, chunk: Chunk) -> str:
    """What the embedder sees for a chunk: the article title as context, then the chunk."""
    if doc.title and not chunk.text.startswith(doc.title):
        return f"{doc.title}\n{chunk.text}"
    return chunk.text


class Indexer:
    """Brings an IndexStore up to date with a corpus, embedding only what is new."""

    def __init__(self, store: IndexStore, embedder: Embedder, chunking: ChunkSettings,
                 lexical: LexicalSettings = LexicalSettings(), progress: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.chunking = chunking
        self.lexical = lexical
        self.progress = progress

    def _say(self, msg: str) -> None:
        if self.progress:
            self.progress(msg)

    def update(self, corpus: Corpus, rebuild: bool = False, show_bar: bool = False) -> IndexReport:
        with self.store.build_lock(on_wait=self._say):
            return self._update(corpus, rebuild, show_bar)

    def _update(self, corpus: Corpus, rebuild: bool, show_bar: bool) -> IndexReport:
        t0 = time.perf_counter()
        expected = expected_manifest(self.embedder, self.chunking, self.lexical)
        skipped = tuple(str(s) for s in corpus.skipped)
        manifest = None
        old: IndexData | None = None
        old_tokens: list[list[str]] = []
        if self.store.exists():
            try:
                manifest = self.store.read_manifest()
                check_compatible(manifest, expected, self.store.root)
                # Every file against its recorded sha256: a damaged index is reported here, not only when a
                # question loads it.
                old = self.store.verify(search=False)  # its vectors and records, not its search indexes
            except IndexMismatchError:
                if not rebuild:
                    raise
                manifest, old = None, None  # another model, chunking or format, or damaged: start afresh
        current = {d.doc_id: d.content_hash for d in corpus.documents}
        # Nothing changed: the manifest's content hashes say so.
        if manifest is not None and not rebuild and \
                not changes({i: d["content_hash"] for i, d in manifest["documents"].items()}, current).pending:
            n = len(corpus.documents)
            return IndexReport(n, 0, 0, 0, n, manifest["counts"]["chunks"], 0, 0, time.perf_counter() - t0,
                               old.version, skipped)
        if old is not None:
            try:
                old_tokens = old.tokens if old.tokens is not None else self.store.read_tokens(old.version)
            except IndexMismatchError:
                if not rebuild:
                    raise
                old = None  # damaged tokens: --rebuild starts afresh
        old_docs = old.docs if old else {}
        diff = changes({i: d.content_hash for i, d in old_docs.items()}, current)
        added_ids, changed_ids = set(diff.added), set(diff.changed)
        added = [d for d in corpus.documents if d.doc_id in added_ids]
        changed = [d for d in corpus.documents if d.doc_id in changed_ids]

        # Vectors we already have, by the hash of the text that was embedded.
        chunk_cache: dict[str, np.ndarray] = {}
        sent_cache: dict[str, np.ndarray] = {}
        old_rows: dict[str, list] = {}
        if old is not None:
            for i, c in enumerate(old.chunks):
                chunk_cache[c.embed_key] = old.chunk_vectors[i]
                old_rows.setdefault(c.doc_id, []).append(i)
            for j, k in enumerate(old.sentence_keys):
                sent_cache[k] = old.sentence_vectors[j]

        records: list[ChunkRecord] = []
        tokens: list[list[str]] = []
        to_embed: dict[str, str] = {}
        sent_to_embed: dict[str, str] = {}
        sentence_keys: list[str] = []
        docs: dict[str, DocRecord] = {}
        fresh = {d.doc_id for d in added + changed}
        for doc in corpus.documents:
            if doc.doc_id not in fresh and old is not None:
                docs[doc.doc_id] = old_docs[doc.doc_id]
                for i in old_rows.get(doc.doc_id, []):
                    c = old.chunks[i]
                    records.append(c)
                    tokens.append(old_tokens[i])
                    a, b = old.sentence_offsets[i], old.sentence_offsets[i + 1]
                    sentence_keys.extend(old.sentence_keys[a:b])
                continue
            docs[doc.doc_id] = DocRecord.from_document(doc)
            for chunk in chunk_document(doc, self.chunking):
                text = chunk_embed_text(doc, chunk)
                key = _key(text)
                if key not in chunk_cache:
                    to_embed[key] = text
                records.append(ChunkRecord(chunk.chunk_id, chunk.doc_id, chunk.start, chunk.end, chunk.kind,
                                           tuple((s.start, s.end) for s in chunk.sentences), key))
                tokens.append(tokenize(text))
                for s in chunk.sentences:
                    stext = doc.text[s.start : s.end]
                    skey = _key(stext)
                    if skey not in sent_cache:
                        sent_to_embed[skey] = stext
                    sentence_keys.append(skey)

        self._say(f"embedding {len(to_embed)} chunk(s) and {len(sent_to_embed)} sentence(s)")
        texts = list(to_embed.values()) + list(sent_to_embed.values())
        keys = list(to_embed.keys()) + list(sent_to_embed.keys())
        if texts:
            # Longest first keeps padding low; the order is undone by the keys.
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            vecs = self.embedder.embed_passages([texts[i] for i in order], progress=show_bar)
            for row, i in enumerate(order):
                (chunk_cache if i < len(to_embed) else sent_cache)[keys[i]] = vecs[row]
        dim = self.embedder.dimension
        chunk_vectors = (np.stack([chunk_cache[r.embed_key] for r in records]).astype(np.float32)
                         if records else np.zeros((0, dim), np.float32))
        sentence_vectors = (np.stack([sent_cache[k] for k in sentence_keys]).astype(np.float32)
                            if sentence_keys else np.zeros((0, dim), np.float32))
        lexical = LexicalIndex.build(tokens, self.lexical) if records else LexicalIndex(None, 0)
        per_doc = Counter(r.doc_id for r in records)
        manifest = {
            "format": FORMAT_VERSION,
            **expected,
            "metric": "inner product of L2-normalised vectors (cosine)",
            "faiss": {"chunks.faiss": faiss_kind(len(records)), "sentences.faiss": faiss_kind(len(sentence_keys))},
            "embedding_precision": getattr(self.embedder, "precision", "fp32"),
            "documents": {d.doc_id: {"content_hash": d.content_hash, "path": d.path, "title": d.title,
                                     "date": d.date, "source": d.source, "chunks": per_doc[d.doc_id]}
                          for d in docs.values()},
            "counts": {"documents": len(docs), "chunks": len(records), "sentences": len(sentence_keys)},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data = IndexData(manifest, docs, records, chunk_vectors, sentence_vectors, sentence_keys, lexical,
                         tokens=tokens)
        folder = self.store.save(data)
        return IndexReport(len(corpus.documents), len(added), len(changed), len(diff.removed), len(diff.unchanged), len(records),
                           len(to_embed), len(sent_to_embed), time.perf_counter() - t0, folder.name, skipped)
