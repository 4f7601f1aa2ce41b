"""EmbeddingGemma-300M as an int8 ONNX model run by ONNX Runtime (loaded on first use).

The folder (rag/models/gemma_folder.py builds it) holds Google's sentence-transformers files and
`onnx/model-int8.onnx`: the Gemma 3 encoder, mean pooling, the two Dense layers and the L2 norm in one graph
written op by op, its matrices quantised to int8 (rag/models/onnx_export.py). On this project's 2-core AVX2
machine that runs a 25-token question in about a quarter of the time of the float32 PyTorch model, at cosine
0.99 to it (README, Figures). Vectors may be cut to a Matryoshka prefix (768, 512, 256 or 128 dimensions) and renormalised.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.errors import ModelError

PROMPTS = {"query": "task: search result | query: ", "passage": "title: none | text: "}
DIMENSIONS = (768, 512, 256, 128)
MAX_TOKENS = 2048
PAD_ID = 0
# Passages are embedded in batches of similar length holding at most this many tokens (padding included):
# 512 measured best for one caller (877 tokens/s; 803 at 256, 841 at 1,024, 645 at 2,048). Parallel callers
# take one text at a time: 928 tokens/s against 963 in 256-token batches, and each vector is the one the text
# gets alone (int8 activations are scaled per run: cosine to float32 0.9943 alone, 0.9899 in padded batches).
BATCH_TOKENS = 512
PARALLEL_BATCH_TOKENS = 1
# Below this many tokens (about 10 s of work) the texts go through the question session, one batch at a time.
PARALLEL_MIN_TOKENS = 8192


def _batches(ids: list[list[int]], budget: int) -> list[list[int]]:
    """Indexes of `ids` in batches of similar length, each at most `budget` tokens once padded."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches, batch = [], []
    for i in order:
        if batch and len(ids[i]) * (len(batch) + 1) > budget:
            batches.append(batch)
            batch = []
        batch.append(i)
    batches.append(batch)
    return batches


class GemmaEmbedder:
    """The Embedder protocol (rag/models/embedder.py) over the ONNX EmbeddingGemma folder."""

    prompts = PROMPTS

    def __init__(self, model_dir: Path, threads: int | None = None, dimension: int = 768,
                 batch_tokens: int = BATCH_TOKENS, parallel_min_tokens: int = PARALLEL_MIN_TOKENS) -> None:
        if dimension not in DIMENSIONS:
            raise ModelError(f"EmbeddingGemma dimension {dimension}: use one of {', '.join(map(str, DIMENSIONS))}")
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.batch_tokens = batch_tokens
        self.parallel_min_tokens = parallel_min_tokens
        self._dimension = dimension
        self.precision = "int8"
        self._session = None
        self._tokenizer = None
        self._info = None
        self._lock = threading.Lock()

    @property
    def info(self):
        if self._info is None:
            from rag.models.gemma_folder import ensure_gemma_folder

            try:
                self._info = ensure_gemma_folder(self.model_dir)
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported with what to do
                raise ModelError(f"the embedding model at {self.model_dir} is not usable: {exc}") from exc
        return self._info

    @property
    def name(self) -> str:
        suffix = "" if self._dimension == 768 else f", first {self._dimension} dimensions"
        return f"{self.info.name}{suffix}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def checksum(self) -> str:
        return self.info.checksum

    def _new_session(self, threads: int):
        import onnxruntime as ort

        info = self.info
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Threads that spin after a run take the cores from whatever runs next in this process: measured
        # with the hand-written graph, e5-small (torch) right after a question 87 ms with spinning against
        # 40 ms without, while the question itself gains nothing (38-41 ms either way).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(info.onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise ModelError(f"{info.onnx_path} does not load in ONNX Runtime ({exc}): "
                             "run `rag setup-model --force` to rebuild it") from exc

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                self.info  # noqa: B018 - a missing or stale folder fails here, with what to run
                tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(MAX_TOKENS)
                self._tokenizer = tokenizer
        return [e.ids for e in self._tokenizer.encode_batch(texts)]

    def _load(self):
        """The session questions and small batches go through (`threads` intra-op threads), made on first use."""
        with self._lock:
            if self._session is None:
                self._session = self._new_session(self.threads or 0)
        return self._session

    def _run(self, ids: list[list[int]], session=None) -> np.ndarray:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), PAD_ID, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        (vecs,) = (session or self._load()).run(None, {"input_ids": input_ids, "attention_mask": mask})
        return vecs

    def _encode(self, texts: Sequence[str], prompt: str, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        ids = self._tokenize([prompt + t for t in texts])
        workers = self.threads or os.cpu_count() or 1
        parallel = workers > 1 and sum(map(len, ids)) >= self.parallel_min_tokens
        batches = _batches(ids, PARALLEL_BATCH_TOKENS if parallel else self.batch_tokens)
        out = np.zeros((len(ids), 768), dtype=np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(ids), unit="text", desc="embedding")
        # Large sets: one single-threaded session run by `workers` callers at once, 928-998 tokens/s here against
        # 877 for one caller on a 2-thread session (an operator's threads wait for each other; callers do not).
        # Made for this call and let go after it, so a server's memory holds one session between builds.
        session = self._new_session(1) if parallel else None  # None: the question session
        pool = ThreadPoolExecutor(workers) if parallel else None
        try:
            done = (pool.map if pool else map)(lambda batch: self._run([ids[i] for i in batch], session), batches)
            for batch, vecs in zip(batches, done):
                out[batch] = vecs
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if pool is not None:
                pool.shutdown()
        if bar is not None:
            bar.close()
        vecs = out[:, : self._dimension]
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.prompts["passage"], progress)

    def embed_queries(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        return self._encode(texts, self.prompts["query"] if prompt is None else prompt)
