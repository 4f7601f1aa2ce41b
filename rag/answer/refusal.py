"""The one place that decides whether the articles answer a question.

Two checks, in order:
1. The refusal rule (rag/answer/answerability.py): no retrieved sentence close enough to the question (the
   floors), or, for a generating backend, a number or acronym of the question that no passage has. No model.
2. The trained reader (rag/answer/reader.py): its best span's margin over "no answer" must reach the
   threshold for the question's language. The thresholds were calibrated on held-out dev questions read the
   way answers read them (eval/calibrate_reader.py; ReaderSettings says what they measured). With
   ReaderSettings.floor_margin set, a question refused only by the floor's cosine is read too, and answered when
   its margin reaches that higher bar.

`decide` returns the refusal and the score the eval report's refusal curve is drawn from: the best margin
(None when the rule refused before the reader ran).
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer.answerability import Judgement, RefusalRule
from rag.answer.reader import Reader, Reading
from rag.types import RetrievalResult


@dataclass
class Decision:
    refused: bool
    readings: list[Reading]  # best first; empty when the rule refused
    judgement: Judgement
    margin: float | None = None  # the best reading's, when the reader ran


class RefusalDecision:
    def __init__(self, rule: RefusalRule, reader: Reader) -> None:
        self.rule = rule
        self.reader = reader

    def threshold(self, lang: str) -> float:
        return self.reader.settings.threshold(lang)

    def decide(self, result: RetrievalResult) -> Decision:
        judgement = self.rule.judge(result)
        below_floor_only = not judgement.answerable and not judgement.missing and judgement.best_score is not None
        overrule = self.reader.settings.floor_margin
        if not judgement.answerable and (overrule is None or not below_floor_only):
            return Decision(True, [], judgement)
        readings = self.reader.read(result)
        margin = readings[0].margin if readings else None
        needed = self.threshold(result.lang) if judgement.answerable else max(overrule, self.threshold(result.lang))
        refused = margin is None or margin < needed
        return Decision(refused, readings, judgement, margin)
