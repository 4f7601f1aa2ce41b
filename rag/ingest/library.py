"""The corpus folder as a library: list its documents with their index state, add an uploaded article or the
page behind a link, delete one.

An upload is checked before anything changes: its name is reduced to a plain file name inside the corpus
folder, its size is limited, it must pass the same reading rules as the corpus loader
(rag/ingest/corpus.read_document), and its cleaned text must not already be in the corpus. Only then is it moved
into place, atomically. A link's page (rag/ingest/fetch.py) is added the same way, as an .html file that records
its link and fetch time. Adding or deleting a file does not touch the index: the next build picks it up.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError, RagError
from rag.files import atomic_file
from rag.ingest.corpus import FORMATS, SUFFIXES, Changes, Document, changes, corpus_paths, read_document

MAX_NAME_CHARS = 120


class UploadError(RagError):
    """An uploaded file was refused; the corpus is unchanged."""


@dataclass(frozen=True)
class LibraryDocument:
    doc_id: str
    file: str  # path relative to the corpus folder
    title: str | None
    date: str | None
    source: str | None
    chunks: int | None  # in the current index; None when the document is not indexed yet
    state: str  # "indexed", "new" (not in the index), "changed" (the file differs from the index), "unreadable"
    size: int
    problem: str | None = None  # why an unreadable file is skipped


@dataclass(frozen=True)
class IndexStatus:
    model: str | None
    documents: int
    chunks: int
    sentences: int
    built_at: str | None
    version: str | None
    pending: int  # documents added, changed or deleted since the build

    @property
    def exists(self) -> bool:
        return self.version is not None


@dataclass(frozen=True)
class Added:
    doc_id: str
    path: Path
    title: str | None
    replaced: Path | None  # the file it replaced, if any


def safe_filename(name: str) -> str:
    """A plain file name for an upload: no folder part, no hidden or special characters, a known suffix."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", str(name)))[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}"
    if not dot or suffix not in SUFFIXES:
        raise UploadError(f"{base or name!r} is not a {FORMATS} file: upload articles as text, Markdown, a saved "
                          "web page, PDF or Word")
    stem = re.sub(r"[^\w.\- ]+", "_", stem)
    stem = re.sub(r"\s+", "_", stem).strip("._- ")[:MAX_NAME_CHARS].rstrip("._- ")
    if not stem:
        raise UploadError(f"the name {base!r} has no usable characters: rename the file (letters, digits, - or _)")
    return stem + suffix


def corpus_files(folder: Path) -> dict[str, Path]:
    """doc_id -> file, chosen as rag/corpus.load_corpus chooses them (hidden folders skipped, first name wins)."""
    files: dict[str, Path] = {}
    if folder.is_dir():
        for doc_id, path in corpus_paths(folder):
            files.setdefault(doc_id, path)
    return files


