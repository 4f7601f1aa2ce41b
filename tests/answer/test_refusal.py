"""The calibrated refusal decision: its features, its probability and thresholds, and where it refuses."""

import dataclasses

import pytest

from rag.answer.reader import Reader
from rag.answer.refusal import FEATURES, RefusalDecision, refusal_features
from rag.assistant import Assistant
from rag.settings import ReaderSettings, RefusalSettings
from rag.types import REFUSAL, Passage, RetrievalResult, Support

from ..fakes import FakeChatModel, FakeEmbedder

TEXT = "Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD. Hai bên ký thỏa thuận về năng lượng sạch."


def result(question: str, lang: str = "vi", text: str = TEXT) -> RetrievalResult:
    p = Passage(1, "d1", "d1#0", "Thương mại ASEAN - Nhật Bản", text, 0, len(text), 1.0)
    first, second = text.split(". ")
    sentences = (Support(p, 0, len(first) + 1, first + ".", 0.8),
                 Support(p, len(first) + 2, len(text), second, 0.5))
    return RetrievalResult(question, lang, (p,), None, sentences)


def features(question: str, lang: str = "vi") -> dict:
    r = result(question, lang)
    return refusal_features(r, Reader(ReaderSettings()).read(r))


def test_a_question_the_passage_holds_lacks_nothing():
    f = features("Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?")
    assert list(f) == list(FEATURES)
    assert f["lacking_passages"] == 0 and f["lacking_sentence"] == 0
    assert f["key_missing"] == 0 and f["type_missing"] == 0 and f["english"] == 0
    assert f["cosine"] == 0.8 and f["margin"] > 0


def test_a_changed_detail_shows_in_the_features():
    year = features("Kim ngạch thương mại hai chiều năm 2023 đạt bao nhiêu?")
    assert year["key_missing"] == 1 and year["key_missing_best"] == 1
    word = features("Kim ngạch nhập khẩu hai chiều năm 2024 đạt bao nhiêu?")
    assert word["lacking_passages"] > 0 and word["key_missing"] == 0
    name = features("Kim ngạch thương mại với Hàn Quốc năm 2024 đạt bao nhiêu?")
    assert name["lacking_passages"] > 0


def test_an_english_question_brings_its_names_and_numbers():
    f = features("What was two-way trade worth in 2024?", "en")
    assert f["english"] == 1 and f["lacking_passages"] == 0 and f["key_missing"] == 0
    assert features("What was two-way trade worth in 2023?", "en")["key_missing"] == 1


def test_no_sentence_is_the_most_refusable():
    f = refusal_features(RetrievalResult("Gì?", "vi", ()), [])
    assert f["key_missing"] == 1 and f["cosine"] == 0


def decision(bias: float, threshold: float = 0.5, enabled: bool = True) -> RefusalDecision:
    weights = tuple(-5.0 if name == "cosine" else 0.0 for name in FEATURES)
    return RefusalDecision(RefusalSettings(enabled=enabled, weights=weights, bias=bias, threshold_vi=threshold,
                                           threshold_en=threshold))


def test_the_probability_falls_with_the_cosine_and_the_threshold_decides():
    d = decision(bias=3.0)
    close, far = dict.fromkeys(FEATURES, 0.0) | {"cosine": 0.9}, dict.fromkeys(FEATURES, 0.0) | {"cosine": 0.2}
    assert d.probability(close) < 0.5 < d.probability(far)
    assert d.refuses(d.probability(far), "vi") and not d.refuses(d.probability(close), "en")
    assert not decision(bias=3.0, enabled=False).refuses(1.0, "vi")


@pytest.mark.parametrize("mode", ["reader", "extractive"])
def test_the_decision_refuses_after_the_floors_and_says_its_probability(settings, mode):
    backend = "local" if mode == "reader" else "extractive"
    question = "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?"

    def ask(refusal: RefusalSettings):
        s = settings.replace(generator=settings.generator.replace(backend=backend, mode="reader"),
                             reader=ReaderSettings(), refusal=refusal)
        chat = FakeChatModel(reply=lambda sys, user: pytest.fail("no model for a Vietnamese question"))
        return Assistant(s, embedder=FakeEmbedder(), chat_model=chat).ask(question)

    zero = tuple(0.0 for _ in FEATURES)
    always = RefusalSettings(enabled=True, weights=zero, bias=10.0, threshold_vi=0.5, threshold_en=0.5)
    never = RefusalSettings(enabled=True, weights=zero, bias=-10.0, threshold_vi=0.5, threshold_en=0.5)
    refused, answered = ask(always), ask(never)
    assert refused.refused and refused.text == REFUSAL["vi"] and refused.refusal_probability > 0.99
    assert not answered.refused and answered.citations and answered.refusal_probability < 0.01


def test_off_it_still_says_its_probability_for_the_report():
    off = RefusalSettings(enabled=False, weights=tuple(1.0 for _ in FEATURES), bias=50.0)
    d = RefusalDecision(dataclasses.replace(off, score_when_off=True))
    r = result("Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?")
    refuse, p = d.decide(r, Reader(ReaderSettings()).read(r))
    assert not refuse and p > 0.99
    assert RefusalDecision(off).decide(r, Reader().read(r)) == (False, None)  # `rag ask` does not compute it
    assert RefusalDecision(RefusalSettings()).decide(r, Reader().read(r)) == (False, None)  # not calibrated


def test_a_question_asking_for_a_date_no_sentence_holds_is_refused():
    d = RefusalDecision(RefusalSettings(type_sentences=2))
    undated = "Kim ngạch thương mại hai chiều tăng mạnh. Hai bên ký thỏa thuận về năng lượng sạch."
    for question, text, refused in [("Hai bên ký thỏa thuận về năng lượng sạch vào ngày nào?", undated, True),
                                    ("Hai bên ký thỏa thuận về năng lượng sạch vào ngày nào?", TEXT, False),
                                    ("Kim ngạch thương mại hai chiều đạt bao nhiêu?", undated, True),
                                    ("Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?", TEXT, False),
                                    ("Hai bên ký thỏa thuận gì?", undated, False)]:  # asks for no date or number
        r = result(question, text=text)
        assert d.decide(r, Reader(ReaderSettings()).read(r))[0] is refused, (question, text)
    r = result("Hai bên ký thỏa thuận về năng lượng sạch vào ngày nào?", text=undated)
    assert RefusalDecision(RefusalSettings(type_sentences=0)).decide(r, Reader().read(r)) == (False, None)
