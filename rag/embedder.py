"""Embedders: the Embedder protocol and the sentence-transformers one (loaded on first use)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .errors import ModelError


class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors; it adds its model's prompts itself."""

    name: str
    prompts: dict

    @property
    def dimension(self) -> int: ...

    @property
    def checksum(self) -> str: ...

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """multilingual-e5-small as a sentence-transformers model folder, with its query:/passage: prompts.

    Vectors are L2-normalised float32, so inner product is cosine similarity.
    """

    prompts = {"query": "query: ", "passage": "passage: "}

    def __init__(self, model_dir: Path, threads: int | None = None, batch_size: int = 16) -> None:
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.batch_size = batch_size
        self._model = None
        self._info = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                from .e5model import ensure_model_folder

                try:
                    self._info = ensure_model_folder(self.model_dir)
                except Exception as exc:  # noqa: BLE001 - reported with what to do
                    raise ModelError(f"the embedding model at {self.model_dir} is not usable: {exc}") from exc
                import torch
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.utils.logging.disable_progress_bar()
                transformers.utils.logging.set_verbosity_error()

                if self.threads:
                    torch.set_num_threads(self.threads)
                self._model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
                self._model.eval()
        return self._model

    @property
    def info(self):
        if self._info is None:
            from .e5model import ensure_model_folder

            self._info = ensure_model_folder(self.model_dir)
        return self._info

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dimension(self) -> int:
        return self.info.dimension

    @property
    def checksum(self) -> str:
        return self.info.checksum

    def _encode(self, texts: Sequence[str], prompt: str, progress: bool) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with torch.inference_mode():
            vecs = model.encode(list(texts), prompt=prompt, batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.prompts["passage"], progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts["query"], False)
