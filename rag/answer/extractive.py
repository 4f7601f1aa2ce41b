"""The extractive answer: the best supporting sentences of the retrieved passages, each cited.

No language model: the sentences are quoted as they stand in the articles, so every fact is cited
by construction. When even the best sentence is far from the question, the answer is a refusal.
"""

from __future__ import annotations

import numpy as np

from rag.indexing.store import IndexData
from rag.types import REFUSAL, Answer, Citation, RetrievalResult, Support


class ExtractiveAnswerer:
    """Picks up to `max_sentences` sentences; refuses below the question language's minimum cosine similarity."""

    name = "extractive"

    def __init__(self, index: IndexData, min_scores: dict[str, float], max_sentences: int = 2,
                 relative_margin: float = 0.03) -> None:
        """`min_scores` per question language ("vi", "en"): the Settings' answer_min_score_vi / _en."""
        self.index = index
        self.max_sentences = max_sentences
        self.min_scores = min_scores
        self.relative_margin = relative_margin
        self._rows = {c.chunk_id: i for i, c in enumerate(index.chunks)}

    def supports(self, result: RetrievalResult) -> list[Support]:
        """Every sentence of the retrieved passages with its cosine similarity to the question, best first."""
        data = self.index
        best: dict[tuple[str, int], Support] = {}
        for p in result.passages:
            row = self._rows.get(p.chunk_id)
            if row is None:
                continue
            rec = data.chunks[row]
            a, b = data.sentence_offsets[row], data.sentence_offsets[row + 1]
            sims = data.sentence_vectors[a:b] @ result.query_vector if result.query_vector is not None else \
                np.zeros(b - a)
            doc = data.docs[rec.doc_id]
            for (s, e), sim in zip(rec.sentences, sims):
                key = (rec.doc_id, s)
                if key not in best or best[key].score < sim:
                    best[key] = Support(p, s, e, doc.text[s:e], float(sim))
        return sorted(best.values(), key=lambda x: -x.score)

    def answer(self, result: RetrievalResult, timings: dict | None = None) -> Answer:
        timings = dict(timings or {})
        ranked = self.supports(result)
        if not ranked or ranked[0].score < self.min_scores[result.lang]:
            return Answer(result.question, result.lang, REFUSAL[result.lang], True, (), result.passages,
                          self.name, timings)
        chosen = [s for s in ranked[: self.max_sentences] if s.score >= ranked[0].score - self.relative_margin]
        chosen.sort(key=lambda s: (s.passage.rank, s.start))
        citations: list[Citation] = []
        parts: list[str] = []
        for n, s in enumerate(chosen, start=1):
            p = s.passage
            citations.append(Citation(n, p.doc_id, p.chunk_id, p.title, p.date, s.text, s.start, s.end, p.source))
            parts.append(f"{s.text} [{n}]")
        return Answer(result.question, result.lang, " ".join(parts), False, tuple(citations), result.passages,
                      self.name, timings)
