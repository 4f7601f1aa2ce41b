"""Dates, amounts and names in Vietnamese text, and their English form.

The reader's answer span across languages (rag/answer/reading.py) is written the English way by rule where these
rules cover it, not by a model: "10/7/2025" -> "10 July 2025", "236,6 tỷ USD" -> "236.6 billion USD", a count
alone in words "hai" -> "two"; names and acronyms are copied as they stand (`english`).
"""

from __future__ import annotations

import re

from rag.text import CAPITALS, without_names_and_numbers

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

_DATE = re.compile(
    r"(?:ngày\s+)?(?P<d>\d{1,2})\s*(?:/|\s+tháng\s+)(?P<m>\d{1,2})(?:\s*(?:/|\s+năm\s+)(?P<y>\d{4}))?\b"
    r"|(?:tháng\s+)(?P<m2>\d{1,2})\s*(?:/|\s+năm\s+)(?P<y2>\d{4})\b"
    r"|(?:năm\s+)?(?P<y3>(?:1[0-9]|20)\d{2})\b", re.I)
_SCALE = {"tỷ": "billion", "tỉ": "billion", "triệu": "million", "nghìn": "thousand", "ngàn": "thousand"}
_UNIT = {"usd": "USD", "đô la mỹ": "USD", "đồng": "VND", "vnd": "VND", "%": "%", "phần trăm": "%"}
_NUMBER = re.compile(r"(?P<n>\d+(?:[.,]\d+)*)\s*(?P<scale>tỷ|tỉ|triệu|nghìn|ngàn)?\s*"
                     r"(?P<unit>USD|đô la Mỹ|đồng|VND|%|phần trăm)?", re.I)
_CAP = rf"[{CAPITALS}][\w'’-]*"
_NAME = re.compile(rf"\b{_CAP}(?:\s+(?:-\s+)?{_CAP})+", re.U)
# Capitalised titles before a name: "Phó Thủ tướng Bùi Thanh Sơn" names Bùi Thanh Sơn.
_TITLES = frozenset("Phó Thủ Bộ Chủ Tổng Bí Đại Ông Bà Ngài Tiến Thứ Trưởng Giám Viện Chánh".split())


def _english_number(digits: str) -> str:
    """Vietnamese digits to English: 236,6 -> 236.6; 300.000 -> 300,000; 1.234,5 -> 1,234.5."""
    if "," in digits:  # the decimal comma; dots group thousands
        whole, frac = digits.rsplit(",", 1)
        return whole.replace(".", ",") + "." + frac
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", digits):
        return digits.replace(".", ",")
    return digits


def dates(sentence: str) -> list[tuple[str, str]]:
    """(as written, in English) for each date of the sentence, the most precise first."""
    out = []
    for m in _DATE.finditer(sentence):
        if m.group("d"):
            d, mo, y = int(m.group("d")), int(m.group("m")), m.group("y")
            if not (1 <= d <= 31 and 1 <= mo <= 12):
                continue
            out.append((m.group(0), f"{d} {MONTHS[mo - 1]}" + (f" {y}" if y else "")))
        elif m.group("m2"):
            mo = int(m.group("m2"))
            if 1 <= mo <= 12:
                out.append((m.group(0), f"{MONTHS[mo - 1]} {m.group('y2')}"))
        else:
            out.append((m.group(0), m.group("y3")))
    return sorted(out, key=lambda x: -len(x[1]))


def amounts(sentence: str) -> list[tuple[str, str]]:
    """(as written, in English) for each number of the sentence with its scale and unit ("236,6 tỷ USD")."""
    taken = [(m.start(), m.end()) for m in _DATE.finditer(sentence) if m.group("d") or m.group("m2")]
    out = []
    for m in _NUMBER.finditer(sentence):
        if any(a <= m.start() < b for a, b in taken):
            continue  # a day or a month of a date
        words = [_english_number(m.group("n"))]
        if m.group("scale"):
            words.append(_SCALE[m.group("scale").lower()])
        if m.group("unit"):
            words.append(_UNIT[m.group("unit").lower()])
        english = " ".join(words).replace(" %", "%")
        out.append((m.group(0).strip(), english))
    return out


def names(sentence: str) -> list[str]:
    """Runs of two or more capitalised words, the sentence's first word left out when it starts it alone."""
    out = []
    for m in _NAME.finditer(sentence):
        words = m.group(0).split()
        while words and words[0] in _TITLES:
            words.pop(0)
        if len(words) >= 2:
            out.append(" ".join(words))
    return out


# Words around a year or an amount that read one way in English: "cuối năm 2025" -> "the end of 2025".
_PHRASES = tuple((re.compile(a, re.I), b) for a, b in (
    (r"\bcuối năm\s+(\d{4})\b", r"the end of \1"), (r"\bđầu năm\s+(\d{4})\b", r"early \1"),
    (r"\bgiữa năm\s+(\d{4})\b", r"mid-\1"), (r"\bkhoảng\s+(?=\d)", "about "), (r"\bhơn\s+(?=\d)", "more than "),
    (r"\bgần\s+(?=\d)", "nearly "), (r"\btừ\s+(\d{4})\s+đến\s+(\d{4})\b", r"from \1 to \2")))
# A count written in words, alone ("hai", "sáu lần": how many times); "năm" is left out (five, or year).
_CARDINALS = {"một": "one", "hai": "two", "ba": "three", "bốn": "four", "sáu": "six", "bảy": "seven",
              "tám": "eight", "chín": "nine", "mười": "ten"}
_COUNT = re.compile(rf"^({'|'.join(_CARDINALS)})(\s+lần)?$", re.I)
# English words the rules write in lower case
_RULE_WORDS = frozenset(_SCALE.values()) | {"the", "end", "of", "early", "mid", "about", "more", "than", "nearly",
                                            "from", "to"}


def english(words: str) -> tuple[str, bool]:
    """`words` (an answer span of a Vietnamese sentence) with their dates and amounts written the English way,
    and whether that is all they needed: nothing is left but names, numbers, acronyms and punctuation."""
    count = _COUNT.match(" ".join(words.split()))
    if count:
        return _CARDINALS[count.group(1).lower()] + (" times" if count.group(2) else ""), True
    out = words
    for pattern, eng in _PHRASES:
        out = pattern.sub(eng, out)
    for written, eng in dates(out) + amounts(out):
        if written and written in out:
            out = out.replace(written, eng, 1)
    left = [w for w in re.findall(r"[^\W\d_]+", without_names_and_numbers(out)) if w.lower() not in _RULE_WORDS]
    return " ".join(out.split()), not left
