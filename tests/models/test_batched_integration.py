"""Answers written together by the real Qwen 0.5B (rag/models/batched.py): each gets its own words, the shared
prompt prefix is read once, a cancelled answer stops, a refusal gate decides the first token."""

import pytest

from rag.answer.prompts import gloss_messages
from rag.models.chat import _ROLES
from rag.models.gguf import MODELS

from ..conftest import ROOT

pytestmark = pytest.mark.integration

SPANS = [  # (sentence, span, a word the English rendering must hold)
    ("Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD.", "236,6 tỷ USD", "236"),
    ("Vốn đầu tư của Nhật Bản vào Việt Nam đạt 17,5 tỷ USD.", "17,5 tỷ USD", "17.5"),
    ("Sáng kiến được Thủ tướng Nhật Bản đề xuất vào năm 2022.", "năm 2022", "2022"),
]


def request(sentence, span, max_tokens=40):
    messages = [{"role": _ROLES[r], "content": c} for r, c in gloss_messages(sentence, "", span, "en", 12, False)]
    return {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0}


def run(engine):
    texts, done = {}, {}
    for _ in range(500):
        if not engine.busy:
            break
        for rid, message in engine.step():
            texts[rid] = texts.get(rid, "") + message.get("text", "")
            if message.get("done"):
                done[rid] = message["evaluated_tokens"]
    return texts, done


@pytest.fixture(scope="module")
def engine():
    path = ROOT / "models" / MODELS["0.5b"].file_name
    if not path.is_file():
        pytest.fail("the 0.5B GGUF is missing: run `bash scripts/setup.sh`")
    from rag.models.worker import _load

    e = _load(str(path), 2048, 2, 4)
    yield e
    e.close()


def test_answers_asked_at_once_each_get_their_own_and_share_the_prompt_prefix(engine):
    for rid, (sentence, span, _) in enumerate(SPANS):
        engine.submit(rid, request(sentence, span))
    texts, done = run(engine)
    for rid, (_, _, word) in enumerate(SPANS):
        assert word in texts[rid], texts
    # The first reads the system prompt and worked examples; the others copy them in the cache.
    assert done[0] > 200 and done[1] < done[0] / 2 and done[2] < done[0] / 2, done
    # Alone, the same prompt gives the same answer.
    engine.submit("again", request(*SPANS[1][:2]))
    assert run(engine)[0]["again"] == texts[1]


def test_a_cancelled_answer_stops_and_its_slot_serves_the_next(engine):
    sentence = "Hội nghị lần thứ 16 diễn ra tại Viêng Chăn, Lào, với sự tham dự của các bộ trưởng ngoại giao."
    long = request(sentence, sentence.rstrip("."), max_tokens=100)
    engine.submit("long", long)
    while not engine.step():
        pass
    engine.cancel("long")
    assert not engine.busy
    engine.submit("next", request(*SPANS[0][:2]))
    assert SPANS[0][2] in run(engine)[0]["next"]


def test_the_refusal_gate_decides_the_first_token(engine):
    refuse = dict(request(*SPANS[0][:2]), refusal_text="Không", refusal_threshold=0.0)  # always refuses
    engine.submit("r", refuse)
    out = []
    while engine.busy:
        out += [m for rid, m in engine.step() if rid == "r"]
    first = next(m for m in out if "text" in m)
    assert first["text"].startswith("Kh") and 0.0 <= first["refusal_probability"] <= 1.0


def test_above_temperature_0_it_samples_from_the_best_tokens_with_a_seeded_generator(engine):
    warm = dict(request(*SPANS[2][:2]), temperature=0.8)
    texts = []
    for rid in ("t1", "t2"):
        engine.submit(rid, warm)
        texts.append(run(engine)[0][rid])
    assert texts[0] and texts[0] == texts[1]


def test_a_stop_string_ends_the_answer_where_it_starts(engine):
    req = request(*SPANS[0][:2])
    engine.submit("full", req)
    full = run(engine)[0]["full"]
    stop = " " + full.split()[1]  # the answer's second word
    engine.submit("cut", dict(req, stop=[stop]))
    assert run(engine)[0]["cut"] == full[:full.index(stop)]
