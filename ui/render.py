"""HTML and Markdown for the UI, built from the assistant's results. No Gradio here.

Every piece of document or model text goes through `esc` (HTML) or `md_text` (Markdown shown by the chat,
which allows HTML): a document that contains `<script>` or an `onerror=` attribute is shown as text.
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Sequence

from rag.types import Answer, Citation, Passage

CONTEXT_CHARS = 280  # passage text shown on a card on each side of the quoted sentence


def esc(text: object) -> str:
    """Text for an HTML element or attribute."""
    return html.escape("" if text is None else str(text), quote=True)


_MD_INLINE = re.compile(r"([\\`*_\[\]|~$])")  # emphasis, code, links, tables, strike-through, maths
_MD_LINE_START = re.compile(r"^(\s*|\s*\d+)([#+=-]|(?<=\d)[.)])", re.M)  # headings, lists, rules at a line's start


def md_text(text: str) -> str:
    """Text for the chat's Markdown: HTML characters as entities, Markdown punctuation that could format
    backslash-escaped, so neither markup nor formatting in a document or an answer takes effect."""
    t = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    t = _MD_INLINE.sub(r"\\\1", t)
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), t)


_MARKER = re.compile(r"\[(\d+)\]")


def marker_href(turn: int, n: int) -> str:
    return f"#cite-{turn}-{n}"


def answer_markdown(text: str, turn: int, citations: Sequence[Citation]) -> str:
    """The answer for the chat: its text escaped, each valid [n] a link that opens citation n's source."""
    valid = {c.n for c in citations}
    out, pos = [], 0
    for m in _MARKER.finditer(text):
        out.append(md_text(text[pos:m.start()]))
        n = int(m.group(1))
        out.append(f"[\\[{n}\\]]({marker_href(turn, n)})" if n in valid else md_text(m.group(0)))
        pos = m.end()
    out.append(md_text(text[pos:]))
    return "".join(out)


def timings_text(timings: dict) -> str:
    def ms(key: str) -> str:
        v = timings.get(key)
        return "–" if v is None else f"{v:,.0f} ms"

    return f"retrieval {ms('retrieve_ms')} · first token {ms('first_token_ms')} · total {ms('total_ms')}"


def _meta(date: str | None, source: str | None, doc_id: str, page: int | None = None) -> str:
    parts = [p for p in (date, source) if p] + [doc_id] + ([f"p. {page}"] if page else [])
    return " · ".join(esc(p) for p in parts)


def passage_for(citation: Citation, passages: Iterable[Passage]) -> Passage | None:
    for p in passages:
        if p.chunk_id == citation.chunk_id:
            return p
    for p in passages:
        if p.doc_id == citation.doc_id and p.start <= citation.start and citation.end <= p.end:
            return p
    return None


_BLANK_LINES = re.compile(r"\n\s*\n")


def _highlighted(text: str, start: int, end: int, context: int | None = None) -> str:
    """`text` escaped with text[start:end] in <mark>; with `context`, cut to that many characters each side."""
    a, b = max(0, start), min(len(text), end)
    left, right = text[:a], text[b:]
    if context is not None:  # a card: blank lines between blocks take room and say nothing
        left, right = _BLANK_LINES.sub("\n", left), _BLANK_LINES.sub("\n", right)
    if context is not None:
        if len(left) > context:
            left = "…" + left[len(left) - context:].split(" ", 1)[-1]
        if len(right) > context:
            right = right[:context].rsplit(" ", 1)[0] + "…"
    return f"{esc(left)}<mark>{esc(text[a:b])}</mark>{esc(right)}"


def card_html(citation: Citation, passages: Sequence[Passage], turn: int) -> str:
    p = passage_for(citation, passages)
    if p is not None and p.text[citation.start - p.start: citation.end - p.start] == citation.quote:
        body = _highlighted(p.text, citation.start - p.start, citation.end - p.start, CONTEXT_CHARS)
    else:
        body = f"<mark>{esc(citation.quote)}</mark>"
    return (f'<div class="cite-card" role="button" tabindex="0" data-turn="{turn}" data-n="{citation.n}" '
            f'title="Xem toàn bài · Show the whole article">'
            f'<div class="cite-head"><span class="cite-n">[{citation.n}]</span> '
            f'<span class="cite-title">{esc(citation.title)}</span></div>'
            f'<div class="cite-meta">{_meta(citation.date, citation.source, citation.doc_id, citation.page)}</div>'
            f'<div class="cite-passage">{body}</div></div>')


def cards_html(answer: Answer | None, turn: int, notice: str = "") -> str:
    """One card per citation of the answer; `notice` (already HTML) above them."""
    if answer is None:
        return f'<div class="cite-cards empty">{notice}</div>' if notice else '<div class="cite-cards empty"></div>'
    cards = "".join(card_html(c, answer.passages, turn) for c in answer.citations)
    if not cards:
        cards = '<div class="cite-none">Không có trích dẫn · No citations</div>'
    return f'<div class="cite-cards">{notice}{cards}</div>'


def warning_html(text: str) -> str:
    return f'<div class="rag-warning" role="alert">⚠ {esc(text)}</div>'


def source_html(title: str, date: str | None, source: str | None, doc_id: str, text: str,
                start: int | None = None, end: int | None = None, note: str = "", page: int | None = None) -> str:
    """The whole article, the cited passage in <mark class="focus">, paragraphs kept."""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        before, quote, after = text[:start], text[start:end], text[end:]
        body = f'{esc(before)}<mark class="focus">{esc(quote)}</mark>{esc(after)}'
    else:
        body = esc(text)
    body = "".join(f"<p>{para}</p>" for para in body.split("\n") if para.strip())
    note_html = f'<div class="source-note">{esc(note)}</div>' if note else ""
    return (f'<div class="source-view" data-doc="{esc(doc_id)}"><h3 class="source-title">{esc(title)}</h3>'
            f'<div class="cite-meta">{_meta(date, source, doc_id, page)}</div>{note_html}'
            f'<div class="source-text">{body}</div></div>')


def source_placeholder() -> str:
    return ('<div class="source-view empty">Bấm vào một trích dẫn để xem toàn bài · '
            'Click a citation to read the whole article</div>')


def message_html(text: str, kind: str = "info") -> str:
    """A one-line message (upload results, build reports) as escaped HTML."""
    return f'<div class="rag-msg rag-{esc(kind)}">{esc(text)}</div>'
