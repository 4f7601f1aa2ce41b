"""The embedders a user can pick (Settings.embedder, --embedder): how each is made, set up and checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rag.errors import ModelError
from rag.models.embedder import Embedder


@dataclass(frozen=True)
class EmbedderKind:
    name: str
    help: str
    make: Callable[..., Embedder]  # (model_dir, threads, precision) -> Embedder, nothing loaded yet
    ensure: Callable[[Path], object]  # builds a missing or stale folder; returns its info
    build: Callable[[Path], object]  # rebuilds the folder
    verify: Callable[[Path], object]  # re-hashes the folder's weights; returns its info


def _e5(model_dir: Path, threads: int | None, precision: str) -> Embedder:
    from rag.models.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model_dir, threads=threads, precision=precision)


def _gemma(model_dir: Path, threads: int | None, precision: str) -> Embedder:
    from rag.models.gemma import GemmaEmbedder

    return GemmaEmbedder(model_dir, threads=threads)


def _e5_ensure(path):
    from rag.models.e5 import ensure_model_folder

    return ensure_model_folder(path)


def _e5_build(path):
    from rag.models.e5 import build_model_folder

    return build_model_folder(path)


def _e5_verify(path):
    from rag.models.e5 import verify_model_folder

    return verify_model_folder(path)


def _gemma_ensure(path):
    from rag.models.gemma_folder import GemmaFolderError, build_gemma_folder, ensure_gemma_folder

    try:
        return ensure_gemma_folder(path)
    except GemmaFolderError:
        return build_gemma_folder(path)


def _gemma_build(path):
    from rag.models.gemma_folder import build_gemma_folder

    return build_gemma_folder(path)


def _gemma_verify(path):
    from rag.models.gemma_folder import verify_gemma_folder

    return verify_gemma_folder(path)


KINDS = {
    "embeddinggemma": EmbedderKind(
        "embeddinggemma", "EmbeddingGemma-300M, int8 ONNX (768 dimensions; the default: best in both languages)",
        _gemma, _gemma_ensure, _gemma_build, _gemma_verify),
    "e5-small": EmbedderKind(
        "e5-small", "multilingual-e5-small (384 dimensions; faster questions and builds, weaker on English questions)",
        _e5, _e5_ensure, _e5_build, _e5_verify),
}


def kind(name: str) -> EmbedderKind:
    if name not in KINDS:
        raise ModelError(f"embedder {name!r}: use one of {', '.join(KINDS)}")
    return KINDS[name]


def make_embedder(settings) -> Embedder:
    """The settings' embedder over its folder (loaded on first use)."""
    return kind(settings.embedder).make(settings.model_dir, settings.threads, settings.embed_precision)
