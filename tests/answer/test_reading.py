"""The reader mode with a fake chat model: quotes in the question's language, checked translations, no lost
answer, refusals without a model."""

import re

import pytest

from rag.answer.reading import QUOTE_LABEL, translation_problems
from rag.assistant import Assistant
from rag.settings import ReaderSettings
from rag.types import REFUSAL, Done, Preview, TextDelta

from ..fakes import FakeChatModel, FakeEmbedder

TRADE_VI = "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?"
# English to the question's language detector, and words the fake (bag-of-words) embedder can match.
TRADE_EN = "What was the kim ngạch thương mại hai chiều in 2024?"
TRADE_SENTENCE = "kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD"


def assistant(settings, reply, **generator):
    chat = FakeChatModel(reply=reply)
    s = settings.replace(generator=settings.generator.replace(backend="local", mode="reader", **generator),
                         reader=ReaderSettings())  # EmbeddingGemma's weights: the overlap picks the sentence
    return Assistant(s, embedder=FakeEmbedder(), chat_model=chat), chat


def sentences_of(user: str) -> list[str]:
    return re.findall(r"^\[\d+\] (.*)$", user, re.M)


def test_a_question_in_the_articles_language_is_answered_by_the_quote_without_a_model(settings):
    a, chat = assistant(settings, lambda s, u: pytest.fail("the model must not be called"))
    events = list(a.ask_stream(TRADE_VI))
    assert isinstance(events[0], Preview) and isinstance(events[-1], Done)
    answer = events[-1].answer
    assert events[0].answer == ""  # nothing to show before the answer: the answer comes at once
    assert not answer.refused and chat.prompts == []
    assert TRADE_SENTENCE in answer.text and answer.text.endswith("[1]")
    doc = a.index_data().docs[answer.citations[0].doc_id]
    c = answer.citations[0]
    assert doc.text[c.start:c.end] == c.quote and c.quote in answer.text


def translating(system, user):
    """A model that answers with the first sentence's numbers, written the English way, and a stray marker."""
    nums = re.findall(r"\d+(?:[.,]\d+)*", sentences_of(user)[0])
    return "The article gives " + " and ".join(n.replace(",", ".") for n in nums[:2]) + " [3]."


def test_an_english_answer_keeps_its_numbers_and_is_cited_by_the_program(settings):
    a, chat = assistant(settings, translating)
    events = list(a.ask_stream(TRADE_EN))
    answer = events[-1].answer
    (system, user), = chat.prompts
    given = sentences_of(user)
    assert "Answer in English:" in user and isinstance(events[0], Preview)
    # The labelled quote comes first, to show while the model writes; the checked answer replaces it.
    assert events[0].answer.startswith(QUOTE_LABEL["en"]) and f"“{given[0]}” [1]" in events[0].answer
    assert answer.timings["preview_ms"] <= answer.timings["first_token_ms"]
    assert [" ".join(p.text.split()) for p in events[0].sentences] == given
    assert any(isinstance(e, TextDelta) for e in events)
    assert answer.text.startswith("The article gives ") and "[3]" not in answer.text
    assert answer.text.endswith(" ".join(f"[{n}]" for n in range(1, len(given) + 1)))
    assert [" ".join(c.quote.split()) for c in answer.citations] == given


def test_not_found_from_the_model_is_a_refusal(settings):
    a, chat = assistant(settings, lambda s, u: "NOT_FOUND")
    answer = a.ask(TRADE_EN)
    assert answer.refused and answer.text == REFUSAL["en"] and answer.draft == "NOT_FOUND" and len(chat.prompts) == 1


@pytest.mark.parametrize("reply", ["The article gives 999.9 billion USD.", "Trade reached 236.6 billion USD, said "
                                   "Nguyễn Văn Bình."])
def test_a_translation_that_fails_its_check_becomes_the_labelled_quote_not_a_refusal(settings, reply):
    a, chat = assistant(settings, lambda s, u: reply)
    answer = a.ask(TRADE_EN)
    given = sentences_of(chat.prompts[0][1])
    assert not answer.refused and answer.draft == reply
    assert answer.text.startswith(QUOTE_LABEL["en"]) and f"“{given[0]}” [1]" in answer.text
    assert "999.9" not in answer.text and "Nguyễn Văn Bình" not in answer.text


def test_what_the_articles_do_not_support_is_refused_without_a_model(settings):
    # The reader mode refuses at the extractive answer's floors: no sentence reaches these.
    a, chat = assistant(settings.replace(answer_min_score_vi=2.0, answer_min_score_en=2.0),
                        lambda s, u: pytest.fail("the model must not be called"))
    answer = a.ask(TRADE_EN)
    assert answer.refused and answer.text == REFUSAL["en"] and chat.prompts == []


def test_translation_problems_compare_numbers_and_vietnamese_names():
    source = ["Ngày 10/7/2025, Phó Thủ tướng Bùi Thanh Sơn đồng chủ trì; kim ngạch đạt 236,6 tỷ USD."]
    assert translation_problems("On 10 July 2025 Bui Thanh Son co-chaired; trade reached 236.6 billion USD.",
                                source) == []
    assert translation_problems("Trade reached 263.6 billion USD.", source) == ["263.6"]
    assert translation_problems("Phạm Minh Chính co-chaired.", source) == ["Phạm Minh Chính"]


def test_the_stream_shows_what_was_held_back_while_it_might_have_been_not_found(settings):
    a, chat = assistant(settings, lambda s, u: "NOT the first answer: 236.6 billion USD.")
    events = list(a.ask_stream(TRADE_EN))
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed == "NOT the first answer: 236.6 billion USD."


def test_a_translation_must_keep_the_detail_the_question_asks_for():
    from rag.answer.reading import missing_answer

    meeting = ["Ngày 10/7/2025, tại Kuala Lumpur, Bộ trưởng Bùi Thanh Sơn và Bộ trưởng Iwaya Takeshi đồng chủ trì."]
    assert missing_answer("On what date was the meeting held?", meeting, "It was held on 10 July 2025.") == []
    assert missing_answer("On what date was the meeting held?", meeting, "It was held in 2025.") == ["10 July 2025"]
    trade = ["Kim ngạch năm 2024 đạt 236,6 tỷ USD."]
    assert missing_answer("How much was trade worth in 2024?", trade, "It was 236.6 billion USD.") == []
    assert missing_answer("How much was trade worth in 2024?", trade, "It grew in 2024.") == ["236.6 billion USD"]
    assert missing_answer("Who co-chaired the meeting?", meeting, "Takeshi Iwaya and others.") == []
    assert missing_answer("Who co-chaired the meeting?", meeting, "The ministers did.") != []
    assert missing_answer("Why was it held?", meeting, "To cooperate.") == []  # nothing to look for


def test_a_translation_without_the_asked_for_date_becomes_the_labelled_quote(settings):
    a, chat = assistant(settings, lambda s, u: "Two-way trade grew.")
    answer = a.ask("When did Bùi Thanh Sơn and Iwaya Takeshi co-chair the Mekong - Nhật Bản lần thứ 16?")
    assert "10/7/2025" in sentences_of(chat.prompts[0][1])[0]
    assert answer.text.startswith(QUOTE_LABEL["en"]) and answer.draft == "Two-way trade grew."
