"""The refusal decision (issue 12, item 4): how likely it is that the articles do not answer, from the reader's view.

The hard cases change one detail of a real sentence ("thế kỉ XIV" for "XVI", a different name, a year): the
best sentence is then close to the question but lacks the changed word. So the decision reads, for the
reader's best sentence (rag/answer/reader.py) and the retrieved passages:

- cosine: the best sentence's cosine to the question; reader: its reader score; margin: to the second one;
- overlap: the IDF-weighted share of the question's content words the best sentence holds;
- lacking_passages / lacking_sentence: the share of the question's content words that no retrieved passage /
  the best sentence's passage holds;
- key_missing: a number, acronym or Vietnamese name of the question that no passage holds (and
  key_missing_best: that the best sentence's passage lacks);
- type_missing: the question asks for a date, a number or a name (reader.asks_for) and the best sentence has
  none it does not already say;
- english: the question is in English (its content words are only its names and numbers).

probability = logistic(bias + sum of weight * feature); the question is refused at or above the threshold for
its language. Before it, one rule: a question that asks for a date or a number is refused when none of the
reader's first sentences holds one. The weights and thresholds come from eval/calibrate_refusal.py (dev sets,
never eval/qa.jsonl) and live in RefusalSettings (rag/settings.py), with what they measured.
"""

from __future__ import annotations

import math

from rag.answer.answerability import missing_terms
from rag.answer.reader import Reading, asks_for, question_terms
from rag.answer.spans import names
from rag.indexing.lexical import tokenize
from rag.settings import RefusalSettings
from rag.text import VI_LETTERS, normalize, numbers
from rag.types import RetrievalResult

FEATURES = ("cosine", "reader", "margin", "overlap", "lacking_passages", "lacking_sentence", "key_missing",
            "key_missing_best", "type_missing", "english")


def _key_terms(question: str) -> list[str]:
    """The numbers and the names with Vietnamese letters of a question: details a changed question changes."""
    out = sorted(numbers(question))
    out += [normalize(n) for n in names(question) if any(c in VI_LETTERS for c in n.lower())]
    return out


def refusal_features(result: RetrievalResult, readings: list[Reading]) -> dict[str, float]:
    """The decision's inputs for one question (FEATURES, in that order); `readings` as Reader.read gives them."""
    if not readings:
        return dict.fromkeys(FEATURES, 0.0) | {"english": float(result.lang == "en"), "lacking_passages": 1.0,
                                               "lacking_sentence": 1.0, "key_missing": 1.0, "key_missing_best": 1.0}
    best = readings[0]
    second = readings[1].score if len(readings) > 1 else best.score - 1.0
    terms = question_terms(result.question, result.lang)
    passage_tokens = [set(tokenize(f"{p.title} {p.text}")) for p in result.passages]
    everywhere = set().union(*passage_tokens) if passage_tokens else set()
    best_passage = next((toks for p, toks in zip(result.passages, passage_tokens)
                         if p.chunk_id == best.support.passage.chunk_id), set())
    share = (lambda have: sum(t not in have for t in terms) / len(terms)) if terms else (lambda have: 0.0)
    texts = [f"{p.title} {p.text}" for p in result.passages]
    plain_all = normalize(" ".join(texts))
    plain_best = normalize(f"{best.support.passage.title} {best.support.passage.text}")
    keys = _key_terms(result.question)
    key_missing = bool(missing_terms(result.question, texts)) or any(k not in plain_all for k in keys)
    kind = asks_for(result.question)
    return {
        "cosine": best.support.score,
        "reader": best.score,
        "margin": best.score - second,
        "overlap": best.overlap,
        "lacking_passages": share(everywhere),
        "lacking_sentence": share(best_passage),
        "key_missing": float(key_missing),
        "key_missing_best": float(any(k not in plain_best for k in keys)),
        "type_missing": float(kind is not None and not any(r.type_match for r in readings[:1])),
        "english": float(result.lang == "en"),
    }


class RefusalDecision:
    def __init__(self, settings: RefusalSettings) -> None:
        self.settings = settings

    def probability(self, features: dict[str, float]) -> float:
        """The calibrated probability that the passages do not answer."""
        s = self.settings
        z = s.bias + sum(w * features[name] for name, w in zip(FEATURES, s.weights))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def refuses(self, probability: float, lang: str) -> bool:
        s = self.settings
        return s.enabled and probability >= (s.threshold_vi if lang == "vi" else s.threshold_en)

    def lacks_type(self, result: RetrievalResult, readings: list[Reading]) -> bool:
        """The question asks for a date or a number and none of the first sentences holds one."""
        n = self.settings.type_sentences
        return n > 0 and asks_for(result.question) in ("date", "number") and not any(
            r.type_match for r in readings[:n])

    def decide(self, result: RetrievalResult, readings: list[Reading]) -> tuple[bool, float | None]:
        """(refuse, the calibrated probability when that part is on) for a question past the floors."""
        if self.lacks_type(result, readings):
            return True, None
        if not self.settings.weights or not (self.settings.enabled or self.settings.score_when_off):
            return False, None
        # Computed when off too if asked: the eval report's precision-recall curve shows what it would do.
        p = self.probability(refusal_features(result, readings))
        return self.refuses(p, result.lang), p
