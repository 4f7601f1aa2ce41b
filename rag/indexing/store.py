"""The index on disk: a self-describing, versioned folder with FAISS vectors, BM25 and a manifest.

Layout of `index/`:
  CURRENT            name of the active version folder, replaced atomically (os.replace)
  v-<stamp>/         docs.jsonl, chunks.jsonl, tokens.jsonl, chunk_vectors.npy, sentence_vectors.npy,
                     sentence_keys.json, chunks.faiss, sentences.faiss, bm25/, and manifest.json, written
                     last, with the size and sha256 of every other file (IndexStore.verify checks them)
A build writes a new version under a temporary name, renames it, then switches CURRENT: a build
killed at any point leaves the previous index loadable. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import IndexMismatchError, IndexMissingError
from rag.files import atomic_write, fsync_dir, sha256_of
from rag.indexing.lexical import LexicalIndex
from rag.ingest.chunking import Chunk
from rag.ingest.cleaning import Block
from rag.ingest.corpus import Document, page_at
from rag.settings import ChunkSettings, LexicalSettings
from rag.text import Span

FORMAT_VERSION = 3  # 2: sentences.faiss beside chunks.faiss; 3: BM25 tokens in tokens.jsonl
CURRENT = "CURRENT"
# The parts of a manifest that must match the settings for an index to be reused (expected_manifest).
MATCHED = ("embedding", "chunking", "lexical")
TOKENIZER = "pyvi syllables+compounds"


def expected_manifest(embedder, chunking: ChunkSettings, lexical: LexicalSettings) -> dict:
    """What the manifest must say for an index to serve these settings: the embedding model, the chunking and
    the BM25 parameters (an `embedder` is anything with name, checksum, dimension and prompts)."""
    return {
        "embedding": {"name": embedder.name, "checksum": embedder.checksum, "dimension": embedder.dimension,
                      "prompts": dict(embedder.prompts), "normalized": True},
        "chunking": {"max_chars": chunking.max_chars, "overlap_sentences": chunking.overlap_sentences,
                     "splitter": "sentences-v3", "embed_text": "title+chunk"},
        "lexical": {"method": "BM25 (bm25s)", "k1": lexical.k1, "b": lexical.b, "tokenizer": TOKENIZER},
    }


def _read_manifest(folder: Path) -> dict:
    return _read_manifest_dict(json.loads((folder / "manifest.json").read_text(encoding="utf-8")))


def _read_manifest_dict(manifest: dict) -> dict:
    # Indexes built before the BM25 parameters were settings wrote them as text; the same numbers, read as fields.
    if manifest.get("lexical") == {"method": "BM25 (bm25s, k1=1.2, b=0.75)", "tokenizer": TOKENIZER}:
        manifest["lexical"] = {"method": "BM25 (bm25s)", "k1": 1.2, "b": 0.75, "tokenizer": TOKENIZER}
    return manifest


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as stored: offsets into its document and the key of its vector (its BM25 tokens are kept
    apart, in tokens.jsonl, read only by a build: a loaded index does not hold them)."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    kind: str
    sentences: tuple[tuple[int, int], ...]
    embed_key: str

    @classmethod
    def from_json(cls, d: dict) -> "ChunkRecord":
        return cls(d["chunk_id"], d["doc_id"], d["start"], d["end"], d["kind"],
                   tuple(tuple(s) for s in d["sentences"]), d["embed_key"])

    def to_chunk(self, text: str) -> Chunk:
        return Chunk(self.chunk_id, self.doc_id, self.start, self.end, text[self.start : self.end], self.kind,
                     tuple(Span(a, b) for a, b in self.sentences))


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    path: str
    title: str | None
    date: str | None
    source: str | None
    content_hash: str
    text: str
    blocks: tuple[tuple[str, int, int], ...]
    pages: tuple[int, ...] = ()  # where each page of a PDF starts in `text`

    @classmethod
    def from_document(cls, doc: Document) -> "DocRecord":
        return cls(doc.doc_id, doc.path, doc.title, doc.date, doc.source, doc.content_hash, doc.text,
                   tuple((b.kind, b.start, b.end) for b in doc.blocks), doc.pages)

    @classmethod
    def from_json(cls, d: dict) -> "DocRecord":
        # An index written before PDFs were read has no pages: none of its documents had any.
        return cls(d["doc_id"], d["path"], d["title"], d["date"], d["source"], d["content_hash"], d["text"],
                   tuple(tuple(b) for b in d["blocks"]), tuple(d.get("pages", ())))

    def to_document(self) -> Document:
        return Document(self.doc_id, self.path, self.text, self.title, self.date, self.source,
                        tuple(Block(k, a, b) for k, a, b in self.blocks), self.content_hash, self.pages)

    def page_at(self, offset: int) -> int | None:
        """The page holding character `offset`, for a PDF; None otherwise."""
        return page_at(self.pages, offset)


@dataclass
class IndexData:
    """Everything one index version holds, in memory."""

    manifest: dict
    docs: dict[str, DocRecord]
    chunks: list[ChunkRecord]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray  # one row per (chunk, sentence), in chunk order
    sentence_keys: list[str] = field(default_factory=list)
    lexical: LexicalIndex | None = None
    version: str = ""
    tokens: list[list[str]] | None = None  # BM25 tokens per chunk: set by a build, written by save()

    def __post_init__(self) -> None:
        counts = [len(c.sentences) for c in self.chunks]
        self.sentence_owner = np.repeat(np.arange(len(self.chunks), dtype=np.int64), counts)
        self.sentence_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._faiss: dict[str, object] = {}

    def _index(self, name: str, vectors: np.ndarray):
        if name not in self._faiss:
            self._faiss[name] = build_faiss_index(vectors, int(self.manifest["embedding"]["dimension"]))
        return self._faiss[name]

    @property
    def dense(self):
        """A FAISS inner-product index over the chunk vectors (row i = chunk i)."""
        return self._index("chunks", self.chunk_vectors)

    @property
    def sentence_index(self):
        """A FAISS inner-product index over the sentence vectors (row j = sentence j, owner sentence_owner[j])."""
        return self._index("sentences", self.sentence_vectors)


# Up to this many vectors a search is exact (IndexFlatIP: about 6 ms for 100,000 x 384 on 2 cores, 25 ms for
# 450,000); above it, an inverted-file index (IVFFlat, 4*sqrt(n) lists, 64 probed) answers in about 0.2-0.5 ms.
# On 100,000 synthetic chunks and 450,000 sentences built from real e5 vectors (eval/bench_system.md), HNSW
# (M=32, efConstruction=80) reached recall@10 of only 0.93 / 0.87 at efSearch=128 and the sentence index
# stayed under 0.95 even at efSearch=512 (0.94, 0.5 ms); IVFFlat with nprobe=64 reached 0.95 (chunks, 0.3 ms)
# and 0.99 (sentences, 0.6 ms) and builds faster (4.6 s and 24 s against 8 s and 32 s).
EXACT_SEARCH_LIMIT = 50_000
IVF_NPROBE = 64


def _ivf_lists(n: int) -> int:
    return int(4 * np.sqrt(n))


def faiss_kind(n: int) -> str:
    if n <= EXACT_SEARCH_LIMIT:
        return "IndexFlatIP"
    return f"IndexIVFFlat(nlist={_ivf_lists(n)}, nprobe={IVF_NPROBE}, inner product)"


def build_faiss_index(vectors: np.ndarray, dimension: int):
    """Exact search for small collections, IVFFlat for large ones; both on inner product of unit vectors.

    IVFFlat: nlist = 4*sqrt(n) lists, k-means trained on at most 64 vectors a list (10 iterations, faiss's
    fixed seed, so a build is deterministic), nprobe = 64 (stored in the index file by faiss.write_index).
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(dimension)
    else:
        nlist = _ivf_lists(len(vectors))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.max_points_per_centroid = 64
        index.cp.niter = 10
        index.train(vectors)
        index.nprobe = IVF_NPROBE
    if len(vectors):
        index.add(vectors)
    return index


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _file_records(folder: Path) -> dict:
    """Size and sha256 of every file under `folder`, by path relative to it."""
    return {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": sha256_of(p)}
            for p in sorted(folder.rglob("*")) if p.is_file()}


