import pytest

from rag.answer.spans import amounts, dates, english, names

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


@pytest.mark.parametrize("words, expected", [
    ("236,6 tỷ USD", ("236.6 billion USD", True)),
    ("ngày 10/7/2025", ("10 July 2025", True)),
    ("năm 2024", ("2024", True)),
    ("Kuala Lumpur, Malaysia", ("Kuala Lumpur, Malaysia", True)),
    ("AZEC", ("AZEC", True)),
    ("cuối năm 2025", ("the end of 2025", True)),
    ("khoảng 236,6 tỷ USD", ("about 236.6 billion USD", True)),
    ("hơn 300.000 người", ("more than 300,000 người", False)),  # "người" (people) needs translating
    ("từ 2020 đến 2025", ("from 2020 to 2025", True)),
    ("cuối tháng 7", ("cuối tháng 7", False)),  # a month without its year: left to the model
    ("bốn lựa chọn", ("bốn lựa chọn", False)),
    ("hai", ("two", True)),  # a count alone, in words
    ("sáu lần", ("six times", True)),
    ("năm", ("năm", False)),  # five, or year: left to the model
])
def test_a_span_in_english_by_rule_and_whether_the_rules_covered_it(words, expected):
    assert english(words) == expected
