"""Question + context -> tokenised windows (Encoded) with the answer's labels, as training and reading build them."""

import pytest

from rag.reader.features import Featurizer

from ..conftest import MODEL_DIR

CONTEXT = ("Ngày 10/7/2025, tại Kuala Lumpur, Malaysia, Phó Thủ tướng Bùi Thanh Sơn và Bộ trưởng Iwaya Takeshi đã "
           "đồng chủ trì Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16. ") * 3


@pytest.fixture(scope="module")
def feat():
    return Featurizer(MODEL_DIR / "tokenizer.json", max_length=96, stride=16)


def test_the_answer_tokens_are_labelled_and_map_back_to_the_words(feat):
    start = CONTEXT.index("Kuala Lumpur")
    (w, *rest) = feat.windows_batch(["Hội nghị diễn ra ở đâu?"], [CONTEXT], [(start, start + len("Kuala Lumpur"))])[0]
    assert w.ids[0] == feat.bos and w.ids[w.context_start - 1] == feat.eos and w.ids[-1] == feat.eos
    assert 0 < w.start <= w.end and w.offsets[w.start][0] <= start and w.offsets[w.end][1] >= start + 12
    assert CONTEXT[w.offsets[w.start][0]:w.offsets[w.end][1]].strip() == "Kuala Lumpur"
    assert all(len(x.ids) <= 96 for x in [w, *rest]) and rest  # a long context is read in windows
    assert all(x.start == 0 for x in rest if x.offsets[x.context_start][0] > start)  # the others: no answer


def test_overlapping_windows_share_stride_tokens(feat):
    wins = feat.windows_batch(["Ai?"], [CONTEXT])[0]
    first_last = [o for o in wins[0].offsets if o][-16:]
    second_first = [o for o in wins[1].offsets if o][:16]
    assert first_last == second_first and all(w.start == w.end == 0 for w in wins)
