"""The reader network: multilingual-e5-small's encoder reading <s> question </s></s> passage </s>, and one linear
layer giving each token a start and an end score. Position 0 (<s>) is "no answer", as in SQuAD 2.0 readers.

The base weights come from the e5-small folder set-up builds (rag/models/e5.py); what training changes (every
weight but the word embeddings, which stay frozen) ships in the repository as int8 rows with one float32 scale
each (`save_trained` / `load_trained`), about 21 MB. torch and transformers are imported on first use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FROZEN = ("bert.embeddings.word_embeddings.weight",)
_INT8_MIN_SIZE = 4096  # matrices at least this big are stored as int8 rows; the rest (biases, norms) as float32


def build_net(config: dict):
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel

    class ReaderNet(nn.Module):
        def __init__(self, cfg: BertConfig) -> None:
            super().__init__()
            self.bert = BertModel(cfg, add_pooling_layer=False)
            self.qa = nn.Linear(cfg.hidden_size, 2)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = self.qa(hidden).float()
            masked = logits.masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4)
            return masked[..., 0], masked[..., 1]

    cfg = {k: v for k, v in config.items() if k not in ("architectures", "dtype")}
    return ReaderNet(BertConfig(**cfg))


def load_base(net, base_state: dict[str, np.ndarray]) -> None:
    """Copy a BertModel state dict (numpy or torch, HF names without the `bert.` prefix) into `net.bert`."""
    import torch

    own = net.bert.state_dict()
    missing = [k for k in own if k not in base_state]
    if missing:
        raise ValueError(f"the base weights lack {missing[:3]}")
    net.bert.load_state_dict({k: torch.as_tensor(np.asarray(base_state[k])) for k in own})


def trained_state(net) -> dict[str, np.ndarray]:
    """What training changed: every parameter but the frozen ones, as float32 numpy arrays."""
    return {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items() if k not in FROZEN}


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: (int8 values, float32 scale per row)."""
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def save_trained(state: dict[str, np.ndarray], path: Path, int8: bool = True) -> None:
    """One safetensors file: matrices as int8 rows + scales (`int8`), the rest float32."""
    from safetensors.numpy import save_file

    out: dict[str, np.ndarray] = {}
    for k, v in state.items():
        v = np.ascontiguousarray(v, dtype=np.float32)
        if int8 and v.ndim == 2 and v.size >= _INT8_MIN_SIZE:
            q, s = quantize_rows(v)
            out[k + ".int8"], out[k + ".scale"] = q, s
        else:
            out[k] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(out, str(tmp), metadata={"format": "rag-reader-1"})
    tmp.replace(path)


def load_trained(path: Path) -> dict[str, np.ndarray]:
    """`save_trained`'s file as float32 arrays."""
    from safetensors.numpy import load_file

    raw = load_file(str(path))
    out = {}
    for k, v in raw.items():
        if k.endswith(".int8"):
            name = k[: -len(".int8")]
            out[name] = v.astype(np.float32) * raw[name + ".scale"][:, None]
        elif not k.endswith(".scale"):
            out[k] = v
    return out
