from rag.answer.citations import check_citations, support
from rag.types import Passage

DOC_A = ("Nhật Bản là đối tác thương mại lớn thứ tư của ASEAN. Kim ngạch thương mại hai chiều năm 2024 đạt "
         "236,6 tỷ USD. Tổng vốn đầu tư đạt 17,5 tỷ USD.")
DOC_B = "Hội nghị diễn ra tại Kuala Lumpur ngày 10/7/2025. Bộ trưởng Iwaya Takeshi đồng chủ trì."


def passage(rank, doc_id, text, start=0):
    return Passage(rank, doc_id, f"c{rank}", f"Title {doc_id}", text, start, start + len(text), 1.0, date="26/10/2025")


PASSAGES = [passage(1, "a", DOC_A), passage(2, "b", DOC_B, start=100)]


def test_right_markers_are_kept_and_renumbered_from_the_programs_passages():
    out = check_citations("Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD [1]. "
                          "Hội nghị diễn ra tại Kuala Lumpur [2].", PASSAGES)
    assert out.text == ("Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD [1]. "
                        "Hội nghị diễn ra tại Kuala Lumpur [2].")
    assert [c.doc_id for c in out.citations] == ["a", "b"]
    c = out.citations[0]
    assert c.quote == "Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD." and c.n == 1
    assert DOC_A[c.start:c.end] == c.quote
    b = out.citations[1]
    assert b.start == 100 and DOC_B[b.start - 100:b.end - 100] == b.quote


def test_a_marker_beyond_the_passages_is_dropped_and_the_sentence_repaired():
    out = check_citations("Kim ngạch năm 2024 đạt 236,6 tỷ USD [5].", PASSAGES)
    assert out.text == "Kim ngạch năm 2024 đạt 236,6 tỷ USD [1]."
    assert [c.doc_id for c in out.citations] == ["a"]


def test_a_marker_on_the_wrong_passage_is_moved_to_the_right_one():
    out = check_citations("Bộ trưởng Iwaya Takeshi đồng chủ trì hội nghị [1].", PASSAGES)
    assert [c.doc_id for c in out.citations] == ["b"] and out.text == "Bộ trưởng Iwaya Takeshi đồng chủ trì hội nghị [1]."


def test_an_unsupported_claim_is_left_out():
    out = check_citations("Nhật Bản sẽ viện trợ 5 tỷ USD cho Lào vào năm 2030 [1].", PASSAGES)
    assert out.citations == () and out.text == ""
    out = check_citations("Kim ngạch năm 2024 đạt 236,6 tỷ USD [1]. Tổng thống Pháp sẽ thăm sao Hỏa năm 2090 [1].",
                          PASSAGES)
    assert out.text == "Kim ngạch năm 2024 đạt 236,6 tỷ USD [1]."


def test_a_wrong_number_does_not_count_as_support():
    assert support("đạt 236,6 tỷ USD", "đạt 236,6 tỷ USD") == 1.0
    assert support("đạt 263,6 tỷ USD", "đạt 236,6 tỷ USD") < 0.6


def test_english_answer_over_vietnamese_passages_checks_names_and_numbers():
    out = check_citations("Two-way trade reached 236.6 billion USD in 2024 [1]. "
                          "Minister Iwaya Takeshi co-chaired the meeting [1].", PASSAGES, cross_language=True)
    assert [c.doc_id for c in out.citations] == ["a", "b"]
    assert out.text.endswith("co-chaired the meeting [2].")


def test_several_markers_in_one_bracket():
    out = check_citations("Kim ngạch đạt 236,6 tỷ USD và vốn đầu tư đạt 17,5 tỷ USD [1, 1; 3].", PASSAGES)
    # [3] is out of range; the repeated 1 counts once
    assert out.text == "Kim ngạch đạt 236,6 tỷ USD và vốn đầu tư đạt 17,5 tỷ USD [1]." and len(out.citations) == 1


def fake_similarity(pairs):
    """Cosines from a table of (claim word, passage number) pairs: 0.9 when the claim has the word, else 0.6."""
    def sim(claims, sentences):
        import numpy as np

        return np.array([[0.9 if any(w in c and n == i + 1 for w, n in pairs) else 0.6
                          for i in range(len(sentences))] for c in claims])
    return sim


def test_across_languages_the_closest_passage_is_cited_and_numbers_must_match():
    sentences = [passage(1, "a", "Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD.", start=52),
                 passage(2, "b", "Hội nghị diễn ra tại Kuala Lumpur ngày 10/7/2025.", start=100)]
    sim = fake_similarity([("trade", 1), ("meeting", 2)])
    out = check_citations("Two-way trade reached 236.6 billion USD in 2024 [2]. The meeting was held in Kuala Lumpur [2].",
                          sentences, cross_language=True, similarity=sim)
    assert out.text == "Two-way trade reached 236.6 billion USD in 2024 [1]. The meeting was held in Kuala Lumpur [2]."
    assert [(c.n, c.doc_id, c.date, c.start, c.end) for c in out.citations] == \
        [(1, "a", "26/10/2025", 52, 52 + len(sentences[0].text)), (2, "b", "26/10/2025", 100, 100 + len(sentences[1].text))]
    assert out.citations[0].quote == sentences[0].text
    wrong = check_citations("Two-way trade reached 263.6 billion USD [1].", sentences, cross_language=True, similarity=sim)
    assert wrong.citations == () and wrong.text == ""  # 263.6 is in no passage
    asked = check_citations("Two-way trade in 2024 reached 236.6 billion USD [1].", sentences, cross_language=True,
                            similarity=sim, question="What was the trade in 2024?")
    assert [c.doc_id for c in asked.citations] == ["a"]


def test_a_sentence_that_only_repeats_the_question_is_left_out():
    q = "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?"
    out = check_citations("Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu [1].", PASSAGES, question=q)
    assert out.citations == () and out.text == ""
    out = check_citations("Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD [1].", PASSAGES, question=q)
    assert [c.doc_id for c in out.citations] == ["a"]
    sim = fake_similarity([("trade", 1)])
    across = check_citations("What was the trade [1]?", PASSAGES, cross_language=True, similarity=sim,
                             question="What was the trade?")
    assert across.citations == ()
