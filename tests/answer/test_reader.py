import pytest

from rag.answer.reader import Reader, asks_for, holds, question_terms
from rag.settings import ReaderSettings
from rag.types import Passage, RetrievalResult, Support


def result(question, lang, scored):
    supports = []
    for i, (text, score) in enumerate(scored):
        p = Passage(1, "d", "c", "t", text, 0, len(text), 0.0)
        supports.append(Support(p, i * 1000, i * 1000 + len(text), text, score))
    return RetrievalResult(question, lang, (), None, tuple(supports))


@pytest.mark.parametrize("question, kind", [
    ("Hội nghị diễn ra vào ngày nào?", "date"),
    ("When was the summit held?", "date"),
    ("Kim ngạch thương mại đạt bao nhiêu?", "number"),
    ("How many countries took part?", "number"),
    ("Ai đồng chủ trì hội nghị?", "name"),
    ("Who co-chaired the meeting?", "name"),
    ("Hội nghị được tổ chức ở đâu?", "name"),
    ("Nhật Bản cam kết gì?", None),
    ("What did Japan pledge?", None),
])
def test_what_a_question_asks_for(question, kind):
    assert asks_for(question) == kind


def test_an_answer_the_question_already_says_does_not_count():
    q = "Hội nghị lần thứ 28 diễn ra vào ngày nào?"
    assert holds("date", "Ngày 10/7/2025, hội nghị lần thứ 28 diễn ra.", q)
    assert not holds("number", "Hội nghị lần thứ 28 diễn ra.", q)  # 28 is the question's own number
    assert holds("number", "Kim ngạch đạt 236,6 tỷ USD.", q)
    assert holds("name", "Thủ tướng Phạm Minh Chính dự hội nghị.", "Ai dự hội nghị?")
    assert not holds("name", "Thủ tướng Phạm Minh Chính dự hội nghị.", "Thủ tướng Phạm Minh Chính dự gì?")
    assert not holds(None, "Ngày 10/7/2025.", q)


def test_english_questions_bring_only_names_and_numbers():
    assert set(question_terms("Who did Phạm Minh Chính meet in 2025?", "en")) == {"phạm", "minh", "phạm_minh",
                                                                                 "chính", "2025"}
    assert "ngạch" in question_terms("Kim ngạch năm 2024 đạt bao nhiêu?", "vi")
    assert "bao" not in question_terms("Kim ngạch năm 2024 đạt bao nhiêu?", "vi")


def test_the_reader_moves_the_sentence_that_holds_the_words_and_the_answer_type_up():
    q = "Kim ngạch thương mại năm 2024 đạt bao nhiêu?"
    r = result(q, "vi", [("Hai bên nhất trí thúc đẩy hợp tác thương mại.", 0.62),
                         ("Năm 2024, kim ngạch thương mại đạt 236,6 tỷ USD.", 0.58)])
    alone = ReaderSettings(overlap_weight_vi=0.0, overlap_weight_en=0.0, type_weight=0.0)
    assert Reader(alone).read(r)[0].support.score == 0.62  # cosine alone
    read = Reader(ReaderSettings(overlap_weight_vi=0.1, type_weight=0.05)).read(r)
    assert read[0].support.text.startswith("Năm 2024") and read[0].type_match
    assert read[0].overlap == pytest.approx(1.0)
    assert read[0].score == pytest.approx(0.58 + 0.1 + 0.05)
    assert Reader().read(result(q, "vi", [])) == []


def test_the_second_sentence_comes_from_the_first_ones_article():
    def support(doc, start, text, score):
        p = Passage(1, doc, f"{doc}#0", "t", text, 0, 2000, 0.0)
        return Support(p, start, start + len(text), text, score)

    sentences = (support("a", 0, "Câu một về hội nghị.", 0.80), support("b", 0, "Câu của bài khác.", 0.79),
                 support("a", 500, "Câu hai về hội nghị.", 0.78))
    r = RetrievalResult("Hội nghị?", "vi", (), None, sentences)
    chosen = Reader(ReaderSettings(0.0, 0.0, 0.0)).choose(r, max_sentences=2, margin=0.05)
    assert [s.text for s in chosen] == ["Câu một về hội nghị.", "Câu hai về hội nghị."]
