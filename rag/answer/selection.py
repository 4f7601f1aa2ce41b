"""Which sentences an answer stands on, or none (a refusal): the step every answerer without a model's judgement
takes. The refusal rule's floors first (rag/answer/answerability.py), then the reader's view of the sentences
(rag/answer/reader.py) and the refusal decision on it (rag/answer/refusal.py), then the reader's choice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rag.answer.answerability import RefusalRule
from rag.answer.reader import Reader, Reading
from rag.answer.refusal import RefusalDecision
from rag.types import RetrievalResult, Support


@dataclass
class Selection:
    chosen: list[Support]  # empty: the answer is a refusal
    scores: dict = field(default_factory=dict)  # support_score, low_relevance, refusal_probability: for the Answer


def select_support(result: RetrievalResult, rule: RefusalRule, reader: Reader, decision: RefusalDecision | None,
                   choose: Callable[[RetrievalResult, list[Reading]], list[Support]]) -> Selection:
    """`choose(result, readings)` picks the sentences from the reader's readings (best first)."""
    judgement = rule.judge(result)
    scores = {"support_score": judgement.best_score, "low_relevance": judgement.low_relevance}
    if not judgement.answerable:
        return Selection([], scores)
    readings = reader.read(result)
    if decision is not None:
        refuse, scores["refusal_probability"] = decision.decide(result, readings)
        if refuse:
            return Selection([], scores)
    return Selection(choose(result, readings) if readings else [], scores)
