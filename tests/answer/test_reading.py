"""Read -> compose -> cite, with a fake reader and a fake chat model: the span and its quoted sentence in the
question's language, English by rule or by a checked phrase across languages, refusals without a model."""

from dataclasses import replace

import pytest

from rag.answer.reading import QUOTE_LABEL, gloss_problems
from rag.assistant import Assistant
from rag.errors import ModelNotReadyError
from rag.reader.runtime import Span
from rag.types import REFUSAL, Done, Preview, TextDelta

from ..fakes import FakeChatModel, FakeEmbedder, echo_first_passage, passages_of

TRADE_VI = "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?"
# English to the question's language detector, and words the fake (bag-of-words) embedder can match.
TRADE_EN = "What was the kim ngạch thương mại hai chiều in 2024?"
TRADE_SENTENCE = "kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD"


class Finds:
    """A span model that answers with `words` wherever a context holds them, at `margin`."""

    def __init__(self, words: str, margin: float = 3.0) -> None:
        self.words, self.margin = words, margin

    def read(self, question, contexts):
        return [Span(i, c.index(self.words), c.index(self.words) + len(self.words), self.words, 9.0, self.margin)
                for i, c in enumerate(contexts) if self.words in c]


def assistant(settings, words, reply=None, margin=3.0, backend="local", min_similarity=None, mode="reader"):
    """`min_similarity`: the cross-language cosine a rendering must reach (the fake embedder's bag-of-words
    cosine between languages is 0)."""
    chat = FakeChatModel(reply=reply or (lambda s, u: pytest.fail("the model must not be called")))
    s = settings.replace(generator=settings.generator.replace(backend=backend, mode=mode),
                         reader=replace(settings.reader, sentences=20))  # every sentence: the fake retrieval is rough
    if min_similarity is not None:
        s = s.replace(citations=replace(s.citations, min_similarity=min_similarity))
    return Assistant(s, embedder=FakeEmbedder(), chat_model=chat, span_model=Finds(words, margin)), chat


def test_a_question_in_the_articles_language_gets_the_span_and_its_sentence_quoted_without_a_model(settings):
    a, chat = assistant(settings, "236,6 tỷ USD")
    events = list(a.ask_stream(TRADE_VI))
    assert isinstance(events[0], Preview) and isinstance(events[-1], Done)
    answer = events[-1].answer
    assert not answer.refused and chat.prompts == []
    assert answer.text.startswith("236,6 tỷ USD — “") and TRADE_SENTENCE in answer.text and answer.text.endswith("[1]")
    c = answer.citations[0]
    assert a.index_data().docs[c.doc_id].text[c.start:c.end] == c.quote and TRADE_SENTENCE in c.quote
    assert answer.refusal_probability < 0.5  # the margin above the threshold


def test_an_english_question_gets_a_date_or_an_amount_written_the_english_way_by_rule(settings):
    a, chat = assistant(settings, "236,6 tỷ USD")
    answer = a.ask(TRADE_EN)
    assert answer.text == "236.6 billion USD (“236,6 tỷ USD”) [1]" and chat.prompts == []
    assert TRADE_SENTENCE in answer.citations[0].quote


def test_other_words_are_rendered_by_the_model_checked_and_shown_beside_the_original(settings):
    a, chat = assistant(settings, "thương mại hai chiều", reply=lambda s, u: "two-way trade", min_similarity=-1.0)
    events = list(a.ask_stream(TRADE_EN))
    answer = events[-1].answer
    (system, user), = chat.prompts
    assert "Answer: thương mại hai chiều" in user and "The answer in English:" in user
    assert events[0].answer == f"{QUOTE_LABEL['en']} “thương mại hai chiều” [1]"  # shown while the model writes
    assert any(isinstance(e, TextDelta) for e in events)
    assert answer.text == "two-way trade (“thương mại hai chiều”) [1]" and answer.draft == "two-way trade"


@pytest.mark.parametrize("reply, min_similarity", [("trade of 999 billion", -1.0), ("trade said Nguyễn Văn Bình", -1.0),
                                                   ("two-way\n\ntrade", -1.0), ("two-way trade", 0.5)])
def test_a_rendering_that_fails_its_check_is_the_labelled_quote_not_a_refusal(settings, reply, min_similarity):
    a, chat = assistant(settings, "thương mại hai chiều", reply=lambda s, u: reply, min_similarity=min_similarity)
    answer = a.ask(TRADE_EN)
    assert not answer.refused and answer.text == f"{QUOTE_LABEL['en']} “thương mại hai chiều” [1]"


def test_while_the_local_model_is_set_up_the_answer_is_the_labelled_quote_and_says_why(settings):
    def compiling(system, user):
        raise ModelNotReadyError("the local model is still being set up")

    a, chat = assistant(settings, "thương mại hai chiều", reply=compiling, min_similarity=-1.0)
    answer = a.ask(TRADE_EN)
    assert not answer.refused
    assert answer.text == f"{QUOTE_LABEL['en']} “thương mại hai chiều” [1]\nthe local model is still being set up"


def test_without_a_model_words_no_rule_covers_are_quoted(settings):
    a, chat = assistant(settings, "thương mại hai chiều", backend="extractive")
    answer = a.ask(TRADE_EN)
    assert answer.text == f"{QUOTE_LABEL['en']} “thương mại hai chiều” [1]" and answer.backend == "extractive"


