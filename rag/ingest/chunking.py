"""Sentence-aware chunks with character offsets into their document and content-hash ids."""

from __future__ import annotations

from dataclasses import dataclass

from rag.files import sha256_text
from rag.ingest.cleaning import Block
from rag.ingest.corpus import Document
from rag.settings import ChunkSettings
from rag.text import Span, split_sentences


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    kind: str  # "body" or "caption"
    sentences: tuple[Span, ...]  # absolute offsets in the document


def _fit(text: str, span: Span, max_chars: int) -> list[Span]:
    """Cut a sentence longer than max_chars at clause or word boundaries."""
    pieces: list[Span] = []
    a = span.start
    while span.end - a > max_chars:
        window = text[a : a + max_chars]
        cut = max(window.rfind("; "), window.rfind(", "))
        if cut < max_chars // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = max_chars - 1
        pieces.append(Span(a, a + cut + 1))
        a += cut + 1
        while a < span.end and text[a].isspace():
            a += 1
    if a < span.end:
        pieces.append(Span(a, span.end))
    return [p for p in pieces if p.end > p.start]


def _groups(blocks: tuple[Block, ...], length: int) -> list[tuple[str, list[Block]]]:
    """Consecutive blocks that may share a chunk: captions apart from the rest."""
    if not blocks:
        return [("body", [Block("body", 0, length)])]
    groups: list[tuple[str, list[Block]]] = []
    for b in blocks:
        kind = "caption" if b.kind == "caption" else "body"
        if groups and groups[-1][0] == kind:
            groups[-1][1].append(b)
        else:
            groups.append((kind, [b]))
    return groups


def chunk_id(doc_id: str, text: str, ordinal: int = 0) -> str:
    h = sha256_text(f"{doc_id}\x00{ordinal}\x00{text}")
    return h[:20]


def chunk_document(doc: Document, settings: ChunkSettings) -> list[Chunk]:
    """Chunks of whole sentences up to settings.max_chars, with `overlap_sentences` carried over."""
    text = doc.text
    chunks: list[Chunk] = []
    used_ids: set[str] = set()

    def emit(kind: str, sents: list[Span]) -> None:
        start, end = sents[0].start, sents[-1].end
        body = text[start:end]
        ordinal = 0
        cid = chunk_id(doc.doc_id, body)
        while cid in used_ids:
            ordinal += 1
            cid = chunk_id(doc.doc_id, body, ordinal)
        used_ids.add(cid)
        chunks.append(Chunk(cid, doc.doc_id, start, end, body, kind, tuple(sents)))

    for kind, blocks in _groups(doc.blocks, len(text)):
        sents: list[Span] = []
        for b in blocks:
            # A caption is one unit ("... lần thứ 28. Ảnh: Dương Giang-TTXVN"), not two sentences.
            units = [Span(b.start, b.end)] if kind == "caption" else split_sentences(text, b.start, b.end)
            for s in units:
                sents.extend(_fit(text, s, settings.max_chars))
        current: list[Span] = []
        fresh = 0  # sentences in `current` not carried over from the previous chunk
        for s in sents:
            if current and s.end - current[0].start > settings.max_chars:
                emit(kind, current)
                keep = current[-settings.overlap_sentences :] if settings.overlap_sentences else []
                while keep and s.end - keep[0].start > settings.max_chars:
                    keep = keep[1:]
                current, fresh = list(keep), 0
            current.append(s)
            fresh += 1
        if current and fresh:
            emit(kind, current)
    return chunks
