"""Export the EmbeddingGemma sentence-transformers folder to one ONNX graph and quantise its matrices to int8.

The graph takes input_ids and attention_mask (batch x tokens, right-padded with 0) and returns the L2-normalised
768-dimension sentence vectors: the Gemma 3 encoder with its bidirectional attention (full, and a +-511-token
window on the sliding layers, as transformers builds it), mean pooling over the real tokens, the 768->3072 and
3072->768 Dense layers and the norm. transformers' vmap mask builder does not export, so the wrapper passes the
two additive masks itself. Quantisation is ONNX Runtime's dynamic int8 of every MatMul with a constant weight
(per-tensor weights, activations quantised at run time); the token embedding table stays float32.

Needs torch, transformers, onnx and onnxruntime; run once by set-up (about 2 minutes here).
"""

from __future__ import annotations

import warnings
from pathlib import Path


def _wrapper(folder: Path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager", local_files_only=True).eval()
    dense = [next(iter(load_file(str(folder / name / "model.safetensors")).values())) for name in ("2_Dense", "3_Dense")]
    window = int(model.config.sliding_window)

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("dense2", dense[0])
            self.register_buffer("dense3", dense[1])

        def forward(self, input_ids, attention_mask):
            n = input_ids.shape[1]
            keep = attention_mask[:, None, None, :].bool()
            pos = torch.arange(n)
            band = ((pos[:, None] - pos[None, :]).abs() < window)[None, None]
            neg = torch.finfo(torch.float32).min
            full = torch.zeros(keep.shape, dtype=torch.float32).masked_fill(~keep, neg)
            sliding = torch.zeros((input_ids.shape[0], 1, n, n), dtype=torch.float32).masked_fill(~(keep & band), neg)
            hidden = self.model(input_ids=input_ids,
                                attention_mask={"full_attention": full, "sliding_attention": sliding}).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(pooled @ self.dense2.T @ self.dense3.T, dim=-1)

    return Encoder().eval()


def export_int8(folder: Path, dest: Path, work: Path) -> None:
    """Write the int8 graph to `dest`, using `work` (a folder on the same disk) for the float32 one."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder, dest, work = Path(folder), Path(dest), Path(work)
    fp32 = work / "model-fp32.onnx"
    encoder = _wrapper(folder)
    ids = torch.tensor([[2, 3250, 236787, 7293, 1], [2, 3250, 236787, 1, 0]])
    mask = (ids > 0).long()
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(encoder, (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    del encoder
    quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     extra_options={"MatMulConstBOnly": True})
    fp32.unlink(missing_ok=True)
