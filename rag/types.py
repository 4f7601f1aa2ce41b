"""The objects that pass between the stages, in the order a question meets them: the passages retrieval finds
and the sentences in them that may answer (scored once, by retrieval), the answer with its citations, and
the events of an answer being written. Every stage imports them from here; this module imports nothing from
the rest of rag/ but its errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Iterator, Union

import numpy as np

from rag.errors import RagError

# What a reply says when the articles do not answer the question.
REFUSAL = {
    "vi": "Tôi không tìm thấy thông tin này trong các bài viết.",
    "en": "I could not find this in the articles.",
}
# What a model is told to write when the passages do not answer (rag/answer/prompts.py), and what the
# program then turns into REFUSAL.
NOT_FOUND = "NOT_FOUND"


# --- retrieval ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Passage:
    rank: int
    doc_id: str
    chunk_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    kind: str = "body"
    date: str | None = None
    source: str | None = None

    def to_json(self) -> dict:
        return {"rank": self.rank, "doc_id": self.doc_id, "chunk_id": self.chunk_id, "title": self.title,
                "text": self.text, "start": self.start, "end": self.end, "score": round(float(self.score), 6)}


@dataclass(frozen=True)
class Support:
    """A sentence of a retrieved passage and its cosine similarity to the question."""

    passage: Passage
    start: int  # offsets in the passage's document
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class RetrievalResult:
    question: str
    lang: str  # the question's language
    passages: tuple[Passage, ...]
    query_vector: np.ndarray | None = None
    # Every sentence of every passage, in rank order, with its cosine to the question: computed once, by
    # retrieval. A sentence that two overlapping passages share is here twice.
    sentences: tuple[Support, ...] = ()

    @cached_property
    def supports(self) -> tuple[Support, ...]:
        """Each sentence once, best first: of a sentence two passages share, the copy with the higher cosine
        (the better-ranked passage on a tie)."""
        best: dict[tuple[str, int], Support] = {}
        for s in self.sentences:
            key = (s.passage.doc_id, s.start)
            if key not in best or best[key].score < s.score:
                best[key] = s
        return tuple(sorted(best.values(), key=lambda x: -x.score))

    @property
    def best_score(self) -> float | None:
        return self.supports[0].score if self.supports else None

    def top(self, k: int) -> "RetrievalResult":
        """The first `k` passages and their sentences: exactly what a retrieval with k passages finds."""
        if k >= len(self.passages):
            return self
        return RetrievalResult(self.question, self.lang, self.passages[:k], self.query_vector,
                               tuple(s for s in self.sentences if s.passage.rank <= k))

    def to_json(self) -> dict:
        return {"question": self.question, "lang": self.lang, "passages": [p.to_json() for p in self.passages]}


# --- the answer ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    quote: str
    start: int
    end: int
    source: str | None = None
    page: int | None = None  # of a PDF: the page the quote starts on (from 1)

    def to_json(self) -> dict:
        return {"n": self.n, "doc_id": self.doc_id, "chunk_id": self.chunk_id, "title": self.title,
                "date": self.date, "quote": self.quote, "start": self.start, "end": self.end, "page": self.page}


@dataclass(frozen=True)
class Answer:
    question: str
    lang: str
    text: str
    refused: bool
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    backend: str
    timings: dict
    draft: str = ""  # a model's text before its citations were checked ("" for extractive answers)
    refusal_probability: float | None = None  # a local model's calibrated refusal score (rag/models/chat.py)
    # The best sentence's cosine to the question, and whether it is close to the line below which the
    # backend refuses (rag/answer/answerability.py): the UI warns about such answers.
    support_score: float | None = None
    low_relevance: bool = False

    def to_json(self) -> dict:
        return {"question": self.question, "lang": self.lang, "answer": self.text, "refused": self.refused,
                "citations": [c.to_json() for c in self.citations], "backend": self.backend,
                "timings": {k: round(v, 1) for k, v in self.timings.items()}}


# --- the events of an answer being made ---------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    """Sent before the model's first token: the sentences the model will read, numbered 1..n, and, when the
    program has one, the extractive answer to show until the model's checked answer replaces it."""

    sentences: tuple[Passage, ...]
    answer: str = ""
    kind: ClassVar[str] = "preview"


@dataclass(frozen=True)
class TextDelta:
    """More of the answer's text, as the model writes it (before its citations are checked)."""

    text: str
    kind: ClassVar[str] = "text"


@dataclass(frozen=True)
class Done:
    """The final answer, its citations checked; always the last event."""

    answer: Answer
    kind: ClassVar[str] = "done"


Event = Union[Preview, TextDelta, Done]


class AnswerStream:
    """One question's answer as it is made: iterate it for the events (Preview, TextDelta..., Done), or call
    answer() for the final Answer (the rest of the stream is read)."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events
        self._answer: Answer | None = None
        self.text = ""  # what the model wrote so far, since the last Preview

    def __iter__(self) -> Iterator[Event]:
        for event in self._events:
            if event.kind == "preview":  # a new start: the hybrid mode's fallback writes a second time
                self.text = ""
            elif event.kind == "text":
                self.text += event.text
            elif event.kind == "done":
                self._answer = event.answer
            yield event

    def answer(self) -> Answer:
        for _ in self:
            pass
        if self._answer is None:
            raise RagError("the answer ended without a final answer: try again, or use --backend extractive")
        return self._answer
