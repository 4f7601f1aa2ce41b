"""The extractive answer: the sentences the reader (rag/answer/reader.py) ranks first, each cited.

No language model: the sentences are quoted as they stand in the articles, so every fact is cited by
construction. The sentences and their scores come with the retrieval result; when the refusal rule
(rag/answer/answerability.py) finds even the best one too far from the question, the answer is a refusal.
"""

from __future__ import annotations

from rag.answer.answerability import RefusalRule
from rag.answer.reader import Reader
from rag.answer.refusal import RefusalDecision
from rag.answer.selection import select_support
from rag.settings import ExtractiveSettings
from rag.types import REFUSAL, Answer, Citation, RetrievalResult


class ExtractiveAnswerer:
    """Up to `settings.max_sentences` sentences within `settings.relative_margin` of the best one's reader score."""

    name = "extractive"

    def __init__(self, rule: RefusalRule, settings: ExtractiveSettings, reader: Reader | None = None,
                 decision: RefusalDecision | None = None) -> None:
        """`decision`: the refusal decision after the rule's floors (rag/answer/refusal.py; None: the floors alone)."""
        self.rule = rule
        self.settings = settings
        self.reader = reader or Reader()
        self.decision = decision

    def choose(self, result: RetrievalResult, readings) -> list:
        """The reader's first sentence, and the next within the margin, in reading order."""
        return self.reader.choose(result, self.settings.max_sentences, self.settings.relative_margin,
                                  readings=readings)

    def answer(self, result: RetrievalResult, timings: dict | None = None) -> Answer:
        timings = dict(timings or {})
        selection = select_support(result, self.rule, self.reader, self.decision, self.choose)
        chosen, scored = selection.chosen, selection.scores
        if not chosen:
            return Answer(result.question, result.lang, REFUSAL[result.lang], True, (), result.passages,
                          self.name, timings, **scored)
        citations: list[Citation] = []
        parts: list[str] = []
        for n, s in enumerate(chosen, start=1):
            p = s.passage
            citations.append(Citation(n, p.doc_id, p.chunk_id, p.title, p.date, s.text, s.start, s.end, p.source))
            parts.append(f"{s.text} [{n}]")
        return Answer(result.question, result.lang, " ".join(parts), False, tuple(citations), result.passages,
                      self.name, timings, **scored)
