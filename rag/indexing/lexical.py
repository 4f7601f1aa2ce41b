"""BM25 over Vietnamese words (pyvi word segmentation), saved with bm25s (numpy + JSON, no pickle)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.settings import LexicalSettings

_TOKEN = re.compile(r"[\w]+(?:[.,/-][\w]+)*", re.U)
_segmenter = None


def _segment(text: str) -> str:
    global _segmenter
    if _segmenter is None:
        from pyvi import ViTokenizer

        _segmenter = ViTokenizer
    return _segmenter.tokenize(text)


def tokenize(text: str) -> list[str]:
    """Lower-cased syllables plus pyvi's compound words ("kim", "ngạch", "kim_ngạch"); numbers whole ("236,6").

    The syllables keep a match when pyvi segments the question and the passage differently
    ("Jared Allen" vs "Jared" + "Allen_sacks"); the compounds reward whole-word matches.
    """
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for w in _TOKEN.findall(_segment(text).lower()):
        if "_" in w:
            out.extend(p for p in w.split("_") if len(p) > 1 or p.isdigit())
        if len(w) > 1 or w.isdigit():
            out.append(w)
    return out


class LexicalIndex:
    """A BM25 index over pre-tokenised chunks; rows line up with the chunk table."""

    def __init__(self, model=None, size: int = 0) -> None:
        self._model = model
        self.size = size

    @classmethod
    def build(cls, tokens: Sequence[Sequence[str]], settings: LexicalSettings = LexicalSettings()) -> "LexicalIndex":
        import bm25s

        model = bm25s.BM25(k1=settings.k1, b=settings.b)
        # bm25s refuses an empty vocabulary: give empty chunks a placeholder token that no query has.
        model.index([list(t) or ["\x00"] for t in tokens], show_progress=False)
        return cls(model, len(tokens))

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> "LexicalIndex":
        import bm25s

        return cls(bm25s.BM25.load(str(folder), allow_pickle=False, mmap=False), size)

    def documents(self) -> int:
        """How many rows the BM25 model was built over (0 for an index of nothing)."""
        return int(self._model.scores["num_docs"]) if self._model is not None else 0

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row for the query (zeros when no query word is in the vocabulary)."""
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        vocab = self._model.vocab_dict
        ids = [vocab[t] for t in query_tokens if t in vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(ids), dtype=np.float32)
