"""The reader's windows over the retrieved sentences, and its readings mapped back to the documents."""

from rag.answer.reader import Reader, windows
from rag.reader.runtime import Span
from rag.settings import ReaderSettings
from rag.types import Passage, RetrievalResult, Support

DOC = "Câu một nói về thời tiết. Hội nghị diễn ra tại Hà Nội. Câu ba nói về kinh tế. Câu bốn kết thúc bài."


def result(scores: list[float]) -> RetrievalResult:
    """One passage (the whole DOC, document offset 100) and its four sentences with these cosines."""
    p = Passage(1, "doc", "doc-0", "Tin", DOC, 100, 100 + len(DOC), 0.9)
    starts = [0, DOC.index("Hội"), DOC.index("Câu ba"), DOC.index("Câu bốn")]
    ends = starts[1:] + [len(DOC)]
    sents = tuple(Support(p, 100 + a, 100 + a + len(DOC[a:b].rstrip()), DOC[a:b].rstrip(), s)
                  for a, b, s in zip(starts, ends, scores))
    return RetrievalResult("Hội nghị diễn ra ở đâu?", "vi", (p,), sentences=sents)


def test_the_best_sentences_are_read_with_their_neighbours_and_touching_windows_merge():
    r = result([0.1, 0.9, 0.2, 0.8])
    (w,) = windows(r, sentences=2, neighbours=1)  # sentences 1-3 and 3-4 touch: one window, the whole passage
    assert w.text == DOC.rstrip() and w.start == 100
    apart = windows(r, sentences=2, neighbours=0)
    assert [x.text for x in apart] == ["Hội nghị diễn ra tại Hà Nội.", "Câu bốn kết thúc bài."]


class Fixed:
    """A span model that returns one span of the first context: `words`, with `margin`."""

    def __init__(self, words: str, margin: float) -> None:
        self.words, self.margin = words, margin

    def read(self, question, contexts):
        a = contexts[0].index(self.words)
        return [Span(0, a, a + len(self.words), self.words, self.margin + 1, self.margin)]


def test_a_reading_carries_the_span_in_document_offsets_and_the_sentence_it_starts_in():
    r = result([0.1, 0.9, 0.2, 0.1])
    (reading,) = Reader(Fixed("Hà Nội", 2.5), ReaderSettings(sentences=1, neighbours=1)).read(r)
    assert reading.span == "Hà Nội" and reading.margin == 2.5
    assert DOC[reading.start - 100:reading.end - 100] == "Hà Nội"
    assert reading.support.text == "Hội nghị diễn ra tại Hà Nội."


def test_nothing_retrieved_is_nothing_read():
    assert Reader(Fixed("x", 1.0)).read(RetrievalResult("?", "vi", ())) == []


def test_a_vietnamese_question_reads_a_vietnamese_sentence_before_an_english_caption():
    caption = "The conference took place in Hanoi."
    p = Passage(1, "doc", "doc-0", "Tin", f"{caption} {DOC}", 0, len(caption) + 1 + len(DOC), 0.9)
    sents = (Support(p, 0, len(caption), caption, 0.95),
             Support(p, len(caption) + 1 + DOC.index("Hội"), len(caption) + 1 + DOC.index("Câu ba") - 1,
                     "Hội nghị diễn ra tại Hà Nội.", 0.9))
    vi = RetrievalResult("Hội nghị diễn ra ở đâu?", "vi", (p,), sentences=sents)
    assert windows(vi, sentences=1, neighbours=0)[0].text == "Hội nghị diễn ra tại Hà Nội."
    en = RetrievalResult("Where was the conference?", "en", (p,), sentences=sents)
    assert windows(en, sentences=1, neighbours=0)[0].text == caption


class PerContext:
    """A span model that reads every context apart: in each, the span `words[i]` with `margins[i]`."""

    def __init__(self, words: list[str], margins: list[float]) -> None:
        self.words, self.margins = words, margins
        self.contexts: list[str] = []

    def read(self, question, contexts):
        self.contexts = list(contexts)
        out = [Span(i, c.index(w), c.index(w) + len(w), w, m + 1, m)
               for i, (c, w, m) in enumerate(zip(contexts, self.words, self.margins))]
        return sorted(out, key=lambda s: -s.margin)


def test_separate_windows_are_read_in_one_call_and_ranked_by_margin_fused_with_the_sentence_cosine():
    r = result([0.1, 0.9, 0.2, 0.5])
    model = PerContext(["Hà Nội", "kết thúc"], [2.0, 2.5])
    readings = Reader(model, ReaderSettings(sentences=2, neighbours=0)).read(r)
    assert model.contexts == ["Hội nghị diễn ra tại Hà Nội.", "Câu bốn kết thúc bài."]  # one call, two windows
    assert [x.span for x in readings] == ["kết thúc", "Hà Nội"]  # by margin alone
    fused = Reader(model, ReaderSettings(sentences=2, neighbours=0, fusion=2.0)).read(r)
    assert [x.span for x in fused] == ["Hà Nội", "kết thúc"]  # 2.0 + 2 x 0.9 > 2.5 + 2 x 0.5
    assert fused[0].margin == 2.0 and fused[0].rank == 2.0 + 2 * 0.9
    assert fused[0].support.text == "Hội nghị diễn ra tại Hà Nội." and DOC[fused[1].start - 100:].startswith("kết thúc")


def test_the_question_s_rarer_words_can_move_a_sentence_ahead_of_a_closer_cosine():
    from rag.answer.reader import ranked_sentences

    r = result([0.1, 0.5, 0.55, 0.2])  # "Câu ba ..." is closest by cosine
    assert ranked_sentences(r, 0.0)[0].text.startswith("Câu ba")
    first = ranked_sentences(r, 0.3)[0]  # "Hội nghị diễn ra tại Hà Nội." holds the question's words
    assert first.text == "Hội nghị diễn ra tại Hà Nội."
    assert windows(r, 1, 0, overlap_weight=0.3)[0].text == "Hội nghị diễn ra tại Hà Nội."
