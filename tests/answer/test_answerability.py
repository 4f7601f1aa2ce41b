from rag.answer.answerability import RefusalRule, missing_terms
from rag.types import Passage, RetrievalResult, Support

PASSAGE = Passage(1, "d", "d#0", "Hội nghị", "Kim ngạch năm 2024 đạt 236,6 tỷ USD.", 0, 36, 1.0)


def result(question: str, lang: str, *scores: float) -> RetrievalResult:
    sentences = tuple(Support(PASSAGE, 10 * i, 36, PASSAGE.text, s) for i, s in enumerate(scores))
    return RetrievalResult(question, lang, (PASSAGE,) if scores else (), None, sentences)


def test_the_floor_is_per_question_language():
    rule = RefusalRule({"vi": 0.8, "en": 0.7}, check_terms=False, weak_margin=0.03)
    assert rule.judge(result("Kim ngạch?", "vi", 0.79)).answerable is False
    assert rule.judge(result("Trade?", "en", 0.79)).answerable is True
    assert rule.judge(result("Trade?", "en")).answerable is False  # nothing retrieved


def test_a_generating_backend_also_refuses_what_no_passage_mentions():
    q = "Kim ngạch năm 2023 đạt bao nhiêu?"
    assert missing_terms(q, [PASSAGE.text]) == ["2023"]
    quoting = RefusalRule({"vi": 0.5, "en": 0.5}, check_terms=False, weak_margin=0.03).judge(result(q, "vi", 0.9))
    model = RefusalRule({"vi": 0.5, "en": 0.5}, check_terms=True, weak_margin=0.03).judge(result(q, "vi", 0.9))
    assert quoting.answerable and not model.answerable and model.missing == ("2023",)


def test_an_answer_close_to_the_floor_is_flagged():
    rule = RefusalRule({"vi": 0.8, "en": 0.8}, check_terms=False, weak_margin=0.03)
    assert rule.judge(result("Kim ngạch?", "vi", 0.82)).low_relevance
    assert not rule.judge(result("Kim ngạch?", "vi", 0.84)).low_relevance
    assert rule.judge(result("Kim ngạch?", "vi")).low_relevance


def test_a_sentence_that_holds_the_questions_acronym_passes_the_floor():
    acronym = Passage(1, "d", "d#0", "Hội nghị", "Trung tâm ASEAN về y tế (ACPHEED) khai trương.", 0, 46, 1.0)
    sentences = (Support(acronym, 0, 46, acronym.text, 0.2),)

    def judge(question: str, check_terms: bool = True):
        rule = RefusalRule({"vi": 0.5, "en": 0.5}, check_terms=check_terms, weak_margin=0.03)
        return rule.judge(RetrievalResult(question, "en", (acronym,), None, sentences))

    assert judge("What is ACPHEED?").answerable and judge("What is ACPHEED?").named
    assert not judge("What is ACPHEED?", check_terms=False).answerable  # the quoting backend keeps its floor
    assert not judge("What is AZEC?").answerable  # no sentence has it
    assert not judge("What is the centre?").answerable  # no acronym: the floor decides
