"""Turn a file's text into the article: title, date, source, body and photo captions.

The text comes from a file reader (rag/ingest/corpus.py: plain text, Markdown, a web page through trafilatura, a
PDF's pages, a Word document's paragraphs), one block a line. Page furniture that survives it (menus, keyword
lines, "Tin liên quan" / "Tin cùng chuyên mục" lists, post counters, "Tiêu đề Ngày" tables, repeated items) is
dropped. A plain file with no such structure is kept whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BLOCK_KINDS = ("title", "date", "body", "source", "caption")

# A line that is only navigation words ("Underline menu menu close").
_MENU = re.compile(r"^(?:(?:underline|menu|close|search|home|trang chủ|đóng|tìm kiếm)\s*)+$", re.I)
# Headers after which a page lists other articles or tags: everything after is furniture, but captions.
_FURNITURE_HEADERS = re.compile(
    r"^(?:-\s*)?(?:tin liên quan|tin cùng chuyên mục|tin khác|bài viết liên quan|xem thêm|tin mới nhất|"
    r"đọc nhiều|từ khóa|từ khoá|tags?|related news|related articles|read more|more news|"
    r"tiêu đề\s+ngày)\s*:?\s*$",
    re.I,
)
_COUNTER = re.compile(r"^(?:tổng số bài (?:đăng|viết)|lượt xem|số lượt xem|views?)\b.*$", re.I)
_DATE_LINE = re.compile(
    r"^(?:(?:thứ \w+|chủ nhật),?\s*)?(?:(?P<time>\d{1,2}:\d{2})'?\s*(?:-|,)?\s*)?"
    r"(?P<date>\d{1,2}[/-]\d{1,2}[/-]\d{4})(?:\s*(?:-|,)?\s*(?P<time2>\d{1,2}:\d{2})'?)?\s*(?:\(GMT[+-]\d+\))?$",
    re.I,
)
_SOURCE_LINE = re.compile(r"^(?:nguồn|source|theo)\s*:\s*(?P<source>.{2,120})$", re.I)
_AGENCY = re.compile(r"\bTheo (?:đặc phái viên |phóng viên |PV |nhóm phóng viên )?(?P<agency>[A-ZĐ][A-ZĐa-z]{1,15})\b")
_CAPTION = re.compile(r"(?:\((?:ảnh|photo|image|nguồn ảnh)\s*:[^()]{1,100}\)|\b(?:ảnh|photo)\s*:\s*[^.]{1,80})\.?\s*$", re.I)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u3000]+")


@dataclass(frozen=True)
class Block:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Extracted:
    """What a file reader found: the text, one block a line, PAGE_BREAK between the pages of a paged file (a
    PDF: `paged`), and what the file itself says about the article (a web page's metadata), if anything."""

    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    paged: bool = False


PAGE_BREAK = "\f"


@dataclass(frozen=True)
class Article:
    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    # Of a paged file: where each page starts in `text` (page 1 at pages[0]); () for a file without pages.
    pages: tuple[int, ...] = ()

    def block_text(self, block: Block) -> str:
        return self.text[block.start : block.end]


def _clean_line(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _looks_like_title(line: str) -> bool:
    return 8 <= len(line) <= 200 and not line.endswith((".", ":", ";", ",")) and not _CAPTION.search(line)


def clean_article(raw: str | Extracted) -> Article:
    """Split a file's text into article blocks. The text must already be NFC-normalised; PAGE_BREAK ends a line
    (and, in a paged file, a page). A title or date the file gives (an Extracted's) comes first and is not looked for
    in the text; a source line in the text wins over a given source."""
    given = raw if isinstance(raw, Extracted) else Extracted(raw)
    lines: list[tuple[int, str]] = []  # (page, line)
    for page, page_text in enumerate(given.text.split(PAGE_BREAK)):
        for line in page_text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            if line := _clean_line(line):
                lines.append((page, line))

    title = _clean_line(given.title or "") or None
    date = _clean_line(given.date or "") or None
    source: str | None = None
    parts: list[tuple[str, str, int]] = []  # (kind, line, page)
    seen: set[str] = set()
    if title:
        parts.append(("title", title, 0))
        seen.add(title.casefold())
    if date:
        parts.append(("date", date, 0))
        seen.add(date.casefold())
    date_seen = date is not None
    in_furniture = False

    for page, line in lines:
        if _MENU.match(line) or _COUNTER.match(line):
            continue
        if _FURNITURE_HEADERS.match(line):
            in_furniture = True
            continue
        is_caption = bool(_CAPTION.search(line)) and len(line) <= 400
        if in_furniture and not is_caption:
            continue
        key = line.casefold()
        if key in seen:  # a repeated item or caption, or the given title again
            continue
        seen.add(key)
        m = _DATE_LINE.match(line)
        if m and not date_seen:
            date, date_seen = m.group("date").replace("-", "/"), True
            parts.append(("date", line, page))
            continue
        m = _SOURCE_LINE.match(line)
        if m and not is_caption:
            source = source or m.group("source").strip()
            parts.append(("source", line, page))
            continue
        if title is None and not parts and _looks_like_title(line):
            title = line
            parts.append(("title", line, page))
            continue
        parts.append(("caption" if is_caption else "body", line, page))

    source = source or _clean_line(given.source or "") or None
    if source is None:
        for kind, line, _ in parts:
            if kind == "body" and (m := _AGENCY.search(line)):
                source = m.group("agency")
                break

    pieces: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for kind, line, _ in parts:
        if pieces:
            pieces.append("\n\n")
            pos += 2
        blocks.append(Block(kind, pos, pos + len(line)))
        pieces.append(line)
        pos += len(line)
    pages: tuple[int, ...] = ()
    if given.paged:
        # A page with nothing kept starts where the next kept line does, so an offset maps to the last page
        # that starts at or before it.
        count = given.text.count(PAGE_BREAK) + 1
        pages = tuple(next((b.start for b, (_, _, p) in zip(blocks, parts) if p >= page), pos)
                      for page in range(count))
    return Article(text="".join(pieces), title=title, date=date, source=source, blocks=tuple(blocks), pages=pages)
