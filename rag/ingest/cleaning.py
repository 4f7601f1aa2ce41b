"""Turn a scraped news page into the article: title, date, source, body and photo captions.

Page furniture (menus, keyword lines, "Tin liên quan" / "Tin cùng chuyên mục" lists, post counters,
"Tiêu đề Ngày" tables, repeated items) is dropped. A plain file with no such structure is kept whole.
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
class Article:
    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    blocks: tuple[Block, ...] = field(default_factory=tuple)

    def block_text(self, block: Block) -> str:
        return self.text[block.start : block.end]


def _clean_line(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _looks_like_title(line: str) -> bool:
    return 8 <= len(line) <= 200 and not line.endswith((".", ":", ";", ",")) and not _CAPTION.search(line)


def clean_article(raw: str) -> Article:
    """Split a page into article blocks. `raw` must already be NFC-normalised text."""
    lines = [_clean_line(x) for x in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [x for x in lines if x]

    title: str | None = None
    date: str | None = None
    source: str | None = None
    parts: list[tuple[str, str]] = []
    seen: set[str] = set()
    in_furniture = False

    for line in lines:
        if _MENU.match(line) or _COUNTER.match(line):
            continue
        if _FURNITURE_HEADERS.match(line):
            in_furniture = True
            continue
        is_caption = bool(_CAPTION.search(line)) and len(line) <= 400
        if in_furniture and not is_caption:
            continue
        key = line.casefold()
        if key in seen:  # a repeated item or caption
            continue
        seen.add(key)
        m = _DATE_LINE.match(line)
        if m and date is None:
            date = m.group("date").replace("-", "/")
            parts.append(("date", line))
            continue
        m = _SOURCE_LINE.match(line)
        if m and not is_caption:
            source = source or m.group("source").strip()
            parts.append(("source", line))
            continue
        if title is None and not parts and _looks_like_title(line):
            title = line
            parts.append(("title", line))
            continue
        parts.append(("caption" if is_caption else "body", line))

    if source is None:
        for kind, line in parts:
            if kind == "body" and (m := _AGENCY.search(line)):
                source = m.group("agency")
                break

    pieces: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for kind, line in parts:
        if pieces:
            pieces.append("\n\n")
            pos += 2
        blocks.append(Block(kind, pos, pos + len(line)))
        pieces.append(line)
        pos += len(line)
    return Article(text="".join(pieces), title=title, date=date, source=source, blocks=tuple(blocks))
