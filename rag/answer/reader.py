"""The reader: which words of the retrieved sentences answer the question, read by the trained model
(rag/reader/runtime.py) with the question, and how sure it is that they do.

It reads the retrieval's best sentences (`ReaderSettings.sentences` of them, from any of the retrieved passages,
ranked by cosine + `overlap_vi`/`overlap_en` x the share of the question's rarer words they hold), each with
its neighbours in the passage (`neighbours` on each side: a pronoun's referent is often the sentence before),
windows of one passage that touch merged into one. The windows are read apart, in one batch:
the model was trained on such windows, with windows of the same article that do not hold the answer as
"no answer" examples, so that their margins compare. Each window gives its best span and that span's margin over
"no answer"; the readings come best first by margin + `fusion` x the cosine of the window's best sentence, each
with the sentence its span starts in (the sentence the answer cites).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from rag.indexing.lexical import tokenize
from rag.settings import ReaderSettings
from rag.text import EN_QUESTION_WORDS, VI_QUESTION_PHRASES, cross_language_terms, is_vietnamese
from rag.types import Passage, RetrievalResult, Support

_STOP_VI = frozenset("là của và những các được không gì nào bao nhiêu trong với cho có đã sẽ này đó thì mà ở tại "
                     "theo về như khi để từ một hai vào ra ai đâu sao thế mấy hiện hay bị do".split()
                     + [p.replace(" ", "_") for p in VI_QUESTION_PHRASES])


def ranked_sentences(result: RetrievalResult, overlap_weight: float) -> list[Support]:
    """The retrieved sentences best first by cosine + overlap_weight x the share of the question's content words
    each holds, a word weighted by how rare it is among the retrieved sentences (an English question brings only
    its names and numbers). Cosine alone when the weight is 0."""
    supports = list(result.supports)
    if not overlap_weight or not supports:
        return supports
    text = result.question if result.lang == "vi" else cross_language_terms(result.question)
    stop = _STOP_VI if result.lang == "vi" else EN_QUESTION_WORDS
    terms = list(dict.fromkeys(t for t in tokenize(text) if t not in stop and (len(t) > 1 or t.isdigit())))
    tokens = [set(tokenize(s.text)) for s in supports]
    weight = {t: math.log(1 + len(supports) / (1 + sum(t in toks for toks in tokens))) for t in terms}
    total = sum(weight.values())
    if not total:
        return supports
    score = {id(s): s.score + overlap_weight * sum(v for t, v in weight.items() if t in toks) / total
             for s, toks in zip(supports, tokens)}
    return sorted(supports, key=lambda s: -score[id(s)])


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
    rank: float = 0.0  # what orders readings: margin fused with retrieval's cosine


@dataclass(frozen=True)
class _Window:
    passage: Passage
    start: int  # document offsets
    end: int
    sentences: tuple[Support, ...]
    score: float = 0.0  # the best cosine of the retrieved sentences it was opened for

    @property
    def text(self) -> str:
        return self.words(self.start, self.end)

    def words(self, start: int, end: int) -> str:
        """The passage's text between two document offsets."""
        return self.passage.text[start - self.passage.start:end - self.passage.start]


def windows(result: RetrievalResult, sentences: int, neighbours: int, overlap_weight: float = 0.0) -> list[_Window]:
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
    spans: dict[str, list[list[float]]] = {}
    order: list[str] = []
    passages: dict[str, Passage] = {}
    ranked = ranked_sentences(result, overlap_weight)
    if result.lang == "vi":
        ranked = [s for s in ranked if is_vietnamese(s.text)] or ranked
    for best in ranked[:sentences]:
        pid = best.passage.chunk_id
        row = by_passage[pid]
        i = next(k for k, s in enumerate(row) if s.start == best.start)
        lo, hi = max(0, i - neighbours), min(len(row) - 1, i + neighbours)
        spans.setdefault(pid, []).append([lo, hi, best.score])
        passages[pid] = best.passage
        if pid not in order:
            order.append(pid)
    out = []
    for pid in order:
        row = by_passage[pid]
        merged: list[list] = []
        for lo, hi, score in sorted(spans[pid]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1], merged[-1][2] = max(merged[-1][1], hi), max(merged[-1][2], score)
            else:
                merged.append([lo, hi, score])
        for lo, hi, score in merged:
            out.append(_Window(passages[pid], row[lo].start, row[hi].end, tuple(row[lo:hi + 1]), score))
    return out


class Reader:
    def __init__(self, model: SpanModel, settings: ReaderSettings | None = None) -> None:
        self.model = model
        self.settings = settings or ReaderSettings()

    def read(self, result: RetrievalResult) -> list[Reading]:
        """Each window's best span, best first; [] when nothing was retrieved."""
        s = self.settings
        wins = windows(result, s.sentences, s.neighbours, s.overlap_vi if result.lang == "vi" else s.overlap_en)
        if not wins:
            return []
        out = []
        for span in self.model.read(result.question, [w.text for w in wins]):
            w = wins[span.context]
            start, end = w.start + span.start, min(w.end, w.start + span.end)
            sentence = next((s for s in reversed(w.sentences) if s.start <= start), w.sentences[0])
            out.append(Reading(sentence, w.words(start, end), start, end, span.margin,
                               span.margin + self.settings.fusion * w.score))
        return sorted(out, key=lambda r: -r.rank)