def test_below_the_threshold_the_answer_is_a_refusal_without_a_model(settings):
    a, chat = assistant(settings, "236,6 tỷ USD", margin=-2.0)
    answer = a.ask(TRADE_EN)
    assert answer.refused and answer.text == REFUSAL["en"] and not answer.citations and chat.prompts == []
    assert answer.refusal_probability > 0.5


def test_gloss_problems_compare_numbers_and_vietnamese_names():
    assert gloss_problems("236.6 billion USD", "236,6 tỷ USD") == []
    assert gloss_problems("263.6 billion USD", "236,6 tỷ USD") == ["263.6", "236.6"]
    assert gloss_problems("the minister Phạm Minh Chính", "Phó Thủ tướng Bùi Thanh Sơn") == ["Phạm Minh Chính"]
    assert gloss_problems("10 July 2025", "ngày 10/7/2025") == []


def test_the_model_can_read_only_the_words_around_the_span(settings):
    a, chat = assistant(settings, "thương mại hai chiều", reply=lambda s, u: "two-way trade", min_similarity=-1.0)
    a.settings = a.settings.replace(generator=a.settings.generator.replace(gloss_context_words=2))
    a.ask(TRADE_EN)
    (_, user), = chat.prompts
    line = next(x for x in user.splitlines() if x.startswith("Sentence: "))
    before, _, after = line.removeprefix("Sentence: ").partition("thương mại hai chiều")
    assert len(before.split()) == 2 and len(after.split()) == 2, line


def test_the_model_renders_the_span_without_the_question_first(settings):
    a, chat = assistant(settings, "thương mại hai chiều", reply=lambda s, u: "two-way trade", min_similarity=-1.0)
    assert a.ask(TRADE_EN).text.startswith("two-way trade (“thương mại hai chiều”)")
    (_, user), = chat.prompts
    assert "Answer: thương mại hai chiều" in user and "Question:" not in user, user


@pytest.mark.parametrize("retry", [True, False])
def test_a_rendering_that_fails_its_check_is_asked_again_with_the_question(settings, retry):
    def reply(system, user):  # a number the span does not hold fails the check
        return "two-way trade" if "Question:" in user else "two-way trade of 2023"

    a, chat = assistant(settings, "thương mại hai chiều", reply=reply, min_similarity=-1.0)
    a.settings = a.settings.replace(generator=a.settings.generator.replace(gloss_retry=retry))
    stream = a.ask_stream(TRADE_EN)
    events = list(stream)
    answer = stream.answer()
    users = [user for _, user in chat.prompts]
    assert ["Question:" in u for u in users] == ([False, True] if retry else [False])
    if retry:
        assert answer.text.startswith("two-way trade (“thương mại hai chiều”)")
        assert answer.draft == "two-way trade"
        assert sum(isinstance(e, Preview) for e in events) == 2  # the retry starts the shown text anew
    else:
        assert answer.text.startswith("From the article (in Vietnamese): “thương mại hai chiều”")


def test_around_cuts_a_sentence_to_the_span_and_its_neighbouring_words():
    from rag.answer.prompts import around

    s = "Ngày 10/7/2025, tại Kuala Lumpur, Malaysia, hai bộ trưởng đồng chủ trì hội nghị."
    assert around(s, "Kuala Lumpur", 2) == "10/7/2025, tại Kuala Lumpur, Malaysia, hai"
    assert around(s, "Kuala Lumpur", 0) == s and around(s, "Hà Nội", 2) == s  # off, or the span is not there
    assert around(s, "Ngày 10/7/2025,", 1) == "Ngày 10/7/2025, tại"


def test_hybrid_mode_the_model_writes_the_answer_across_languages_from_the_best_sentences(settings):
    a, chat = assistant(settings, "thương mại hai chiều", reply=echo_first_passage, min_similarity=-1.0,
                        mode="hybrid")
    answer = a.ask(TRADE_EN)
    (system, user), = chat.prompts  # one call: the answer, no rendering of the span
    first = passages_of(user)[1]
    assert not answer.refused and answer.citations and answer.citations[0].quote.strip() == first.strip()
    assert answer.text.startswith(first.rstrip(".")) and answer.draft == f"{first} [1]"


def test_hybrid_mode_falls_back_to_the_readers_answer_when_the_model_finds_none(settings):
    a, chat = assistant(settings, "236,6 tỷ USD", reply=lambda s, u: "NOT_FOUND", mode="hybrid")
    answer = a.ask(TRADE_EN)
    assert answer.text == "236.6 billion USD (“236,6 tỷ USD”) [1]" and not answer.refused
    assert len(chat.prompts) == 1


def test_hybrid_mode_streams_the_fallback_rendering_afresh(settings):
    def reply(system, user):
        return "two-way trade" if "The answer in English:" in user else "The passages say NOT_FOUND"

    a, chat = assistant(settings, "thương mại hai chiều", reply=reply, min_similarity=-1.0, mode="hybrid")
    stream = a.ask_stream(TRADE_EN)
    shown = [(e.kind, stream.text) for e in stream if e.kind in ("preview", "text")]
    assert len(chat.prompts) == 2  # the answer the check refused, then the span's rendering
    assert shown[-1] == ("text", "two-way trade")  # the refused text is not shown before the rendering
    assert stream.answer().text == "two-way trade (“thương mại hai chiều”) [1]"


def test_hybrid_mode_answers_in_the_articles_language_without_the_model(settings):
    a, chat = assistant(settings, "236,6 tỷ USD", mode="hybrid")
    assert a.ask(TRADE_VI).text.startswith("236,6 tỷ USD — “") and chat.prompts == []
