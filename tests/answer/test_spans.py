import pytest

from rag.answer.spans import amounts, dates, names, span

S = ("Ngày 10/7/2025, tại Kuala Lumpur, Phó Thủ tướng Bùi Thanh Sơn và Bộ trưởng Iwaya Takeshi đồng chủ trì; "
     "kim ngạch đạt 236,6 tỷ USD, tăng 18% so với năm 2023, vốn 300.000 tỷ đồng.")


def test_dates_in_english():
    assert dates(S) == [("Ngày 10/7/2025", "10 July 2025"), ("năm 2023", "2023")]
    assert dates("vào tháng 7 năm 2025 và ngày 5 tháng 3") == [("tháng 7 năm 2025", "July 2025"),
                                                                 ("ngày 5 tháng 3", "5 March")]
    assert dates("tỷ lệ 45/100") == []  # not a day and a month


def test_amounts_in_english_without_the_dates_digits():
    assert amounts(S) == [("236,6 tỷ USD", "236.6 billion USD"), ("18%", "18%"), ("2023", "2023"),
                          ("300.000 tỷ đồng", "300,000 billion VND")]


def test_names_without_their_titles():
    assert names(S) == ["Kuala Lumpur", "Bùi Thanh Sơn", "Iwaya Takeshi"]
    assert names("Thủ tướng Phạm Minh Chính dự Hội nghị Mekong - Nhật Bản.") == ["Phạm Minh Chính",
                                                                                 "Mekong - Nhật Bản"]


@pytest.mark.parametrize("kind, question, expected", [
    ("date", "Hội nghị diễn ra vào ngày nào?", ("Ngày 10/7/2025", "10 July 2025")),
    ("number", "Kim ngạch năm 2023 đạt bao nhiêu?", ("236,6 tỷ USD", "236.6 billion USD")),
    ("name", "Who co-chaired with Bùi Thanh Sơn in Kuala Lumpur?", ("Iwaya Takeshi", "Iwaya Takeshi")),
    ("name", "Bùi Thanh Sơn, Iwaya Takeshi, Kuala Lumpur?", None),
    (None, "Vì sao?", None),
])
def test_the_span_is_one_the_question_does_not_already_say(kind, question, expected):
    assert span(kind, S, question) == expected
