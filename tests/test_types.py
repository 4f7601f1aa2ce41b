import pytest

from rag.errors import RagError
from rag.types import Answer, AnswerStream, Done, Passage, Preview, RetrievalResult, Support, TextDelta


def passage(rank: int) -> Passage:
    return Passage(rank, f"d{rank}", f"d{rank}#0", "t", "x", 0, 1, 1.0 / rank)


def test_an_answer_stream_is_iterated_or_read_whole():
    answer = Answer("q", "vi", "a [1]", False, (), (), "local", {})
    events = [Preview((passage(1),)), TextDelta("a "), TextDelta("[1]"), Done(answer)]
    stream = AnswerStream(iter(events))
    assert [e.kind for e in stream] == ["preview", "text", "text", "done"]
    assert stream.text == "a [1]" and stream.answer() is answer
    assert AnswerStream(iter(events)).answer() is answer  # without iterating first
    with pytest.raises(RagError, match="without a final answer"):
        AnswerStream(iter(events[:-1])).answer()


def test_top_keeps_the_sentences_of_the_first_passages():
    ps = tuple(passage(r) for r in (1, 2, 3))
    supports = (Support(ps[2], 0, 1, "x", 0.9), Support(ps[0], 0, 1, "x", 0.8), Support(ps[1], 0, 1, "x", 0.7))
    r = RetrievalResult("q", "vi", ps, None, supports)
    two = r.top(2)
    assert two.passages == ps[:2] and [s.score for s in two.supports] == [0.8, 0.7] and two.best_score == 0.8
    assert r.top(5) is r
