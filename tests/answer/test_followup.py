import pytest

from rag.answer.followup import FollowUpRewriter, Turn, clean_model_rewrite, is_follow_up, rule_rewrite
from rag.answer.prompts import REWRITE_SYSTEM

from ..fakes import FakeChatModel

MEETING = Turn("Các nước ASEAN đề nghị Nhật Bản hỗ trợ gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?",
               "Các nước ASEAN đề nghị Nhật Bản hỗ trợ triển khai DEFA [1].")
CO_CHAIR = Turn("Who co-chaired the 16th Mekong-Japan Foreign Ministers' Meeting?", "Bùi Thanh Sơn [1].")


@pytest.mark.parametrize("question", [
    "Còn Nhật Bản cam kết gì?", "Thế còn Thái Lan?", "Nhật Bản thì sao?", "Họ ưu tiên lĩnh vực nào?",
    "Hội nghị đó diễn ra ở đâu?", "What about Japan?", "When was it held?", "And what did they promise?",
])
def test_follow_ups_are_recognised(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "AZEC là gì?", "Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt bao nhiêu?",
    "Who co-chaired the 16th Mekong-Japan Foreign Ministers' Meeting?", "",
    "Còn " + "rất nhiều từ " * 8 + "thì sao?",  # too long to be a follow-up
])
def test_standalone_questions_are_not_follow_ups(question):
    assert not is_follow_up(question)


@pytest.mark.parametrize("history, question, expected", [
    ([MEETING], "Còn Nhật Bản cam kết gì?",
     "Nhật Bản cam kết gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?"),
    ([MEETING], "Còn Nhật Bản thì sao?",
     "Các nước ASEAN đề nghị Nhật Bản hỗ trợ gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28 (Nhật Bản)?"),
    ([Turn("Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28 diễn ra ở đâu?", "")], "Còn Nhật Bản cam kết gì?",
     "Nhật Bản cam kết gì (Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28 diễn ra)?"),
    ([CO_CHAIR], "When was it held?", "When was it held (16th Mekong-Japan Foreign Ministers' Meeting)?"),
    ([CO_CHAIR], "What about Japan?", "Who co-chaired the 16th Mekong-Japan Foreign Ministers' Meeting (Japan)?"),
    ([MEETING], "AZEC là gì?", "AZEC là gì?"),
    ([], "Còn Nhật Bản cam kết gì?", "Còn Nhật Bản cam kết gì?"),
])
def test_rule_rewrite_merges_the_previous_question(history, question, expected):
    assert rule_rewrite(question, history) == expected


def test_the_rule_follows_the_latest_standalone_question():
    history = [CO_CHAIR, MEETING]
    assert rule_rewrite("Còn Nhật Bản cam kết gì?", history).endswith("tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?")


def test_without_a_model_the_rules_rewrite():
    r = FollowUpRewriter().rewrite("Còn Nhật Bản cam kết gì?", [MEETING])
    assert (r.method, r.changed) == ("rule", True)
    assert FollowUpRewriter().rewrite("AZEC là gì?", [MEETING]).method == "none"
    assert FollowUpRewriter().rewrite("Còn Nhật Bản cam kết gì?", []).method == "none"


def test_the_model_rewrites_through_the_named_template():
    model = FakeChatModel(reply=lambda system, user: "Standalone question: \"Nhật Bản cam kết gì tại Hội nghị "
                                                     "Cấp cao ASEAN - Nhật Bản lần thứ 28?\"\nExplanation: ...")
    r = FollowUpRewriter(model).rewrite("Còn Nhật Bản cam kết gì?", [MEETING])
    assert (r.method, r.standalone) == ("model", "Nhật Bản cam kết gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?")
    system, user = model.prompts[-1]
    assert system.startswith(REWRITE_SYSTEM.format())
    assert "Last question: Còn cà phê thì sao?\nStandalone question:\nBộ Công Thương dự báo xuất khẩu cà phê" in system
    assert f"User: {MEETING.question}" in user and "Assistant: Các nước ASEAN đề nghị Nhật Bản hỗ trợ triển khai DEFA." in user
    assert user.rstrip().endswith("Last question: Còn Nhật Bản cam kết gì?\nStandalone question:")


