"""The reader: which retrieved sentence answers the question, from the signals the program already has.

Per sentence of the retrieval result (nothing is embedded again):
- its cosine to the question (RetrievalResult.supports, cross-language offset included);
- overlap: the share of the question's content words the sentence holds, each word weighted by how rare it is
  among the result's sentences (a word every sentence has says nothing). An English question over Vietnamese
  text brings only its names and numbers;
- answer type: whether the sentence holds what the question asks for and the question does not already say:
  a date ("khi nào", "when"), a number ("bao nhiêu", "how many"), a name ("ai", "who", "ở đâu", "where").

score = cosine + overlap weight (per question language) * overlap + type_weight * type match. Weights and what
they measured: ReaderSettings (rag/settings.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from rag.indexing.lexical import tokenize
from rag.answer.spans import span
from rag.settings import ReaderSettings
from rag.text import EN_QUESTION_WORDS, VI_QUESTION_PHRASES, cross_language_terms
from rag.types import RetrievalResult, Support

# What a question asks for, by its asking words (checked in this order: "bao nhiêu năm" asks for a number).
_ASKS = (
    ("date", re.compile(r"\b(khi nào|bao giờ|lúc nào|(ngày|tháng|năm|thời gian|thời điểm|dịp) nào|"
                        r"when|what (year|date|day|month|time)|which (year|date|day|month)|on what date)\b", re.I)),
    ("number", re.compile(r"\b(bao nhiêu|mấy|how (many|much|long|old|far)|what (percentage|share|number|amount))\b",
                          re.I)),
    ("name", re.compile(r"(?<!\w)(ai|người nào|ở đâu|tại đâu|nơi nào|đâu|nước nào|quốc gia nào|who|whom|whose|"
                        r"where|which (country|countries|city|person|organi[sz]ation))(?!\w)", re.I)),
)
_STOP_VI = frozenset("là của và những các được không gì nào bao nhiêu trong với cho có đã sẽ này đó thì mà ở tại "
                     "theo về như khi để từ một hai vào ra ai đâu sao thế mấy hiện hay bị do".split()
                     + [p.replace(" ", "_") for p in VI_QUESTION_PHRASES])


def asks_for(question: str) -> str | None:
    """'date', 'number', 'name', or None: what kind of answer the question asks for."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def holds(kind: str | None, sentence: str, question: str) -> bool:
    """Whether `sentence` holds an answer of `kind` that the question does not already say."""
    return span(kind, sentence, question) is not None


def question_terms(question: str, lang: str) -> list[str]:
    """The question's content words, as the lexical index tokenises them; an English question: its names and
    numbers only (the words a Vietnamese sentence can share with it)."""
    text = question if lang == "vi" else cross_language_terms(question)
    stop = _STOP_VI if lang == "vi" else EN_QUESTION_WORDS
    return list(dict.fromkeys(t for t in tokenize(text) if t not in stop and (len(t) > 1 or t.isdigit())))


@dataclass(frozen=True)
class Reading:
    """A sentence, its cosine, and what the reader made of it."""

    support: Support
    overlap: float
    type_match: bool
    score: float


class Reader:
    def __init__(self, settings: ReaderSettings | None = None) -> None:
        self.settings = settings or ReaderSettings()

    def read(self, result: RetrievalResult) -> list[Reading]:
        """Every sentence of the result, best first."""
        supports = list(result.supports)
        if not supports:
            return []
        terms = question_terms(result.question, result.lang)
        tokens = [set(tokenize(s.text)) for s in supports]
        n = len(supports)
        weight = {t: math.log(1 + n / (1 + sum(t in toks for toks in tokens))) for t in terms}
        total = sum(weight.values())
        kind = asks_for(result.question)
        w = self.settings
        weight_overlap = w.overlap_weight_vi if result.lang == "vi" else w.overlap_weight_en
        out = []
        for s, toks in zip(supports, tokens):
            overlap = sum(v for t, v in weight.items() if t in toks) / total if total else 0.0
            match = holds(kind, s.text, result.question)
            out.append(Reading(s, overlap, match, s.score + weight_overlap * overlap + w.type_weight * match))
        return sorted(out, key=lambda r: -r.score)

    def choose(self, result: RetrievalResult, max_sentences: int, margin: float,
               usable: Callable[[str], bool] | None = None, readings: list[Reading] | None = None) -> list[Support]:
        """The first sentence, and those of its article after it within `margin` of its score, at most
        `max_sentences`, in reading order (passage rank, then position); `usable` leaves sentences out before the
        ranking; `readings`: what read(result) gave, when the caller has it. A sentence of another article is a
        different story: allowing it (extractive answers, this AVX-512 machine) gave right 0.633 / citation
        precision 0.661 on viquad2-dev against 0.670 / 0.700 now, xquad-vi-dev vi 0.797 / 0.827 against 0.807 /
        0.836, en citation precision 0.744 against 0.765, eval/qa.jsonl vi 0.846 / 0.873 against 0.862 / 0.886."""
        readings = self.read(result) if readings is None else readings
        ranked = [r for r in readings if usable is None or usable(r.support.text)]
        if not ranked:
            return []
        doc = ranked[0].support.passage.doc_id
        ranked = [r for r in ranked if r.support.passage.doc_id == doc]
        chosen = [r.support for r in ranked[:max_sentences] if r.score >= ranked[0].score - margin]
        return sorted(chosen, key=lambda s: (s.passage.rank, s.start))
