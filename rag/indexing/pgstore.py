"""The index in PostgreSQL with pgvector (RAG_STORE=postgres): the same versions, manifest and behaviour as the
FAISS folder (rag/indexing/store.py), in a database several `rag serve` processes share.

Tables (created on first use; `store` names one index, so one database can hold several):
  rag_versions  (store, version, manifest jsonb)            one row per saved version
  rag_current   (store, version)                            the active version
  rag_docs      (store, version, doc_id, record jsonb)      documents, their text included
  rag_chunks    (store, version, idx, record jsonb, tokens jsonb, embedding vector)
  rag_sentences (store, version, idx, key, embedding vector)
  rag_faiss_parts (store, version, name, part, data bytea)  the FAISS indexes as built, in 256 MB parts (an IVF
                                                            index is trained once, by the build, not by every
                                                            process that loads)
  rag_files     (store, version, name, part, data bytea)    the BM25 index's files as bm25s saves them
                                                            ("bm25/vocab.index.json", ...), in parts as well

A build writes its new version and switches rag_current in one transaction: a reader sees the old version or
the new one, never half of one, and a writer killed mid-build leaves nothing (PostgreSQL rolls it back). One
writer at a time: a session advisory lock per store (a second `rag index` waits); readers take no lock.

A loaded index is the same IndexData as the folder's, searched with FAISS in the process: the stored FAISS and
BM25 indexes are read as built, and the vectors are taken out of the FAISS indexes (their flat codes are the
float32 vectors themselves), so a load reads neither the embedding columns nor the tokens. A version saved
before rag_files existed has its BM25 index built again from the tokens. The database is the shared, durable
copy; the README's PostgreSQL section says what changes past one machine's memory (search in the database with HNSW).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from rag.errors import IndexMismatchError, IndexMissingError, RagError, StoreUnreachableError
from rag.indexing.lexical import LexicalIndex
from rag.settings import redacted
from rag.indexing.store import ChunkRecord, DocRecord, IndexData, _read_manifest_dict, build_faiss_index, \
    check_compatible, MATCHED

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS rag_versions (store text NOT NULL, version text NOT NULL, manifest jsonb NOT NULL,
    created timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store, version));
CREATE TABLE IF NOT EXISTS rag_current (store text PRIMARY KEY, version text NOT NULL);
CREATE TABLE IF NOT EXISTS rag_docs (store text NOT NULL, version text NOT NULL, doc_id text NOT NULL,
    record jsonb NOT NULL, PRIMARY KEY (store, version, doc_id));
CREATE TABLE IF NOT EXISTS rag_chunks (store text NOT NULL, version text NOT NULL, idx integer NOT NULL,
    record jsonb NOT NULL, tokens jsonb NOT NULL, embedding vector NOT NULL, PRIMARY KEY (store, version, idx));
CREATE TABLE IF NOT EXISTS rag_sentences (store text NOT NULL, version text NOT NULL, idx integer NOT NULL,
    key text NOT NULL, embedding vector NOT NULL, PRIMARY KEY (store, version, idx));
CREATE TABLE IF NOT EXISTS rag_faiss_parts (store text NOT NULL, version text NOT NULL, name text NOT NULL,
    part integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (store, version, name, part));
CREATE TABLE IF NOT EXISTS rag_files (store text NOT NULL, version text NOT NULL, name text NOT NULL,
    part integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (store, version, name, part));
"""
_TABLES = ("rag_docs", "rag_chunks", "rag_sentences", "rag_faiss_parts", "rag_files", "rag_versions")
# A bytea value holds at most 1 GB: a FAISS index is stored in parts of this size (a million 384-dimensional
# sentence vectors make a 1.55 GB IVF index).
FAISS_PART_BYTES = 256 * 1024 * 1024


