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
    sentences = (Support(ps[0], 0, 1, "x", 0.8), Support(ps[1], 0, 1, "x", 0.7), Support(ps[2], 0, 1, "x", 0.9))
    r = RetrievalResult("q", "vi", ps, None, sentences)
    assert [s.score for s in r.supports] == [0.9, 0.8, 0.7] and r.best_score == 0.9
    two = r.top(2)
    assert two.passages == ps[:2] and [s.score for s in two.supports] == [0.8, 0.7] and two.best_score == 0.8
    assert r.top(5) is r


def test_a_sentence_two_passages_share_is_one_support_and_top_k_keeps_the_copy_it_can_see():
    ps = tuple(passage(r) for r in (1, 2, 3))
    # The same sentence (doc d, offset 0) in passages 1 and 3: scored 0.8 and, by float noise, 0.8000001.
    same = dict(passage=None, start=0, end=1, text="x")
    shared1 = Support(**{**same, "passage": Passage(1, "d", "d#0", "t", "x", 0, 9, 1.0)}, score=0.8)
    shared3 = Support(**{**same, "passage": Passage(3, "d", "d#2", "t", "x", 0, 9, 0.3)}, score=0.8000001)
    r = RetrievalResult("q", "vi", (shared1.passage, ps[1], shared3.passage), None,
                        (shared1, Support(ps[1], 0, 1, "y", 0.5), shared3))
    assert [s.passage.rank for s in r.supports] == [3, 2]  # once, the higher copy
    assert [s.passage.rank for s in r.top(2).supports] == [1, 2]  # what a k=2 retrieval finds
