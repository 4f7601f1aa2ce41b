"""The real EmbeddingGemma folder (models/embeddinggemma, built by set-up) through ONNX Runtime."""

from pathlib import Path

import numpy as np
import pytest

from rag.models.gemma import GemmaEmbedder
from rag.models.gemma_folder import ensure_gemma_folder

pytestmark = pytest.mark.integration
FOLDER = Path(__file__).resolve().parents[2] / "models" / "embeddinggemma"


@pytest.fixture(scope="module")
def gemma():
    ensure_gemma_folder(FOLDER)  # fails with what to run when set-up has not built it
    return GemmaEmbedder(FOLDER, threads=2)


def test_a_question_finds_its_passage_in_either_language(gemma):
    passages = gemma.embed_passages([
        "Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra tại Kuala Lumpur, Malaysia.",
        "Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt 236,6 tỷ USD.",
        "Đội tuyển bóng đá giành chức vô địch khu vực.",
    ])
    assert passages.shape == (3, 768) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-5)
    questions = gemma.embed_queries(["Hội nghị Mekong - Nhật Bản diễn ra ở đâu?",
                                     "How much was ASEAN-Japan trade worth in 2024?"])
    scores = questions @ passages.T
    assert scores.argmax(axis=1).tolist() == [0, 1]
    assert scores[1, 1] - scores[1, 2] > 0.2


def test_one_question_alone_or_in_a_batch_gives_nearly_the_same_vector(gemma):
    q = "Thủ tướng đề xuất mấy trọng tâm hợp tác?"
    alone = gemma.embed_queries([q])[0]
    batched = gemma.embed_queries([q, "Một câu hỏi dài hơn nhiều để có phần đệm trong lô, về hợp tác kinh tế số."])[0]
    # int8 activations are quantised per batch, so padding moves the vector a little, not its meaning.
    assert float(alone @ batched) > 0.95


def test_matryoshka_prefix_is_renormalised(tmp_path):
    small = GemmaEmbedder(FOLDER, threads=2, dimension=256)
    v = small.embed_passages(["Hội nghị diễn ra tại Kuala Lumpur."])
    assert v.shape == (1, 256) and abs(float(np.linalg.norm(v)) - 1) < 1e-5
    with pytest.raises(Exception, match="use one of 768, 512, 256, 128"):
        GemmaEmbedder(FOLDER, dimension=300)


def test_parallel_batches_give_the_serial_vectors_in_the_callers_order():
    texts = [f"Câu số {i}: kim ngạch thương mại năm {2000 + i} đạt {i * 7} tỷ USD." + " Thêm chữ." * (i % 5)
             for i in range(24)]
    serial = GemmaEmbedder(FOLDER, threads=2, parallel_min_tokens=10**9).embed_passages(texts)
    parallel = GemmaEmbedder(FOLDER, threads=2, parallel_min_tokens=1).embed_passages(texts)
    # Each text keeps its own vector (batches differ, so int8 activations' scales do too: close, not equal).
    cos = (serial * parallel).sum(axis=1)
    assert cos.min() > 0.95
    assert ((parallel @ serial.T).argmax(axis=1) == np.arange(len(texts))).mean() > 0.9