def _describe(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or (re.search(r"host=([^&]+)", parts.query or "") or [None, "local socket"])[1]
    return f"{host}{':' + str(parts.port) if parts.port else ''}"


@dataclass(frozen=True)
class VersionRef:
    """What IndexStore.current_version gives (a folder): here only the version's name."""

    name: str


class PostgresStore:
    """Reads and writes index versions in one PostgreSQL database (`url`, as RAG_PG_URL gives it)."""

    def __init__(self, url: str, store: str = "default", connect_timeout: int = 5) -> None:
        if not url:
            raise RagError("RAG_STORE=postgres needs RAG_PG_URL (postgresql://user:password@host:5432/db); "
                           "`rag pg start` starts a local server and prints one")
        self.url = url
        self.name = store
        self.root = f"postgres {redacted(url)} (store {store!r})"  # in messages, as the folder's path is
        self.connect_timeout = connect_timeout
        self._schema_ready = False
        self._reader = None  # one kept connection for current_version, asked before every question
        self._reader_lock = threading.Lock()

    # ---- connections -------------------------------------------------------------------------------------

    def connect(self):
        import psycopg

        try:
            conn = psycopg.connect(self.url, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "password" in first or "authentication" in first or "role" in first:
                what = "refused the login"
                todo = "check the user and password in RAG_PG_URL"
            else:
                what = "cannot be reached"
                todo = "check that it is running (`rag pg start` starts a local one) and RAG_PG_URL's host and port"
            raise StoreUnreachableError(f"the PostgreSQL server at {_describe(self.url)} {what} ({first}): "
                                        f"{todo}; the index there is unchanged") from exc
        if not self._schema_ready:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('rag schema'))")
                conn.execute(SCHEMA)
            self._schema_ready = True
        from pgvector.psycopg import register_vector

        register_vector(conn)
        return conn

    @contextmanager
    def _conn(self):
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    # ---- the IndexStore interface ------------------------------------------------------------------------

    @contextmanager
    def build_lock(self, on_wait=None):
        """One build at a time per store, across processes and machines: a session advisory lock."""
        with self._conn() as conn:
            key = f"rag build {self.name}"
            got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
            if not got:
                if on_wait:
                    on_wait(f"another build of {self.root} is running: waiting for it to finish")
                conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def current_version(self) -> VersionRef | None:
        """The active version's name, on a connection kept between calls (a `rag serve` asks before every
        question whether another process switched versions); a dropped connection is made again once."""
        import psycopg

        with self._reader_lock:
            for attempt in (1, 2):
                if self._reader is None or self._reader.closed:
                    self._reader = self.connect()
                    self._reader.autocommit = True
                try:
                    row = self._reader.execute("SELECT version FROM rag_current WHERE store = %s",
                                               (self.name,)).fetchone()
                    return VersionRef(row[0]) if row else None
                except psycopg.OperationalError:  # the server restarted or the network dropped the connection
                    self._reader.close()
                    self._reader = None
                    if attempt == 2:
                        raise StoreUnreachableError(f"the PostgreSQL server at {_describe(self.url)} dropped the "
                                                    "connection twice: check that it is running; the index there "
                                                    "is unchanged") from None

    def close(self) -> None:
        """Close the kept connection (the next current_version makes a new one)."""
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()

    def exists(self) -> bool:
        return self.current_version() is not None

    def read_manifest(self) -> dict:
        with self._conn() as conn:
            return self._active(conn)[1]

    def _active(self, conn) -> tuple[str, dict]:
        """The active version's name and manifest."""
        row = conn.execute("SELECT v.version, v.manifest FROM rag_current c JOIN rag_versions v "
                           "ON v.store = c.store AND v.version = c.version WHERE c.store = %s",
                           (self.name,)).fetchone()
        if row is None:
            raise IndexMissingError(f"no index in {self.root} yet: run `rag index` to build it")
        return row[0], _read_manifest_dict(row[1])

    def load(self, expected: dict | None = None, search: bool = True) -> IndexData:
        """The active version, read in one repeatable-read transaction (a build switching versions meanwhile is
        not seen); refused when `expected` (expected_manifest) differs from its manifest. search=False (a build
        reading the version it replaces): no FAISS or BM25 index, the BM25 tokens kept in `tokens` instead."""
        with self._conn() as conn:
            conn.isolation_level = 3  # REPEATABLE READ: one snapshot for every table
            with conn.transaction():
                version, manifest = self._active(conn)
                check_compatible(manifest, expected or {}, self.root, keys=MATCHED if expected else ())
                return self._read(conn, version, manifest, search)

    def _read(self, conn, version: str, manifest: dict, search: bool = True) -> IndexData:
        """One version into memory: records, keys and tokens as one JSON array per 50,000 rows, vectors into
        preallocated arrays. search=True: the vectors come out of the stored FAISS indexes and BM25 is the
        stored one, when the version has them; neither the embedding columns nor the tokens are read."""
        args = (self.name, version)
        dim = int(manifest["embedding"]["dimension"])
        docs = {d: DocRecord.from_json(r) for d, r in conn.execute(
            "SELECT doc_id, record FROM rag_docs WHERE store = %s AND version = %s ORDER BY doc_id", args)}
        n_chunks, n_sentences = self._count(conn, "rag_chunks", version), self._count(conn, "rag_sentences", version)
        faiss_indexes = self._faiss_indexes(conn, version) if search else {}
        lexical = self._lexical(conn, version, n_chunks) if search else None
        with_vectors = len(faiss_indexes) < 2  # else taken out of the FAISS indexes below
        with_tokens = not search or lexical is None  # a build keeps them; a version without BM25 files builds it
        chunks = [ChunkRecord.from_json(r) for r in self._json_column(conn, "rag_chunks", "record", version, n_chunks)]
        tokens = list(self._json_column(conn, "rag_chunks", "tokens", version, n_chunks)) if with_tokens else []
        keys = list(self._json_column(conn, "rag_sentences", "key", version, n_sentences))
        if with_vectors:
            cv = self._vector_column(conn, "rag_chunks", version, n_chunks, dim)
            sv = self._vector_column(conn, "rag_sentences", version, n_sentences, dim)
        else:
            cv, sv = (_vectors_of(faiss_indexes[name], dim) for name in ("chunks", "sentences"))
        if not search:
            data = IndexData(manifest, docs, chunks, cv, sv, keys, None, version, tokens=tokens)
            self._check_counts(data, version)
            return data
        if lexical is None:
            from rag.settings import LexicalSettings

            lex = manifest.get("lexical", {})
            lexical = (LexicalIndex.build(tokens, LexicalSettings(k1=lex.get("k1", 1.2), b=lex.get("b", 0.75)))
                       if chunks else LexicalIndex(None, 0))
        del tokens  # a loaded index does not keep them (builds read them again: read_tokens)
        data = IndexData(manifest, docs, chunks, cv, sv, keys, lexical, version)
        self._check_counts(data, version)
        for name, vecs in (("chunks", cv), ("sentences", sv)):
            # The index as the build made it (an IVF index is not trained again); else built here.
            data._faiss[name] = faiss_indexes[name] if name in faiss_indexes else build_faiss_index(vecs, dim)
        if data.dense.ntotal != len(chunks) or data.sentence_index.ntotal != len(sv) or \
                data.lexical.documents() not in (0, len(chunks)):
            raise IndexMismatchError(f"the FAISS or BM25 indexes of version {version} in {self.root} do not match "
                                     "its chunks: run `rag index --rebuild`")
        return data

    def _json_column(self, conn, table: str, column: str, version: str, count: int, batch: int = 50_000):
        """A column's values in idx order, parsed, `batch` rows a query: one JSON array a batch, parsed at once
        (a value a row costs several times as much, most of it in Python)."""
        for start in range(0, count, batch):
            (text,) = conn.execute(f"SELECT coalesce(json_agg({column} ORDER BY idx), '[]')::text FROM {table} "
                                   "WHERE store = %s AND version = %s AND idx >= %s AND idx < %s",
                                   (self.name, version, start, start + batch)).fetchone()
            yield from json.loads(text)

    def _vector_column(self, conn, table: str, version: str, count: int, dim: int) -> np.ndarray:
        out = np.zeros((count, dim), np.float32)
        for i, (vector,) in enumerate(self._stream(
                conn, f"SELECT embedding FROM {table} WHERE store = %s AND version = %s ORDER BY idx",
                (self.name, version))):
            out[i] = _array(vector)
        return out

    def _count(self, conn, table: str, version: str) -> int:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE store = %s AND version = %s",
                            (self.name, version)).fetchone()[0]

    def _faiss_indexes(self, conn, version: str) -> dict:
        """The version's stored FAISS indexes by name ("chunks", "sentences"); none for a version without."""
        import faiss

        out = {}
        for name in ("chunks", "sentences"):
            _, parts = self._parts(conn, "rag_faiss_parts", version, name)
            if parts:  # read as it arrives (a buffer of the whole index, then faiss's own copy: 1.7x slower)
                reader = _PartReader(conn, "rag_faiss_parts", (self.name, version, name), parts)
                try:
                    out[name] = faiss.read_index(faiss.PyCallbackIOReader(reader, 64 << 20))
                except RuntimeError as exc:
                    raise IndexMismatchError(f"the stored FAISS index {name} of version {version} in {self.root} "
                                             f"cannot be read ({str(exc).strip().splitlines()[-1]}): run "
                                             "`rag index --rebuild`") from exc
        return out

    def _lexical(self, conn, version: str, size: int) -> LexicalIndex | None:
        """The version's stored BM25 index, or None when it was saved without one (built again from tokens)."""
        names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM rag_files WHERE store = %s AND version = %s "
                                            "AND name LIKE 'bm25/%%'", (self.name, version))]
        if not names:
            return None
        if names == ["bm25/empty"]:
            return LexicalIndex(None, 0)
        with tempfile.TemporaryDirectory(prefix="rag-bm25-") as tmp:
            for name in names:
                (Path(tmp) / name.split("/", 1)[1]).write_bytes(self._file_bytes(conn, "rag_files", version, name))
            return LexicalIndex.load(Path(tmp), size)

    def _check_counts(self, data: IndexData, version: str) -> None:
        chunks = len(data.chunks)
        if len(data.sentence_vectors) != int(data.sentence_offsets[-1]) or \
                data.manifest.get("counts", {}).get("chunks", chunks) != chunks:
            raise IndexMismatchError(f"the index version {version} in {self.root} is inconsistent (vectors and "
                                     "chunks differ): run `rag index --rebuild`")

    def _file_bytes(self, conn, table: str, version: str, name: str) -> bytes | None:
        """A stored file's bytes (a BM25 file), or None when the version has none."""
        total, parts = self._parts(conn, table, version, name)
        if not parts:
            return None
        data = _PartReader(conn, table, (self.name, version, name), parts)(total)
        if len(data) != total:
            raise IndexMismatchError(f"the stored {name} of version {version} in {self.root} is incomplete (a part "
                                     "is missing): run `rag index --rebuild`")
        return data

    def _parts(self, conn, table: str, version: str, name: str) -> tuple[int, int]:
        """A stored file's size in bytes and its number of parts (0, 0 when the version has none)."""
        total, parts = conn.execute(f"SELECT coalesce(sum(length(data)), 0), count(*) FROM {table} "
                                    "WHERE store = %s AND version = %s AND name = %s",
                                    (self.name, version, name)).fetchone()
        return int(total), int(parts)

    @staticmethod
    def _stream(conn, sql: str, args: tuple, batch: int = 5000):
        """The rows of a query in batches, from a server-side cursor, vectors in binary."""
        with conn.cursor(name=f"rag_read_{uuid.uuid4().hex[:8]}", binary=True) as cur:
            cur.itersize = batch
            cur.execute(sql, args)
            yield from cur

    def verify(self, search: bool = True) -> IndexData:
        """Load the active version (as load(search=search)) and check its documents against the content hashes
        of its manifest."""
        data = self.load(search=search)
        want = {d: m["content_hash"] for d, m in data.manifest.get("documents", {}).items()}
        have = {d: r.content_hash for d, r in data.docs.items()}
        if want != have:
            raise IndexMismatchError(f"the index version {data.version} in {self.root} does not match its manifest: "
                                     "run `rag index --rebuild`")
        return data

    def read_tokens(self, version: str) -> list[list[str]]:
        with self._conn() as conn:
            return list(self._json_column(conn, "rag_chunks", "tokens", version,
                                          self._count(conn, "rag_chunks", version)))

    def save(self, data: IndexData, keep_previous: int = 1) -> VersionRef:
        """Write a new version and make it the active one in one transaction; drop the versions before the
        previous one."""
        if data.tokens is None or len(data.tokens) != len(data.chunks):
            raise ValueError("an index is saved with the BM25 tokens of every chunk")
        import faiss
        from psycopg.types.json import Jsonb

        version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        with self._conn() as conn:
            with conn.transaction():
                previous = conn.execute("SELECT version FROM rag_current WHERE store = %s FOR UPDATE",
                                        (self.name,)).fetchone()
                conn.execute("INSERT INTO rag_versions (store, version, manifest) VALUES (%s, %s, %s)",
                             (self.name, version, json.dumps(data.manifest, ensure_ascii=False)))
                with conn.cursor() as cur:  # binary COPY: vectors go as float32 bytes, not text
                    with cur.copy("COPY rag_docs (store, version, doc_id, record) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(["text", "text", "text", "jsonb"])
                        for d in data.docs.values():
                            copy.write_row((self.name, version, d.doc_id, Jsonb(asdict(d))))
                    with cur.copy("COPY rag_chunks (store, version, idx, record, tokens, embedding) FROM STDIN "
                                  "(FORMAT BINARY)") as copy:
                        copy.set_types(["text", "text", "int4", "jsonb", "jsonb", "vector"])
                        for i, (c, toks) in enumerate(zip(data.chunks, data.tokens)):
                            copy.write_row((self.name, version, i, Jsonb(asdict(c)), Jsonb(list(toks)),
                                            _vector(data.chunk_vectors[i])))
                    with cur.copy("COPY rag_sentences (store, version, idx, key, embedding) FROM STDIN "
                                  "(FORMAT BINARY)") as copy:
                        copy.set_types(["text", "text", "int4", "text", "vector"])
                        for j, k in enumerate(data.sentence_keys):
                            copy.write_row((self.name, version, j, k, _vector(data.sentence_vectors[j])))
                    with cur.copy("COPY rag_faiss_parts (store, version, name, part, data) FROM STDIN "
                                  "(FORMAT BINARY)") as copy:
                        copy.set_types(["text", "text", "text", "int4", "bytea"])
                        for name, index in (("chunks", data.dense), ("sentences", data.sentence_index)):
                            _write_parts(copy, self.name, version, name, faiss.serialize_index(index))
                    with cur.copy("COPY rag_files (store, version, name, part, data) FROM STDIN "
                                  "(FORMAT BINARY)") as copy:
                        copy.set_types(["text", "text", "text", "int4", "bytea"])
                        for name, content in _lexical_files(data.lexical):
                            _write_parts(copy, self.name, version, name, content)
                conn.execute("INSERT INTO rag_current (store, version) VALUES (%s, %s) ON CONFLICT (store) "
                             "DO UPDATE SET version = EXCLUDED.version", (self.name, version))
                keep = [version] + ([previous[0]] if previous and keep_previous else [])
                for table in _TABLES:
                    conn.execute(f"DELETE FROM {table} WHERE store = %s AND NOT (version = ANY(%s))",
                                 (self.name, keep))
            conn.execute("ANALYZE rag_chunks, rag_sentences")  # the planner's row counts, for the vector indexes
            conn.commit()
        data.version = version
        return VersionRef(version)


class _PartReader:
    """A stored file's bytes on request, one part fetched at a time: faiss.PyCallbackIOReader's callback."""

    def __init__(self, conn, table: str, key: tuple, parts: int) -> None:
        self.conn, self.table, self.key, self.parts = conn, table, key, parts
        self.part, self.buf, self.at = 0, memoryview(b""), 0

    def __call__(self, size: int) -> bytes:
        out, got = [], 0
        while got < size:
            if self.at >= len(self.buf):
                if self.part >= self.parts:
                    break  # faiss says the file is short
                with self.conn.cursor(binary=True) as cur:
                    row = cur.execute(f"SELECT data FROM {self.table} WHERE store = %s AND version = %s AND "
                                      "name = %s AND part = %s", self.key + (self.part,)).fetchone()
                self.buf, self.at, self.part = memoryview(row[0] if row else b""), 0, self.part + 1
            take = min(size - got, len(self.buf) - self.at)
            out.append(self.buf[self.at:self.at + take])
            self.at += take
            got += take
        return b"".join(out)


def _write_parts(copy, store: str, version: str, name: str, content) -> None:
    """A file as rows of FAISS_PART_BYTES (a bytea value holds at most 1 GB)."""
    blob = memoryview(content)
    for part, at in enumerate(range(0, max(len(blob), 1), FAISS_PART_BYTES)):
        copy.write_row((store, version, name, part, bytes(blob[at:at + FAISS_PART_BYTES])))


def _lexical_files(lexical: LexicalIndex | None):
    """(name, bytes) of the BM25 index's files as bm25s saves them; one "bm25/empty" for an index of nothing."""
    if lexical is None or lexical.documents() == 0:
        yield "bm25/empty", b""
        return
    with tempfile.TemporaryDirectory(prefix="rag-bm25-") as tmp:
        lexical.save(Path(tmp))
        for f in sorted(Path(tmp).iterdir()):
            yield f"bm25/{f.name}", f.read_bytes()


def _vectors_of(index, dim: int) -> np.ndarray:
    """The float32 vectors an IndexFlat or IndexIVFFlat holds (their codes are the vectors), in the order they
    were added; an IVF index gets its id -> list map for it (8 bytes a row)."""
    import faiss

    if index.ntotal == 0:
        return np.zeros((0, dim), np.float32)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.make_direct_map()
    return np.ascontiguousarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def _array(value) -> np.ndarray:
    """A pgvector value (pgvector.Vector, or a numpy array for a typed column) as float32."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


def _vector(row: np.ndarray) -> np.ndarray:
    """A row as pgvector's binary COPY takes it."""
    return np.ascontiguousarray(row, dtype=np.float32)
