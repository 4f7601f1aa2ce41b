"""Load a corpus folder: every .txt, .md and .html file, NFC-normalised and cleaned into articles.

Bad files (not UTF-8, binary, empty, too large) are skipped with one line saying which and why.
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path

from rag.errors import CorpusError
from rag.files import sha256_text
from rag.ingest.cleaning import Article, Block, clean_article
from rag.settings import Settings

SUFFIXES = (".txt", ".md", ".html", ".htm")


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

    @property
    def display_title(self) -> str:
        return self.title or self.doc_id


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


class _HTMLText(HTMLParser):
    """Text of an HTML page, one line per block element; scripts, styles and navigation dropped."""

    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "figcaption", "title",
              "section", "article", "header", "blockquote", "td", "dt", "dd"}
    _SKIP = {"script", "style", "nav", "footer", "noscript", "svg", "form", "aside", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)

    def text(self) -> str:
        return "".join(self.parts)


def html_to_text(source: str) -> str:
    parser = _HTMLText()
    parser.feed(source)
    parser.close()
    return html.unescape(parser.text())


_MD_MARKUP = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[*+-]\s+(?=\S))|!\[[^\]]*\]\([^)]*\)|\[([^\]]+)\]\([^)]*\)", re.M)


def markdown_to_text(source: str) -> str:
    return _MD_MARKUP.sub(lambda m: m.group(1) or "", source)


def read_document(path: Path, doc_id: str, max_bytes: int) -> Document:
    """Read and clean one file; raises CorpusError with the reason when the file is unusable."""
    size = path.stat().st_size
    if size == 0:
        raise CorpusError("the file is empty")
    if size > max_bytes:
        raise CorpusError(f"{size:,} bytes is over the {max_bytes:,}-byte limit (split the file)")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise CorpusError("it looks binary (NUL bytes); save it as UTF-8 text")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"it is not UTF-8 (byte {exc.start}); re-save it as UTF-8") from None
    controls = sum(1 for c in raw[:20000] if unicodedata.category(c) == "Cc" and c not in "\n\r\t\f")
    if controls > 0.01 * min(len(raw), 20000):
        raise CorpusError("it looks binary (control characters); save it as UTF-8 text")
    raw = unicodedata.normalize("NFC", raw)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        raw = html_to_text(raw)
    elif suffix == ".md":
        raw = markdown_to_text(raw)
    article: Article = clean_article(raw)
    if not article.text.strip():
        raise CorpusError("no article text is left after cleaning")
    digest = sha256_text(article.text)
    return Document(doc_id=doc_id, path=str(path), text=article.text, title=article.title, date=article.date,
                    source=article.source, blocks=article.blocks, content_hash=digest)


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
        raise CorpusError(f"corpus folder {folder} does not exist: create it and put .txt, .md or .html articles in it")
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
        raise CorpusError(f"no usable article in {folder}{why}: add .txt, .md or .html files in UTF-8")
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