class Library:
    def __init__(self, corpus_dir: Path, store, max_bytes: int, fetcher=None) -> None:
        """`store`: the index store (rag/indexing/store.IndexStore; anything with exists, read_manifest and
        current_version), read for each document's state; `max_bytes`: Settings.max_file_bytes; `fetcher`: what
        add_url fetches links with (rag/ingest/fetch.PageFetcher; anything with fetch(url) -> Page)."""
        self.corpus_dir = Path(corpus_dir)
        self.store = store
        self.max_bytes = max_bytes
        self.fetcher = fetcher
        self._read: dict[str, tuple[tuple[int, int], Document | CorpusError]] = {}  # path -> ((size, mtime), reading)

    def _document(self, doc_id: str, path: Path) -> Document | CorpusError:
        """The file read and cleaned, cached while it is unchanged on disk."""
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        cached = self._read.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            result: Document | CorpusError = read_document(path, doc_id, self.max_bytes)
        except CorpusError as exc:
            result = exc
        except OSError as exc:
            result = CorpusError(f"it cannot be read ({exc.strerror})")
        self._read[str(path)] = (stamp, result)
        return result

    def _manifest(self) -> dict | None:
        try:
            return self.store.read_manifest() if self.store.exists() else None
        except RagError:
            return None

    def _changes(self, manifest: dict | None) -> tuple[list[tuple[str, Path, Document | CorpusError]], Changes]:
        """Every article file read, and what changed since the index in `manifest` was built."""
        indexed = {i: d["content_hash"] for i, d in (manifest or {}).get("documents", {}).items()}
        files = corpus_files(self.corpus_dir)
        on_disk = {str(p) for p in files.values()}
        self._read = {k: v for k, v in self._read.items() if k in on_disk}  # forget deleted files
        read = [(doc_id, path, self._document(doc_id, path)) for doc_id, path in files.items()]
        current = {doc_id: doc.content_hash for doc_id, _, doc in read if isinstance(doc, Document)}
        return read, changes(indexed, current)

    def documents(self) -> list[LibraryDocument]:
        """Every article file in the corpus folder, with its state against the current index."""
        manifest = self._manifest()
        indexed = (manifest or {}).get("documents", {})
        read, diff = self._changes(manifest)
        out = []
        for doc_id, path, doc in read:
            rel = str(path.relative_to(self.corpus_dir))
            if isinstance(doc, CorpusError):
                out.append(LibraryDocument(doc_id, rel, None, None, None, None, "unreadable", path.stat().st_size,
                                           str(doc)))
                continue
            entry = indexed.get(doc_id)
            out.append(LibraryDocument(doc_id, rel, doc.title, doc.date, doc.source,
                                       entry.get("chunks") if entry else None, diff.state(doc_id),
                                       path.stat().st_size))
        return out

    def status(self) -> IndexStatus:
        manifest = self._manifest()
        _, diff = self._changes(manifest)
        if manifest is None:
            return IndexStatus(None, 0, 0, 0, None, None, diff.pending)
        counts = manifest.get("counts", {})
        current = self.store.current_version()
        return IndexStatus(manifest.get("embedding", {}).get("name"), counts.get("documents", 0),
                           counts.get("chunks", 0), counts.get("sentences", 0), manifest.get("built_at"),
                           current.name if current else None, diff.pending)

    def add_file(self, path: Path, name: str | None = None, replace: bool = False) -> Added:
        """Add an uploaded file (e.g. a web server's temporary file) under `name` (default: its own name)."""
        path = Path(path)
        size = path.stat().st_size
        if size > self.max_bytes:
            raise UploadError(f"{name or path.name}: {size:,} bytes is over the {self.max_bytes:,}-byte limit "
                              "(split the article or upload it as plain text)")
        return self.add(name or path.name, path.read_bytes(), replace=replace)

    def add_url(self, url: str, replace: bool = False) -> Added:
        """Fetch a link's page and add it as an upload of that page (an .html file named after the link); raises
        FetchError or UploadError, leaving the corpus unchanged, when it is refused."""
        if self.fetcher is None:
            raise UploadError("this library was made without a fetcher: links cannot be added here")
        page = self.fetcher.fetch(url)
        return self.add(page.name, page.saved(), replace=replace)

    def add(self, name: str, data: bytes, replace: bool = False) -> Added:
        """Add an article; raises UploadError, leaving the corpus unchanged, when it is refused.

        A document of the same name is replaced only with `replace`; the same text under any name is refused."""
        filename = safe_filename(name)
        if len(data) > self.max_bytes:
            raise UploadError(f"{filename}: {len(data):,} bytes is over the {self.max_bytes:,}-byte limit "
                              "(split the article or upload it as plain text)")
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        corpus = self.corpus_dir.resolve()
        target = corpus / filename
        if target.parent != corpus:  # cannot happen after safe_filename; kept as the last line of defence
            raise UploadError(f"{name!r} would be written outside the corpus folder")
        doc_id = unicodedata.normalize("NFC", target.stem)
        existing = corpus_files(corpus)
        previous = existing.get(doc_id)
        if previous is not None and not replace:
            raise UploadError(f"{filename}: a document named {doc_id!r} is already in the corpus "
                              f"({previous.name}); delete it first, rename the file, or choose to replace it")
        try:
            # Written beside the target under a hidden name (never read as an article), checked, then placed:
            # linked when the name is new (it fails rather than overwrite a file that appeared meanwhile),
            # replaced when the user chose to replace.
            with atomic_file(target, overwrite=previous is not None) as f:
                f.write(data)
                f.flush()
                try:
                    doc = read_document(Path(f.name), doc_id, self.max_bytes)
                except CorpusError as exc:
                    raise UploadError(f"{filename} was not added: {exc}") from None
                self._check_new_text(doc, doc_id, existing, previous, corpus, filename)
            if previous is not None and previous.resolve() != target:
                previous.unlink(missing_ok=True)  # same id, another suffix or folder
        except FileExistsError:
            raise UploadError(f"{filename}: a file of that name appeared meanwhile; try again") from None
        return Added(doc_id, target, doc.title, previous)

    def _check_new_text(self, doc: Document, doc_id: str, existing: dict[str, Path], previous: Path | None,
                        corpus: Path, filename: str) -> None:
        """Refuse an upload whose cleaned text is already in the corpus, under any name."""
        for other_id, other in existing.items():
            if other_id == doc_id:
                continue
            known = self._document(other_id, other)
            if isinstance(known, Document) and known.content_hash == doc.content_hash:
                raise UploadError(f"{filename} was not added: the same article is already in the corpus "
                                  f"as {other.relative_to(corpus)}")
        if previous is not None:
            known = self._document(doc_id, previous)
            if isinstance(known, Document) and known.content_hash == doc.content_hash:
                raise UploadError(f"{filename} was not added: {previous.relative_to(corpus)} already has "
                                  "exactly this text")

    def delete(self, doc_id: str) -> Path:
        """Delete a document's file from the corpus folder (the index keeps it until the next build)."""
        path = corpus_files(self.corpus_dir).get(unicodedata.normalize("NFC", doc_id))
        if path is None:
            raise UploadError(f"no document {doc_id!r} in {self.corpus_dir}: refresh the list")
        if self.corpus_dir.resolve() not in path.resolve().parents:
            raise UploadError(f"{path} is outside the corpus folder: remove it by hand")
        path.unlink()
        return path

