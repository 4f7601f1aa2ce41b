"""The trained reader at answer time: for a question and the passages retrieval found, the best answer span of
each passage and how much more likely it is than "no answer".

Scores follow the SQuAD 2.0 readers: a span's score is its start + end logits; a window's null score is the
start + end logits at position 0 (<s>); `margin` = best span score - null score of the span's window. A
question is answerable when the best margin over the passages clears the threshold calibrated on held-out dev
data (rag/reader/weights/manifest.json; ReaderSettings may override it).

Models load on first use: the e5-small folder's weights (set-up builds it), with the shipped trained weights
(rag/reader/weights/reader.safetensors, int8 rows) laid over them. Two runtimes read them: "torch" (the network as
trained, float32) and "onnx-int8" (ONNX Runtime over the same network exported once and quantised to int8 matrices
with float activations, about three times faster on 2 cores; written beside the e5-small folder under the weights'
sha256, so a change of weights makes a new one).
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.reader.features import Featurizer, pad_batch
from rag.settings import ReaderSettings


@dataclass(frozen=True)
class Span:
    context: int  # index of the passage it was read from
    start: int  # character offsets in that passage's text
    end: int
    text: str
    score: float  # start + end logits
    margin: float  # score - the null score of its window: > threshold means "answered"


RUNTIMES = ("torch", "onnx-int8")


class SpanReader:
    def __init__(self, weights: Path, base_folder: Path, max_length: int = 192, stride: int = 64,
                 max_answer_tokens: int = 40, threads: int | None = None, runtime: str = "torch") -> None:
        if runtime not in RUNTIMES:
            raise ModelError(f"reader runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
        self.weights = Path(weights)
        self.base_folder = Path(base_folder)
        self.featurizer = Featurizer(self.base_folder / "tokenizer.json", max_length, stride)
        self.max_answer_tokens = max_answer_tokens
        self.threads = threads
        self.runtime = runtime
        self._net = None
        self._lock = threading.Lock()

    @property
    def net(self):
        """The loaded network: a torch module, or an ONNX Runtime session (onnx-int8)."""
        with self._lock:
            if self._net is None:
                self._net = self._load() if self.runtime == "torch" else self._session()
            return self._net

    def onnx_path(self) -> Path:
        """Where the int8 graph of these weights lives: beside the e5-small folder, named by the weights' sha256."""
        digest = hashlib.sha256(self.weights.read_bytes()).hexdigest()[:16]
        return self.base_folder.parent / "reader-onnx" / f"reader-{digest}-int8r7.onnx"

    def _session(self):
        import onnxruntime as ort

        if not self.weights.is_file():
            raise ModelError(f"the reader's weights ({self.weights}) are missing: run `git checkout -- "
                             f"rag/reader/weights`")
        path = self.onnx_path()
        if not path.is_file():
            self._export(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _export(self, path: Path) -> None:
        """The torch network as an ONNX graph (float32, a temporary file), then its matrices quantised to int8."""
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic

        net = self._load()
        path.parent.mkdir(parents=True, exist_ok=True)
        fp32 = path.with_suffix(".fp32.tmp")
        tmp = path.with_suffix(".tmp")
        ids = torch.ones((2, 16), dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, (ids, torch.ones_like(ids)), str(fp32), input_names=["ids", "mask"],
                                  output_names=["start", "end"], opset_version=17, dynamo=False,
                                  dynamic_axes={"ids": axes, "mask": axes, "start": axes, "end": axes})
                # 7-bit weights (reduce_range): on CPUs without VNNI the u8 x s8 products are summed in saturating
                # 16-bit pairs, which full-range weights can overflow; the same graph then reads alike everywhere.
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                                 reduce_range=True)
            os.replace(tmp, path)
        finally:
            for f in (fp32, tmp):
                f.unlink(missing_ok=True)

    def _load(self):
        import json

        import torch
        from safetensors.numpy import load_file

        from rag.reader.model import build_net, load_base, load_trained

        for path, what in ((self.weights, "the reader's weights"), (self.base_folder / "model.safetensors",
                                                                     "the e5-small folder")):
            if not path.is_file():
                raise ModelError(f"{what} ({path}) are missing: run `bash scripts/setup.sh` (or `git checkout -- "
                                 f"rag/reader/weights` for the reader)")
        if self.threads:
            torch.set_num_threads(self.threads)
        config = json.loads((self.base_folder / "config.json").read_text(encoding="utf-8"))
        net = build_net(config)
        load_base(net, load_file(str(self.base_folder / "model.safetensors")))
        trained = load_trained(self.weights)
        own = net.state_dict()
        unknown = [k for k in trained if k not in own]
        if unknown:
            raise ModelError(f"{self.weights} does not fit the reader network ({unknown[:2]}): "
                             f"run `git checkout -- rag/reader/weights`")
        net.load_state_dict({k: torch.as_tensor(v) for k, v in trained.items()}, strict=False)
        net.eval()
        return net

    def read(self, question: str, contexts: list[str]) -> list[Span]:
        """The best span of each context (at most one each), best margin first; [] for no contexts."""
        if not contexts:
            return []
        windows = self.featurizer.windows_batch([question] * len(contexts), contexts)
        flat = [(ci, w) for ci, ws in enumerate(windows) for w in ws]
        ids, mask = pad_batch([w for _, w in flat], self.featurizer.pad)
        st, en = self.logits(ids, mask)
        best: dict[int, Span] = {}
        for row, (ci, w) in enumerate(flat):
            span = self._best_span(st[row], en[row], w)
            if span is None:
                continue
            s_tok, e_tok, score = span
            a, b = w.offsets[s_tok][0], w.offsets[e_tok][1]
            text = contexts[ci]
            while a < b and text[a].isspace():
                a += 1
            cand = Span(ci, a, b, text[a:b], score, score - float(st[row, 0] + en[row, 0]))
            if ci not in best or cand.margin > best[ci].margin:
                best[ci] = cand
        return sorted(best.values(), key=lambda s: -s.margin)

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and end scores of every token of a padded batch."""
        net = self.net
        if self.runtime != "torch":
            st, en = net.run(None, {"ids": ids, "mask": mask})
            return st, en
        import torch

        with torch.inference_mode():
            st, en = net(torch.from_numpy(ids), torch.from_numpy(mask))
        return st.float().numpy(), en.float().numpy()

    def _best_span(self, st: np.ndarray, en: np.ndarray, w) -> tuple[int, int, float] | None:
        """The best (start, end) among the window's context tokens, end >= start, at most max_answer_tokens."""
        lo = w.context_start
        hi = lo + sum(o is not None for o in w.offsets[lo:])
        if hi <= lo:
            return None
        s, e = st[lo:hi], en[lo:hi]
        n = hi - lo
        k = self.max_answer_tokens
        scores = s[:, None] + e[None, :]
        i, j = np.indices((n, n))
        scores = np.where((j >= i) & (j - i < k), scores, -np.inf)
        flat = int(np.argmax(scores))
        a, b = divmod(flat, n)
        return lo + a, lo + b, float(scores[a, b])


def reader_for(settings: ReaderSettings, threads: int | None = None) -> SpanReader:
    """The reader the settings name: their weights, e5-small folder, window shape and runtime."""
    return SpanReader(settings.weights, settings.base_dir, settings.max_length, settings.stride, threads=threads,
                      runtime=settings.runtime)
