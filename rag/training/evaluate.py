"""The reader's own figures on held-out questions, as the official SQuAD 2.0 evaluation computes them: exact match
and token F1 over normalised text for answerable questions, no-answer accuracy for the others, the threshold on
the margin that maximises overall F1 (`best_f1_thresh`), and the ROC AUC of the margin for answerable vs not."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np


_PUNCT = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—", "…", "«", "»"}
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation (lower case, no punctuation, no English articles, one space), NFC first."""
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Prediction:
    id: str
    text: str  # the best span
    margin: float  # best span score - null score
    answerable: bool  # gold
    answers: tuple[str, ...]  # gold


def predict(reader, examples) -> list[Prediction]:
    """The reader's best span and margin for each example over its own context."""
    out = []
    for ex in examples:
        spans = reader.read(ex.question, [ex.context])
        best = spans[0] if spans else None
        out.append(Prediction(ex.id, best.text if best else "", best.margin if best else -1e9, ex.answerable,
                              ex.answers))
    return out


def figures(preds: list[Prediction], threshold: float | None = None) -> dict:
    """EM and F1 (answerable, unanswerable, all) at `threshold` (None: the best-F1 threshold, returned too),
    no-answer accuracy and ROC AUC. A prediction answers when its margin is above the threshold."""
    margins = np.array([p.margin for p in preds])
    has = np.array([p.answerable for p in preds])
    span_em = np.array([max((exact(p.text, a) for a in p.answers), default=0.0) for p in preds])
    span_f1 = np.array([max((f1(p.text, a) for a in p.answers), default=0.0) for p in preds])

    def at(t: float) -> tuple[np.ndarray, np.ndarray]:
        answers = margins > t
        em = np.where(has, np.where(answers, span_em, 0.0), (~answers).astype(float))
        ff = np.where(has, np.where(answers, span_f1, 0.0), (~answers).astype(float))
        return em, ff

    if threshold is None:
        candidates = np.unique(np.concatenate([margins, [margins.min() - 1]]))
        threshold = float(max(candidates, key=lambda t: (at(t)[1].mean(), -abs(t))))
    em, ff = at(threshold)
    answers = margins > threshold
    return {
        "questions": len(preds), "answerable": int(has.sum()), "unanswerable": int((~has).sum()),
        "threshold": round(threshold, 4),
        "exact": round(float(em.mean()), 4), "f1": round(float(ff.mean()), 4),
        "has_ans_exact": round(float(em[has].mean()), 4) if has.any() else None,
        "has_ans_f1": round(float(ff[has].mean()), 4) if has.any() else None,
        "span_exact_if_answered": round(float(span_em[has].mean()), 4) if has.any() else None,
        "span_f1_if_answered": round(float(span_f1[has].mean()), 4) if has.any() else None,
        "no_ans_accuracy": round(float((~answers[~has]).mean()), 4) if (~has).any() else None,
        "false_refusals": round(float((~answers[has]).mean()), 4) if has.any() else None,
        "roc_auc": round(roc_auc(margins, has), 4) if has.any() and (~has).any() else None,
    }


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive outranks a negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(allv):  # average ranks of ties
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
