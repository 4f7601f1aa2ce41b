"""Deterministic stand-ins for the real models, for fast unit tests."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.U)


class FakeEmbedder:
    """Bag of words hashed into a small vector, L2-normalised: texts sharing words are close.

    `vectors` maps an exact text (after the prompt) to a hand-made vector, for exact-ranking tests.
    Every passage text embedded is recorded in `embedded`, so tests can count what was (re)embedded.
    """

    name = "fake-bow-64"
    prompts = {"query": "query: ", "passage": "passage: "}

    def __init__(self, dimension: int = 64, vectors: dict[str, Sequence[float]] | None = None,
                 delay: float = 0.0, checksum: str = "fake-checksum-1") -> None:
        self._dimension = dimension
        self._checksum = checksum
        self.vectors = {k: np.asarray(v, dtype=np.float32) for k, v in (vectors or {}).items()}
        self.delay = delay
        self.embedded: list[str] = []
        self.queries: list[str] = []
        self.query_prompts: list[str | None] = []

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def checksum(self) -> str:
        return self._checksum

    def _one(self, text: str) -> np.ndarray:
        body = text.split(": ", 1)[1] if text.startswith(("query: ", "passage: ")) else text
        if body in self.vectors:
            v = self.vectors[body].copy()
        else:
            v = np.zeros(self._dimension, dtype=np.float32)
            for w in _WORD.findall(body.lower()):
                h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
                v[h % self._dimension] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        out = []
        for t in texts:
            if self.delay:
                time.sleep(self.delay)
            self.embedded.append(t)
            out.append(self._one(t))
        return np.stack(out) if out else np.zeros((0, self._dimension), np.float32)

    def embed_queries(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        self.queries.extend(texts)
        self.query_prompts.extend([prompt] * len(texts))
        return np.stack([self._one(t) for t in texts])