@pytest.mark.parametrize("reply", [
    "What did Japan commit to at the summit?",  # another language than the question
    "Nhật Bản cam kết với ASEAN và Nhật Bản lần thứ 28.",  # not a question (a small model wrote this)
    "", "NOT_FOUND", "x" * 400,
])
def test_an_unusable_model_rewrite_falls_back_to_the_rules(reply):
    model = FakeChatModel(reply=lambda system, user: reply)
    r = FollowUpRewriter(model).rewrite("Còn Nhật Bản cam kết gì?", [MEETING])
    assert (r.method, r.standalone) == ("rule", "Nhật Bản cam kết gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?")


def test_a_failing_model_falls_back_to_the_rules():
    model = FakeChatModel(reply=lambda system, user: "Nhật Bản cam kết gì?", fail_after=0)
    assert FollowUpRewriter(model).rewrite("Còn Nhật Bản cam kết gì?", [MEETING]).method == "rule"


def test_the_model_is_asked_only_about_follow_ups():
    model = FakeChatModel(reply=lambda system, user: "unused")
    long_question = "Thủ tướng Phạm Minh Chính đề nghị ASEAN và Nhật Bản đẩy mạnh liên kết kinh tế hướng tới " \
                    "chuyển đổi xanh như thế nào?"
    assert FollowUpRewriter(model).rewrite(long_question, [MEETING]).method == "none"
    assert FollowUpRewriter(model).rewrite("AZEC là gì?", [MEETING]).method == "none"
    assert FollowUpRewriter(model).rewrite("Còn Nhật Bản cam kết gì?", []).method == "none"
    assert model.prompts == []


def test_a_follow_up_the_model_repeats_unchanged_goes_to_the_rules():
    model = FakeChatModel(reply=lambda system, user: "When was it held?")
    r = FollowUpRewriter(model).rewrite("When was it held?", [CO_CHAIR])
    assert (r.method, r.standalone) == ("rule", "When was it held (16th Mekong-Japan Foreign Ministers' Meeting)?")


def test_clean_model_rewrite_takes_the_first_line_unquoted():
    assert clean_model_rewrite("«When was the meeting held?»\nmore", "When was it held?") == "When was the meeting held?"
    assert clean_model_rewrite("  \n", "When?") is None


WIND_FARM = Turn("Nhà máy điện gió Hòn Trống được khánh thành ngày nào?", "Ngày 20/3/2025 [1].")
INVESTOR_Q = "Who invested in the Hon Trong wind farm and how much did it cost?"


@pytest.mark.parametrize("question", [
    INVESTOR_Q,  # "it" is the wind farm the question names
    "Nhà máy điện gió Hòn Trống có công suất bao nhiêu, nó do ai đầu tư?",
    "How much did it cost in 2024?",  # a number: the question sets its own subject
])
def test_a_question_that_names_its_subject_is_complete(question):
    assert not is_follow_up(question)
    model = FakeChatModel(reply=lambda system, user: "Nhà máy điện gió Hòn Trống được khánh thành ngày nào?")
    r = FollowUpRewriter(model).rewrite(question, [WIND_FARM])
    assert (r.method, r.standalone) == ("none", question)
    assert model.prompts == []  # the model is not asked either


def test_a_follow_up_that_already_names_the_previous_subject_gets_nothing_appended():
    q = "And how much did the Hon Trong wind farm cost?"  # "Hon Trong" is "Hòn Trống" without its accents
    assert rule_rewrite(q, [WIND_FARM]) == "How much did the Hon Trong wind farm cost?"
    model = FakeChatModel(reply=lambda system, user: "unused")
    assert FollowUpRewriter(model).rewrite(q, [WIND_FARM]).method == "none" and model.prompts == []
    # Without its subject the follow-up still gets it.
    assert "Hòn Trống" in rule_rewrite("And how much did it cost?", [WIND_FARM])