class IndexStore:
    """Reads and writes index versions under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @contextmanager
    def build_lock(self, on_wait=None):
        """One build at a time per index folder (a second `rag index` waits): builds prune old versions."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".build.lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait:
                    on_wait(f"another build of {self.root} is running: waiting for it to finish")
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def current_version(self) -> Path | None:
        pointer = self.root / CURRENT
        if not pointer.is_file():
            return None
        name = pointer.read_text(encoding="utf-8").strip()
        folder = self.root / name
        return folder if name and (folder / "manifest.json").is_file() else None

    def exists(self) -> bool:
        return self.current_version() is not None

    def read_manifest(self) -> dict:
        folder = self.current_version()
        if folder is None:
            raise IndexMissingError(f"no index at {self.root}: run `rag index` to build it")
        try:
            return _read_manifest(folder)
        except (OSError, ValueError) as exc:
            raise _damaged(folder, exc) from exc

    def load(self, expected: dict | None = None, search: bool = True) -> IndexData:
        """Load the active version; refuse when `expected` (expected_manifest) differs from the manifest.
        search=False (a build reading the version it replaces): the FAISS and BM25 indexes are not read."""
        folder = self.current_version()
        if folder is None:
            raise IndexMissingError(f"no index at {self.root}: run `rag index` to build it")
        try:
            manifest = _read_manifest(folder)
            check_compatible(manifest, expected or {}, self.root, keys=MATCHED if expected else ())
            return self._load_files(folder, manifest, search)
        except IndexMismatchError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise _damaged(folder, exc) from exc

    def _load_files(self, folder: Path, manifest: dict, search: bool = True) -> IndexData:
        docs = {d["doc_id"]: DocRecord.from_json(d) for d in _read_jsonl(folder / "docs.jsonl")}
        chunks = [ChunkRecord.from_json(d) for d in _read_jsonl(folder / "chunks.jsonl")]
        # Memory-mapped: the exact re-scoring reads only the candidates' rows, FAISS has its own copy.
        cv = np.load(folder / "chunk_vectors.npy", allow_pickle=False, mmap_mode="r")
        sv = np.load(folder / "sentence_vectors.npy", allow_pickle=False, mmap_mode="r")
        keys = json.loads((folder / "sentence_keys.json").read_text(encoding="utf-8"))
        lexical = None
        if search:
            lexical = LexicalIndex.load(folder / "bm25", len(chunks)) if chunks else LexicalIndex(None, 0)
        data = IndexData(manifest, docs, chunks, cv, sv, keys, lexical, folder.name)
        if len(cv) != len(chunks) or len(sv) != int(data.sentence_offsets[-1]):
            raise IndexMismatchError(f"the index at {folder} is inconsistent (vectors and chunks differ): "
                                     "run `rag index --rebuild`")
        if not search:
            return data
        import faiss

        for name in ("chunks", "sentences"):
            data._faiss[name] = faiss.read_index(str(folder / f"{name}.faiss"))
        if data.dense.ntotal != len(chunks) or data.sentence_index.ntotal != len(sv):
            raise IndexMismatchError(f"the FAISS files in {folder} do not match its chunks: run `rag index --rebuild`")
        return data

    def verify(self, search: bool = True) -> IndexData:
        """Check every file of the active version against the size and sha256 its manifest records, then load
        it (as load(search=search)); raise IndexMismatchError naming what is damaged. (Loading alone, the query
        path, checks structure.)"""
        folder = self.current_version()
        if folder is None:
            raise IndexMissingError(f"no index at {self.root}: run `rag index` to build it")
        manifest = self.read_manifest()
        for name, want in sorted(manifest.get("files", {}).items()):
            path = folder / name
            try:
                size = path.stat().st_size
                if size != want["size"]:
                    raise ValueError(f"{name} has {size:,} bytes, {want['size']:,} were written")
                if sha256_of(path) != want["sha256"]:
                    raise ValueError(f"{name} does not match the sha256 written with it")
            except (OSError, ValueError) as exc:
                raise _damaged(folder, exc) from exc
        return self.load(search=search)

    def read_tokens(self, version: str) -> list[list[str]]:
        """The BM25 tokens of every chunk of a version, in chunk order (for the next build)."""
        try:
            return _read_jsonl(self.root / version / "tokens.jsonl")
        except (OSError, ValueError) as exc:
            raise _damaged(self.root / version, exc) from exc

    def save(self, data: IndexData, keep_previous: int = 1) -> Path:
        """Write a new version and switch CURRENT to it atomically; prune older versions."""
        import faiss

        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        tmp = self.root / f".tmp-v-{stamp}"
        final = self.root / f"v-{stamp}"
        tmp.mkdir()
        _write_jsonl(tmp / "docs.jsonl", (asdict(d) for d in data.docs.values()))
        _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in data.chunks))
        if data.tokens is None or len(data.tokens) != len(data.chunks):
            raise ValueError("an index is saved with the BM25 tokens of every chunk")
        _write_jsonl(tmp / "tokens.jsonl", data.tokens)
        np.save(tmp / "chunk_vectors.npy", data.chunk_vectors, allow_pickle=False)
        np.save(tmp / "sentence_vectors.npy", data.sentence_vectors, allow_pickle=False)
        _write_json(tmp / "sentence_keys.json", data.sentence_keys)
        faiss.write_index(data.dense, str(tmp / "chunks.faiss"))
        faiss.write_index(data.sentence_index, str(tmp / "sentences.faiss"))
        if data.chunks:
            data.lexical.save(tmp / "bm25")
        # Written last, with the size and sha256 of every other file: `verify` tells a damaged index.
        data.manifest = dict(data.manifest, files=_file_records(tmp))
        _write_json(tmp / "manifest.json", data.manifest)
        for p in tmp.rglob("*"):
            if p.is_file():
                with p.open("rb+") as f:
                    os.fsync(f.fileno())
        os.rename(tmp, final)
        fsync_dir(self.root)
        previous = self.current_version()
        atomic_write(self.root / CURRENT, final.name + "\n")
        data.version = final.name
        self._prune(keep={final.name} | ({previous.name} if previous and keep_previous else set()))
        return final

    def _prune(self, keep: set[str]) -> None:
        for p in self.root.iterdir():
            if p.is_dir() and (p.name.startswith("v-") or p.name.startswith(".tmp-v-")) and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
            elif p.is_file() and p.name.startswith(f".{CURRENT}."):
                p.unlink(missing_ok=True)


def _damaged(folder: Path, exc: Exception) -> IndexMismatchError:
    return IndexMismatchError(f"the index at {folder} is damaged or incomplete ({exc}): "
                              "run `rag index --rebuild` to rebuild it")


def check_compatible(manifest: dict, expected: dict, where: Path, keys: tuple[str, ...] = MATCHED) -> None:
    """Raise IndexMismatchError when the manifest was built with another format, model, chunking or BM25."""
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexMismatchError(f"the index at {where} has format {manifest.get('format')}, this program reads "
                                 f"{FORMAT_VERSION}: run `rag index --rebuild` (the old index stays until the new one is ready)")
    for key in keys:
        if manifest.get(key) != expected.get(key):
            raise IndexMismatchError(
                f"the index at {where} was built with {key} {json.dumps(manifest.get(key), ensure_ascii=False)}, "
                f"but the settings now say {json.dumps(expected.get(key), ensure_ascii=False)}: "
                "run `rag index --rebuild` to rebuild it (the old index stays until the new one is ready)")
