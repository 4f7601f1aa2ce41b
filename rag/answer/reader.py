"""The reader: which words of the retrieved sentences answer the question, read by the trained model
(rag/reader/runtime.py) with the question, and how sure it is that they do.

It reads the retrieval's best sentences (`ReaderSettings.sentences` of them, by cosine), each with its
neighbours in the passage (`neighbours` on each side: the model was trained on paragraphs, and a pronoun's
referent is often the sentence before), windows of one passage that touch merged into one. Reading those
instead of whole passages keeps a question to a few hundred tokens. Each window gives its best span and that
span's margin over "no answer"; the readings come best margin first, each with the sentence its span starts in
(the sentence the answer cites).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rag.settings import ReaderSettings
from rag.text import is_vietnamese
from rag.types import Passage, RetrievalResult, Support


class SpanModel(Protocol):
    """rag/reader/runtime.SpanReader, or a fake in tests."""

    def read(self, question: str, contexts: list[str]) -> list: ...


@dataclass(frozen=True)
class Reading:
    support: Support  # the sentence the span starts in
    span: str  # the answer's words, as the article writes them
    start: int  # the span's characters in the document
    end: int
    margin: float  # the model's span score minus its no-answer score


@dataclass(frozen=True)
class _Window:
    passage: Passage
    start: int  # document offsets
    end: int
    sentences: tuple[Support, ...]

    @property
    def text(self) -> str:
        return self.words(self.start, self.end)

    def words(self, start: int, end: int) -> str:
        """The passage's text between two document offsets."""
        return self.passage.text[start - self.passage.start:end - self.passage.start]


def windows(result: RetrievalResult, sentences: int, neighbours: int) -> list[_Window]:
    """The best `sentences` sentences by cosine, each with `neighbours` sentences either side in its passage;
    windows of one passage that overlap or touch are merged. In rank order of their best sentence. A Vietnamese
    question reads Vietnamese sentences when the passages have any: news articles carry English photo captions
    that restate a Vietnamese sentence's subject, and their cosine can come first."""
    by_passage: dict[str, list[Support]] = {}
    for s in result.sentences:
        got = by_passage.setdefault(s.passage.chunk_id, [])
        if all(o.start != s.start for o in got):
            got.append(s)
    for got in by_passage.values():
        got.sort(key=lambda s: s.start)
    spans: dict[str, list[list[int]]] = {}
    order: list[str] = []
    passages: dict[str, Passage] = {}
    ranked = list(result.supports)
    if result.lang == "vi":
        ranked = [s for s in ranked if is_vietnamese(s.text)] or ranked
    for best in ranked[:sentences]:
        pid = best.passage.chunk_id
        row = by_passage[pid]
        i = next(k for k, s in enumerate(row) if s.start == best.start)
        lo, hi = max(0, i - neighbours), min(len(row) - 1, i + neighbours)
        spans.setdefault(pid, []).append([lo, hi])
        passages[pid] = best.passage
        if pid not in order:
            order.append(pid)
    out = []
    for pid in order:
        row = by_passage[pid]
        merged: list[list[int]] = []
        for lo, hi in sorted(spans[pid]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            out.append(_Window(passages[pid], row[lo].start, row[hi].end, tuple(row[lo:hi + 1])))
    return out


class Reader:
    def __init__(self, model: SpanModel, settings: ReaderSettings | None = None) -> None:
        self.model = model
        self.settings = settings or ReaderSettings()

    def read(self, result: RetrievalResult) -> list[Reading]:
        """The windows read as one text, in retrieval order, so that the model weighs them against each other as it
        learnt to weigh a paragraph's sentences (margins of separate texts do not compare); best margin first
        (several when the text is longer than the model's window); [] when nothing was retrieved."""
        wins = windows(result, self.settings.sentences, self.settings.neighbours)
        if not wins:
            return []
        text, starts = "", []
        for w in wins:
            starts.append(len(text) + (1 if text else 0))
            text = f"{text}\n{w.text}" if text else w.text
        out = []
        for span in self.model.read(result.question, [text]):
            i = max(k for k, a in enumerate(starts) if a <= span.start)
            w = wins[i]
            start = w.start + span.start - starts[i]
            end = min(w.end, w.start + span.end - starts[i])
            sentence = next((s for s in reversed(w.sentences) if s.start <= start), w.sentences[0])
            out.append(Reading(sentence, w.words(start, end), start, end, span.margin))
        return sorted(out, key=lambda r: -r.margin)
