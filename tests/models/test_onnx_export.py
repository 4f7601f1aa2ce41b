"""The hand-written ONNX graph against transformers' Gemma 3 on a tiny random model (same code path, small sizes)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rag.models.onnx_export import build_float32, export_int8  # noqa: E402

CALIBRATION = np.random.default_rng(3).integers(1, 64, size=(6, 9)).tolist()  # token ids of the tiny vocabulary


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-layer EmbeddingGemma-shaped folder with random weights: one sliding layer, one full layer, a window
    of 4 raw (|i - j| < 3 once transformers halves it), so 12-token texts see both kinds of attention."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny-gemma")
    config = transformers.Gemma3TextConfig(
        vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=3,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=64, sliding_window=4, query_pre_attn_scalar=16,
        layer_types=["sliding_attention", "full_attention"], use_bidirectional_attention=True,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                         "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
        pad_token_id=0)
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    model.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["sliding_window"] == 4  # as written, not halved
    dense = {}
    for name, shape in (("2_Dense", (96, 48)), ("3_Dense", (48, 96))):
        (folder / name).mkdir()
        dense[name] = torch.randn(shape) * 0.2
        save_file({"linear.weight": dense[name]}, str(folder / name / "model.safetensors"))
    return folder, model, dense


def reference(model, dense, ids, mask):
    with torch.no_grad():
        h = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
        m = torch.tensor(mask).unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1)
        return torch.nn.functional.normalize(pooled @ dense["2_Dense"].T @ dense["3_Dense"].T, dim=-1).numpy()


def run(path, ids, mask):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": np.array(ids, dtype=np.int64), "attention_mask": np.array(mask, dtype=np.int64)})[0]


def test_the_float32_graph_matches_transformers_with_padding_and_the_sliding_window(tiny, tmp_path):
    folder, model, dense = tiny
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 64, size=(2, 12)).tolist()
    ids[1][7:] = [0] * 5
    mask = [[1] * 12, [1] * 7 + [0] * 5]
    nodes = build_float32(folder, tmp_path / "tiny.onnx")
    assert nodes < 2 * 25 + 40  # about 25 a layer: no shape arithmetic
    got, want = run(tmp_path / "tiny.onnx", ids, mask), reference(model, dense, ids, mask)
    # float16 token table: the only rounding the graph adds
    assert np.abs(got - want).max() < 5e-3, np.abs(got - want).max()
    # A window of 512 instead of the halved 257 (the mistake this guards against) gives a different vector.
    wrong_window = np.abs(got[0] - reference_with_window(model, dense, ids[:1], mask[:1], 4)).max()
    assert wrong_window > 10 * np.abs(got[0] - want[0]).max()


def reference_with_window(model, dense, ids, mask, window):
    n = len(ids[0])
    pos = torch.arange(n)
    band = (pos[:, None] - pos[None, :]).abs() < window
    neg = torch.finfo(torch.float32).min
    sliding = torch.zeros(1, 1, n, n).masked_fill(~band, neg)
    full = torch.zeros(1, 1, n, n)
    with torch.no_grad():
        h = model(input_ids=torch.tensor(ids), attention_mask={"full_attention": full, "sliding_attention": sliding}
                  ).last_hidden_state
        return torch.nn.functional.normalize(h.mean(1) @ dense["2_Dense"].T @ dense["3_Dense"].T, dim=-1).numpy()[0]


def test_the_int8_graph_stays_close_and_leaves_the_dense_matrix_in_float32(tiny, tmp_path):
    import onnx

    folder, model, dense = tiny
    export_int8(folder, tmp_path / "tiny-int8.onnx", tmp_path, calibration=CALIBRATION)
    assert not (tmp_path / "model-fp32.onnx").exists()
    graph = onnx.load(str(tmp_path / "tiny-int8.onnx")).graph
    kinds = {n.name: n.op_type for n in graph.node}
    assert kinds["dense"] == "MatMul" and list(kinds.values()).count("MatMul") == 1
    assert list(kinds.values()).count("MatMulInteger") == 2 * 7  # q, k, v, o, gate, up, down in each layer
    ids = [[5, 9, 33, 2, 17, 40, 8, 1]]
    got, want = run(tmp_path / "tiny-int8.onnx", ids, [[1] * 8]), reference(model, dense, ids, [[1] * 8])
    assert float(got[0] @ want[0]) > 0.95


def test_smoothing_keeps_the_function_and_calibration_finds_every_probe(tiny, tmp_path):
    from rag.models.onnx_export import PROBES, smoothing_factors

    folder, model, dense = tiny
    build_float32(folder, tmp_path / "probe.onnx", probe=True)
    factors = smoothing_factors(folder, tmp_path / "probe.onnx", CALIBRATION)
    assert sorted(factors) == sorted(f"{p}_{i}" for p in PROBES for i in range(2))
    rng = np.random.default_rng(2)
    wild = {k: np.exp(rng.normal(0, 1, v.shape)).astype(np.float32) for k, v in factors.items()}
    build_float32(folder, tmp_path / "smoothed.onnx", smooth=wild)
    ids = [[5, 9, 33, 2, 17, 40, 8, 1, 22, 3]]
    mask = [[1] * 10]
    assert np.abs(run(tmp_path / "smoothed.onnx", ids, mask) - reference(model, dense, ids, mask)).max() < 5e-3
