"""Whether the retrieved passages can answer a question: one refusal rule for every backend.

A question is refused when its best sentence (the retrieval's sentence scores) is below the floor for the
question's language, and, for a generating backend, when it rests on something the passages never mention.
With that check on, a question whose acronyms a retrieved sentence holds passes the floor ("What is ACPHEED?").
An answer whose best sentence is within `weak_margin` of the floor is flagged as weakly supported.

Does a question rest on something the passages never mention? Numbers and acronyms are checked.

"Kim ngạch năm 2023 đạt bao nhiêu?" over passages that only report 2024, or "the 29th summit" when only the
28th is written about: a model given those passages tends to answer with the nearest fact. Numbers and
acronyms (three capitals or more) read the same in Vietnamese and English text, so the check works for
questions in either language. Measured in eval/README.md: on the seeds it catches 8 of 18 unanswerable
questions and flags 1 of 131 answerable ones; on xquad-vi-dev (questions written without the text, then
translated) it flags about 3% of answerable ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from rag.text import numbers
from rag.types import RetrievalResult

_ACRONYM = re.compile(r"\b[A-ZĐ]{3,}[A-Z0-9]*\b")


def missing_terms(question: str, texts: Iterable[str]) -> list[str]:
    """The numbers and acronyms of `question` that appear in none of `texts`."""
    blob = " ".join(texts)
    have = numbers(blob)
    missing = [n for n in sorted(numbers(question)) if n not in have]
    words = set(re.findall(r"[\w]+", blob))
    missing += [a for a in dict.fromkeys(_ACRONYM.findall(question)) if a not in words]
    return missing


@dataclass(frozen=True)
class Judgement:
    best_score: float | None  # the best sentence's cosine to the question
    floor: float  # below it the question is refused
    missing: tuple[str, ...]  # numbers and acronyms of the question no passage has (when checked)
    low_relevance: bool  # no sentence, or the best one within the margin above the floor

    named: bool = False  # a retrieved sentence holds every acronym of the question (there is at least one)

    @property
    def answerable(self) -> bool:
        return self.best_score is not None and (self.best_score >= self.floor or self.named) and not self.missing


class RefusalRule:
    """`floors` per question language ("vi", "en"): the Settings' answer_min_score_* for the extractive backend,
    generate_min_score_* for a model; `check_terms`: also refuse a question whose numbers or acronyms no passage
    has (a model given such passages tends to answer with the nearest fact; quoted sentences do not)."""

    def __init__(self, floors: dict[str, float], check_terms: bool, weak_margin: float) -> None:
        self.floors = floors
        self.check_terms = check_terms
        self.weak_margin = weak_margin

    def judge(self, result: RetrievalResult) -> Judgement:
        best = result.best_score
        floor = self.floors[result.lang]
        missing: tuple[str, ...] = ()
        named = self.check_terms and best is not None and best < floor and names_every_acronym(result)
        if self.check_terms and best is not None and (best >= floor or named):
            missing = tuple(missing_terms(result.question, [f"{p.title} {p.text}" for p in result.passages]))
        return Judgement(best, floor, missing, best is None or best < floor + self.weak_margin, named)


def names_every_acronym(result: RetrievalResult) -> bool:
    """Whether one retrieved sentence holds every acronym of the question, and it has one: "What is ACPHEED?" is
    too short to come close to its sentence by cosine, but the sentence that spells ACPHEED out answers it."""
    acronyms = set(_ACRONYM.findall(result.question))
    return bool(acronyms) and any(acronyms <= set(re.findall(r"\w+", s.text)) for s in result.supports)
