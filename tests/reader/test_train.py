"""Training runs end to end on a tiny slice: the pack of the real base weights, a few steps, a checkpoint that a
second run resumes from, the trained weights saved and loaded as int8 rows."""

import json

import numpy as np
import pytest

from rag.training.base import read_pack
from rag.training.data import Example
from rag.reader.features import Featurizer
from rag.reader.model import load_trained, quantize_rows, save_trained
from rag.training.evaluate import roc_auc
from rag.training.train import FitSettings, fit, write_prepared

from ..conftest import MODEL_DIR

TEXT = "Ngày 10/7/2025, hội nghị diễn ra tại Kuala Lumpur, Malaysia, với sự tham dự của 10 nước."


def examples(n: int) -> list[Example]:
    out = []
    for i in range(n):
        if i % 2:
            out.append(Example(f"q{i}", "tiny", "Hội nghị diễn ra ở đâu?", TEXT, TEXT.index("Kuala"), "Kuala Lumpur",
                               "vi", "vi", ("Kuala Lumpur",)))
        else:
            out.append(Example(f"q{i}", "tiny", "Ai chủ trì hội nghị?", TEXT, -1, "", "vi", "vi"))
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    info = write_prepared(out, examples(8), examples(4), Featurizer(MODEL_DIR / "tokenizer.json", 96, 16))
    return out, info


def test_the_pack_holds_the_base_weights_for_the_kept_tokens(prepared):
    out, info = prepared
    config, state, meta = read_pack(out / "base-pack.npz")
    assert info["train_windows"] == 8 and info["train_answerable"] == 4
    assert config["vocab_size"] == meta["vocab"] == info["vocabulary_kept"] < 1000
    assert state["embeddings.word_embeddings.weight"].shape == (meta["vocab"], 384)
    from safetensors.numpy import load_file

    base = load_file(str(MODEL_DIR / "model.safetensors"))
    keep = np.load(out / "base-pack.npz")["keep_ids"]
    assert np.array_equal(state["embeddings.word_embeddings.weight"], base["embeddings.word_embeddings.weight"][keep])
    assert np.array_equal(state["encoder.layer.3.output.dense.weight"], base["encoder.layer.3.output.dense.weight"])


def test_a_few_steps_checkpoint_and_resume(prepared, tmp_path):
    out, _ = prepared
    run = tmp_path / "run"
    s = FitSettings(epochs=2, batch_size=4, checkpoint_every=1, dev_every=2, bf16=False)
    fit(out, run, s, max_steps=2, log=lambda m: None)
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and "dev_loss" in rows[-1] and (run / "checkpoint.pt").is_file()
    said = []
    fit(out, run, s, max_steps=3, log=said.append)
    assert said[0].startswith("resumed at step 2") and (run / "trained.safetensors").is_file()
    trained = load_trained(run / "trained.safetensors")
    assert "qa.weight" in trained and "bert.embeddings.word_embeddings.weight" not in trained


def test_int8_rows_round_trip_within_their_scale(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 128)).astype(np.float32)
    q, scale = quantize_rows(w)
    assert q.dtype == np.int8 and np.abs(q.astype(np.float32) * scale[:, None] - w).max() <= scale.max() / 2 + 1e-6
    save_trained({"m": w, "b": w[0]}, tmp_path / "w.safetensors")
    back = load_trained(tmp_path / "w.safetensors")
    assert np.allclose(back["m"], w, atol=float(scale.max())) and np.array_equal(back["b"], w[0])


def test_roc_auc_counts_ties_half():
    assert roc_auc(np.array([3.0, 2.0, 1.0]), np.array([True, False, False])) == 1.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5


def test_reading_windows_cut_a_paragraph_as_answers_read_it():
    from rag.training.data import reading_windows

    para = ("Câu đầu nói về thời tiết. Câu hai nói về giá vàng. Hội nghị diễn ra tại Kuala Lumpur. "
            "Câu bốn nói về thể thao. Câu năm nói về du lịch. Câu sáu nói về giáo dục.")
    ans = Example("a", "t", "Hội nghị diễn ra ở đâu?", para, para.index("Kuala"), "Kuala Lumpur", "vi", "vi",
                  ("Kuala Lumpur",))
    no = Example("n", "t", "Giá vàng hôm nay thế nào?", para, -1, "", "vi", "vi")
    wins = {w.id: w for w in reading_windows([ans, no], seed=1)}
    hit, other, unanswered = wins["a"], wins["a-other"], wins["n"]
    assert hit.context[hit.answer_start:hit.answer_start + len("Kuala Lumpur")] == "Kuala Lumpur"
    assert hit.context.count(".") <= 3 and "Hội nghị" in hit.context
    assert not other.answerable and "Kuala" not in other.context
    assert not unanswered.answerable and "giá vàng" in unanswered.context and unanswered.context.count(".") <= 3


def test_batches_hold_every_answer_window_once_and_pad_little():
    from rag.training.train import _batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 200, size=400)
    answers = np.arange(400) % 3 == 0
    batches = _batches(answers, lengths, 8, seed=1, epoch=0, negative_share=0.4)
    rows = np.concatenate(batches)
    assert sorted(rows[answers[rows]].tolist()) == np.flatnonzero(answers).tolist()
    assert len(set(rows.tolist())) == len(rows)
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 40  # sorted within runs of batches: a random batch of 8 spans ~140 tokens
