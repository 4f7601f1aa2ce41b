"""Hybrid retrieval: dense (chunk + best-sentence similarity) fused with BM25, weighted by question language.

The result carries the passages' sentences scored against the question (RetrievalResult.supports): the
answerers and the UI read those scores, nothing computes them again.

BM25 cannot match English words to Vietnamese text, so an English question leans on the dense ranking
and keeps only a small lexical weight (names and numbers still match across languages).

An embedder scores a passage in the question's language higher than the same content in the other language
(EmbeddingGemma by 0.12 on xquad-vi-dev's aligned questions), so an English caption inside a Vietnamese article
would win English questions whatever they ask. RetrievalSettings.cross_language_offset is added to the cosine of
every chunk and sentence in the other language than the question's, so a passage wins on what it says.
"""

from __future__ import annotations

import numpy as np

from rag.indexing.lexical import tokenize
from rag.indexing.store import IndexData
from rag.models.embedder import Embedder
from rag.settings import RetrievalSettings
from rag.text import cross_language_terms, detect_language, is_vietnamese
from rag.types import Passage, RetrievalResult, Support


def _min_max(x: np.ndarray) -> np.ndarray:
    """x scaled to 0..1 over its own range (all zeros when it has none)."""
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x, dtype=np.float64)


def _ranks(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """1-based rank of each candidate by descending score (ties broken by position)."""
    order = np.argsort(-scores[candidates], kind="stable")
    ranks = np.empty(len(candidates), dtype=np.float64)
    ranks[order] = np.arange(1, len(candidates) + 1)
    return ranks


class HybridRetriever:
    def __init__(self, index: IndexData, embedder: Embedder, settings: RetrievalSettings | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()
        # 1 where a chunk / sentence is Vietnamese, 0 where not, -1 not yet looked at (found on first use).
        self._chunk_vi = np.full(len(index.chunks), -1, dtype=np.int8)
        self._sentence_vi = np.full(len(index.sentence_vectors), -1, dtype=np.int8)

    def chunk_language_offsets(self, rows: np.ndarray, lang: str) -> np.ndarray | float:
        """The cross-language offset of chunk `rows` for a question in `lang` (0 where the languages agree)."""
        offset = self.settings.cross_language_offset
        if not offset:
            return 0.0
        data = self.index
        for row in rows[self._chunk_vi[rows] < 0]:
            rec = data.chunks[row]
            self._chunk_vi[row] = is_vietnamese(data.docs[rec.doc_id].text[rec.start:rec.end])
        return offset * (self._chunk_vi[rows] != int(lang == "vi"))

    def _look_at_sentences(self, rows: np.ndarray) -> None:
        """Fill _sentence_vi for the chunks `rows` whose sentences were not looked at yet (all of a chunk's
        sentences are filled together, so its first one says)."""
        data = self.index
        rows = rows[data.sentence_offsets[rows + 1] > data.sentence_offsets[rows]]
        for row in rows[self._sentence_vi[data.sentence_offsets[rows]] < 0]:
            rec = data.chunks[row]
            text = data.docs[rec.doc_id].text
            a, b = data.sentence_offsets[row], data.sentence_offsets[row + 1]
            self._sentence_vi[a:b] = [is_vietnamese(text[s:e]) for s, e in rec.sentences]

    def sentence_language_offsets(self, row: int, lang: str) -> np.ndarray | float:
        """The cross-language offset of each sentence of chunk `row`."""
        offset = self.settings.cross_language_offset
        if not offset:
            return 0.0
        self._look_at_sentences(np.array([row]))
        a, b = self.index.sentence_offsets[row], self.index.sentence_offsets[row + 1]
        return offset * (self._sentence_vi[a:b] != int(lang == "vi"))

    def dense_candidates(self, qvec: np.ndarray, c: int) -> np.ndarray:
        """Rows of the chunks nearest the question in FAISS, by chunk vector and by best sentence."""
        data = self.index
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        _, rows = data.dense.search(q, min(c, data.dense.ntotal))
        found = [rows[0]]
        if self.settings.sentence_weight > 0 and data.sentence_index.ntotal:
            _, srows = data.sentence_index.search(q, min(c, data.sentence_index.ntotal))
            found.append(data.sentence_owner[srows[0][srows[0] >= 0]])
        rows = np.concatenate(found)
        return np.unique(rows[rows >= 0])

    def dense_scores(self, qvec: np.ndarray, rows: np.ndarray, lang: str = "vi") -> np.ndarray:
        """For chunk `rows`: (1 - w) * chunk cosine + w * best sentence cosine (exact, from the stored vectors),
        each with its cross-language offset."""
        data = self.index
        chunk_sim = data.chunk_vectors[rows] @ qvec + self.chunk_language_offsets(rows, lang)
        w = self.settings.sentence_weight
        starts, ends = data.sentence_offsets[rows], data.sentence_offsets[rows + 1]
        if w == 0 or not np.all(ends > starts):
            return chunk_sim
        lengths = ends - starts
        # every sentence row of the chunks, in chunk order: starts repeated, plus 0..length-1 within each chunk
        first = np.cumsum(lengths) - lengths
        flat = np.repeat(starts - first, lengths) + np.arange(int(lengths.sum()))
        sims = data.sentence_vectors[flat] @ qvec
        if self.settings.cross_language_offset:
            self._look_at_sentences(rows)
            sims = sims + self.settings.cross_language_offset * (self._sentence_vi[flat] != int(lang == "vi"))
        best = np.maximum.reduceat(sims, first)
        return (1 - w) * chunk_sim + w * best

    def retrieve(self, question: str, k: int | None = None, lang: str | None = None,
                 qvec: np.ndarray | None = None) -> RetrievalResult:
        k = k or self.settings.k
        lang = lang or detect_language(question)
        data = self.index
        n = len(data.chunks)
        if n == 0:
            return RetrievalResult(question, lang, ())
        if qvec is None:
            prompt = self.settings.query_prompt_vi if lang == "vi" else self.settings.query_prompt_en
            qvec = self.embedder.embed_queries([question], prompt=prompt)[0]
        c = min(n, self.settings.candidates)
        cand = self.dense_candidates(qvec, c)
        lam = self.settings.lexical_weight_vi if lang == "vi" else self.settings.lexical_weight_en
        terms = question if lang == "vi" else cross_language_terms(question)
        lexical = data.lexical.scores(tokenize(terms)) if lam > 0 and terms and data.lexical else None
        if lexical is not None and lexical.any():
            cand = np.union1d(cand, np.argpartition(-lexical, c - 1)[:c] if c < n else np.arange(n))
        else:
            lexical = None
        fused = self.fuse(self.dense_scores(qvec, cand, lang), None if lexical is None else lexical[cand], lam)
        order = np.argsort(-fused, kind="stable")[:k]
        passages, rows = [], []
        for rank, j in enumerate(order, start=1):
            row = int(cand[j])
            rec = data.chunks[row]
            doc = data.docs[rec.doc_id]
            passages.append(Passage(rank, rec.doc_id, rec.chunk_id, doc.title or rec.doc_id,
                                    doc.text[rec.start : rec.end], rec.start, rec.end, float(fused[j]),
                                    rec.kind, doc.date, doc.source))
            rows.append(row)
        return RetrievalResult(question, lang, tuple(passages), qvec, self.sentences(passages, rows, qvec, lang))

    def fuse(self, dense: np.ndarray, lexical: np.ndarray | None, lam: float) -> np.ndarray:
        """One score per candidate from its dense and BM25 scores, lexical weight `lam` (settings.fusion):
        "scores": (1 - lam) * dense + lam * BM25, each min-max scaled over the candidates, so a BM25 score far above
        the rest counts for more than one rank; "rrf": reciprocal ranks, (1 - lam) / (rrf_k + dense rank) +
        lam / (rrf_k + BM25 rank), a chunk with no query word getting no lexical term."""
        if self.settings.fusion == "scores":
            fused = _min_max(dense) if lexical is None else (1 - lam) * _min_max(dense)
            return fused if lexical is None else fused + lam * _min_max(lexical)
        rrf = self.settings.rrf_k
        everything = np.arange(len(dense))
        fused = (1 - lam) / (rrf + _ranks(dense, everything))
        if lexical is not None:
            lex_ranks = _ranks(lexical, everything)
            lex_ranks[lexical <= 0] = np.inf  # a chunk with no query word gets no lexical credit
            fused = fused + lam / (rrf + lex_ranks)
        return fused

    def sentences(self, passages: list[Passage], rows: list[int], qvec: np.ndarray,
                  lang: str = "vi") -> tuple[Support, ...]:
        """Every sentence of the passages (index rows `rows`), in rank order, with its cosine to the question
        (plus its cross-language offset): one product per passage with its own stored sentence vectors, so a
        passage's scores do not depend on which other passages were retrieved."""
        data = self.index
        out: list[Support] = []
        for p, row in zip(passages, rows):
            rec = data.chunks[row]
            a, b = data.sentence_offsets[row], data.sentence_offsets[row + 1]
            sims = data.sentence_vectors[a:b] @ qvec + self.sentence_language_offsets(row, lang)
            text = data.docs[rec.doc_id].text
            out.extend(Support(p, s, e, text[s:e], float(sim)) for (s, e), sim in zip(rec.sentences, sims))
        return tuple(out)
