"""One frozen settings object, read from the environment (RAG_*) and overridable by the CLI."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RagError

ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut. Part of the index manifest: changing it needs a rebuild."""

    max_chars: int = 1000
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if self.max_chars < 100:
            raise RagError(f"chunk size {self.max_chars} is too small: use at least 100 characters")
        if not 0 <= self.overlap_sentences <= 3:
            raise RagError("chunk overlap must be 0 to 3 sentences")


@dataclass(frozen=True)
class RetrievalSettings:
    """How dense and lexical scores are fused (see rag/retriever.py)."""

    k: int = 5
    candidates: int = 50
    rrf_k: int = 60
    # Weight of the lexical (BM25) ranking in the fusion, per question language. An English question
    # only brings its names and numbers to BM25 (see retriever.cross_language_terms).
    lexical_weight_vi: float = 0.3
    lexical_weight_en: float = 0.1
    # Chunk score = (1 - sentence_weight) * chunk similarity + sentence_weight * best sentence similarity.
    sentence_weight: float = 0.5
    # multilingual-e5's "query: " prompt, except for English questions over Vietnamese text, which
    # measured better without it (xquad-vi-dev hit@1 0.866 vs 0.858). None keeps the model's prompt.
    query_prompt_vi: str | None = None
    query_prompt_en: str | None = ""

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 50:
            raise RagError(f"k={self.k}: ask for 1 to 50 passages")
        for name in ("lexical_weight_vi", "lexical_weight_en", "sentence_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise RagError(f"{name} must be between 0 and 1")


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: _env_path("RAG_CORPUS", ROOT / "seeds"))
    index_dir: Path = field(default_factory=lambda: _env_path("RAG_INDEX", ROOT / "index"))
    model_dir: Path = field(default_factory=lambda: _env_path("RAG_MODEL_DIR", ROOT / "models" / "e5-small"))
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    # Below this cosine similarity between the question and its best sentence, the extractive answer is a
    # refusal. Set per question language at the 5th percentile of the answerable xquad-vi-dev questions'
    # best-sentence scores (vi 0.850, en 0.786): English questions over Vietnamese text score lower.
    answer_min_score_vi: float = 0.85
    answer_min_score_en: float = 0.79
    max_file_bytes: int = 5_000_000
    max_question_chars: int = 2000
    # Embedding model precision: auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16.
    embed_precision: str = field(default_factory=lambda: os.environ.get("RAG_EMBED_PRECISION", "auto"))
    threads: int = field(default_factory=lambda: int(os.environ.get("RAG_THREADS", "0")) or (os.cpu_count() or 1))

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (None values are ignored, so CLI defaults pass through)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
