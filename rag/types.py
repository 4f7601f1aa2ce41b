"""The objects that pass between the stages: passages found, sentences that support an answer, the answer and
its citations, and the events of an answer being written. Every stage imports them from here; this module
imports nothing from the rest of rag/.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What a reply says when the articles do not answer the question.
REFUSAL = {
    "vi": "Tôi không tìm thấy thông tin này trong các bài viết.",
    "en": "I could not find this in the articles.",
}


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

    def to_json(self) -> dict:
        return {"n": self.n, "doc_id": self.doc_id, "chunk_id": self.chunk_id, "title": self.title,
                "date": self.date, "quote": self.quote, "start": self.start, "end": self.end}


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

    def to_json(self) -> dict:
        return {"question": self.question, "lang": self.lang, "answer": self.text, "refused": self.refused,
                "citations": [c.to_json() for c in self.citations], "backend": self.backend,
                "timings": {k: round(v, 1) for k, v in self.timings.items()}}


@dataclass(frozen=True)
class Support:
    """A sentence of a retrieved passage and how close it is to the question."""

    passage: Passage
    start: int
    end: int
    text: str
    score: float


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
class RetrievalResult:
    question: str
    lang: str
    passages: tuple[Passage, ...]
    query_vector: np.ndarray | None = None

    def to_json(self) -> dict:
        return {"question": self.question, "lang": self.lang, "passages": [p.to_json() for p in self.passages]}


@dataclass(frozen=True)
class Preview:
    """Sent before the model's first token: what the model will read, and the time retrieval took."""

    sentences: tuple[Passage, ...]
