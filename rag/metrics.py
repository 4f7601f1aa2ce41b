"""Retrieval metrics on ranked passages (document level and passage level)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def distinct(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def hit_at_k(ranked_doc_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 when a gold document is among the first k distinct documents."""
    gold = set(gold)
    return float(any(d in gold for d in distinct(ranked_doc_ids)[:k]))


def mrr_at_k(ranked_doc_ids: Sequence[str], gold: Iterable[str], k: int = 10) -> float:
    gold = set(gold)
    for i, d in enumerate(distinct(ranked_doc_ids)[:k], start=1):
        if d in gold:
            return 1.0 / i
    return 0.0


def passage_hit_at_k(ranked_texts: Sequence[str], gold_passages: Iterable[str], k: int) -> float:
    """1.0 when one of the first k passages contains a gold passage."""
    gold = [g for g in gold_passages if g]
    return float(any(g in t for t in ranked_texts[:k] for g in gold))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")
