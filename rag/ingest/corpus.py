"""Load a corpus folder: every .txt, .md, .html, .pdf and .docx file, read by its format, NFC-normalised and
cleaned into articles.

Formats: plain text and Markdown as UTF-8 text; a saved web page through trafilatura (rag/ingest/webpage.py); a
PDF's text layer page by page through pypdf (rag/ingest/pdf.py), each page's start kept so that a citation names
its page; a Word .docx's paragraphs and tables through python-docx (rag/ingest/word.py). Bad files (not UTF-8,
binary, empty, too large, a scanned, encrypted or damaged PDF, a damaged .docx) are skipped with one line saying
which and why.
"""

from __future__ import annotations

import bisect
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

from rag.errors import CorpusError
from rag.files import sha256_text
from rag.ingest.cleaning import Block, Extracted, clean_article
from rag.ingest.pdf import read_pdf
from rag.ingest.webpage import read_html
from rag.ingest.word import read_docx
from rag.settings import Settings


def page_at(pages: tuple[int, ...], offset: int) -> int | None:
    """The page (from 1) holding character `offset` of a document whose pages start at `pages`; None when the
    document has no pages."""
    return (bisect.bisect_right(pages, offset) or 1) if pages else None


@dataclass(frozen=True)
class Document:
    doc_id: str
    path: str
    text: str
    title: str | None
    date: str | None
    source: str | None
    blocks: tuple[Block, ...]
    content_hash: str
    pages: tuple[int, ...] = ()  # where each page starts in `text`, for a PDF; () otherwise

    @property
    def display_title(self) -> str:
        return self.title or self.doc_id

    def page_at(self, offset: int) -> int | None:
        return page_at(self.pages, offset)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]


def utf8_text(data: bytes) -> str:
    """The file as text; raises CorpusError when it is binary or not UTF-8."""
    if b"\x00" in data[:8192]:
        raise CorpusError("it looks binary (NUL bytes); save it as UTF-8 text")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"it is not UTF-8 (byte {exc.start}); re-save it as UTF-8") from None
    controls = sum(1 for c in raw[:20000] if unicodedata.category(c) == "Cc" and c not in "\n\r\t\f")
    if controls > 0.01 * min(len(raw), 20000):
        raise CorpusError("it looks binary (control characters); save it as UTF-8 text")
    return raw


_MD_MARKUP = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[*+-]\s+(?=\S))|!\[[^\]]*\]\([^)]*\)|\[([^\]]+)\]\([^)]*\)", re.M)


def markdown_to_text(source: str) -> str:
    return _MD_MARKUP.sub(lambda m: m.group(1) or "", source)


# How each kind of file is read, by suffix.
READERS: dict[str, Callable[[bytes], Extracted]] = {
    ".txt": lambda data: Extracted(utf8_text(data)),
    ".md": lambda data: Extracted(markdown_to_text(utf8_text(data))),
    ".html": lambda data: read_html(utf8_text(data)),
    ".htm": lambda data: read_html(utf8_text(data)),
    ".pdf": read_pdf,
    ".docx": read_docx,
}
SUFFIXES = tuple(READERS)
FORMATS = ".txt, .md, .html, .pdf or .docx"  # for messages


def _nfc(text: str | None) -> str | None:
    return unicodedata.normalize("NFC", text) if text else text


def read_document(path: Path, doc_id: str, max_bytes: int) -> Document:
    """Read and clean one file; raises CorpusError with the reason when the file is unusable."""
    size = path.stat().st_size
    if size == 0:
        raise CorpusError("the file is empty")
    if size > max_bytes:
        raise CorpusError(f"{size:,} bytes is over the {max_bytes:,}-byte limit (split the file)")
    read = READERS.get(path.suffix.lower())
    if read is None:
        raise CorpusError(f"{path.suffix or 'a file without a suffix'} is not a format the corpus reads: add "
                          f"{FORMATS} files")
    found = read(path.read_bytes())
    article = clean_article(Extracted(_nfc(found.text), _nfc(found.title), _nfc(found.date), _nfc(found.source),
                                      found.paged))
    if not article.text.strip():
        raise CorpusError("no article text is left after cleaning")
    # The pages are part of what is indexed: the same text paged otherwise cites other pages.
    digest = sha256_text(article.text if not article.pages else f"{article.text}\x00{article.pages}")
    return Document(doc_id=doc_id, path=str(path), text=article.text, title=article.title, date=article.date,
                    source=article.source, blocks=article.blocks, content_hash=digest, pages=article.pages)


def corpus_paths(folder: Path):
    """(doc id, file) for every supported file under `folder`, hidden folders skipped, in name order."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() in SUFFIXES and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield unicodedata.normalize("NFC", path.stem), path


def dangling_links(folder: Path) -> list[Path]:
    """Links to article files that do not exist (corpus_paths passes them over, since they are not files)."""
    return sorted(p for p in folder.rglob("*") if p.is_symlink() and not p.exists() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def load_corpus(folder: Path, max_bytes: int = Settings.max_file_bytes) -> Corpus:
    """Every supported file under `folder`; raises CorpusError when none is usable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist: create it and put {FORMATS} articles in it")
    docs: list[Document] = []
    skipped: list[Skipped] = []
    seen_ids: dict[str, str] = {}
    for doc_id, path in corpus_paths(folder):
        if doc_id in seen_ids:
            skipped.append(Skipped(str(path), f"another file already has the id {doc_id!r} ({seen_ids[doc_id]}); rename one"))
            continue
        try:
            docs.append(read_document(path, doc_id, max_bytes))
            seen_ids[doc_id] = str(path)
        except CorpusError as exc:
            skipped.append(Skipped(str(path), str(exc)))
        except OSError as exc:
            skipped.append(Skipped(str(path), f"it cannot be read ({exc.strerror})"))
    for link in dangling_links(folder):
        skipped.append(Skipped(str(link), f"it is a link to {os.readlink(link)}, which does not exist: fix the link "
                                          "or remove it"))
    if not docs:
        why = f" ({len(skipped)} file(s) skipped: {skipped[0].reason})" if skipped else ""
        raise CorpusError(f"no usable article in {folder}{why}: add {FORMATS} files")
    return Corpus(tuple(docs), tuple(skipped))


@dataclass(frozen=True)
class Changes:
    """What changed in a corpus since an index was built, by document id."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def pending(self) -> int:
        """Documents the next build adds, re-embeds or drops."""
        return len(self.added) + len(self.changed) + len(self.removed)

    @cached_property
    def _states(self) -> dict[str, str]:
        return {**{i: "new" for i in self.added}, **{i: "changed" for i in self.changed}}

    def state(self, doc_id: str) -> str:
        """"new" (not in the index), "changed" (its text differs from the index's) or "indexed"."""
        return self._states.get(doc_id, "indexed")


def changes(indexed: dict[str, str], current: dict[str, str]) -> Changes:
    """Compare the content hashes an index was built from with the corpus's (doc_id -> content hash)."""
    return Changes(tuple(i for i in current if i not in indexed),
                   tuple(i for i in current if i in indexed and indexed[i] != current[i]),
                   tuple(i for i in indexed if i not in current),
                   tuple(i for i in current if i in indexed and indexed[i] == current[i]))
