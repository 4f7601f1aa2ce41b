"""Text the whole pipeline reads the same way: language, sentences, normal forms, numbers, names, question words.

Language: function words first, then diacritics. Vietnamese names keep their diacritics in English text
("How many priorities did Phạm Minh Chính propose?"), so diacritics alone would call that question
Vietnamese; function words decide first. Nothing here imports from the rest of rag/.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_VI_LETTERS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
VI_LETTERS = frozenset(_VI_LETTERS)  # the small letters Vietnamese adds to a-z
_WORD = re.compile(r"[^\W\d_]+", re.U)
# Vietnamese function words, with their diacritics and as typed without them.
_VI_WORDS = {"là", "của", "và", "những", "các", "được", "không", "gì", "nào", "bao", "nhiêu", "trong", "với",
             "cho", "một", "như", "thế", "ai", "ở", "đâu", "khi", "đã", "sẽ", "có", "này", "đó", "theo", "tại",
             "về", "để", "từ", "mấy", "vì", "sao", "bằng", "hay", "hoặc", "người", "năm", "ngày",
             "la", "cua", "va", "nhung", "cac", "duoc", "khong", "gi", "nao", "nhieu", "voi", "mot", "nhu",
             "dau", "da", "se", "co", "nay", "tai", "ve", "de", "tu", "may", "nguoi", "nam", "ngay"}
_EN_WORDS = {"the", "of", "and", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is",
             "are", "was", "were", "did", "does", "do", "in", "on", "for", "to", "a", "an", "with", "by", "many",
             "much", "at", "from", "that", "this", "their", "its", "his", "her", "has", "have", "had", "be",
             "been", "will", "would", "can", "could", "about", "into", "after", "before", "during", "each"}


# When the function words tie, a text is Vietnamese if at least this share of its words carry Vietnamese letters.
# A rule of the detector rather than a tuned threshold, so it stays here (see rag/settings.py for the tuned ones).
VI_MARKED_SHARE = 0.2
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")  # quoted words, marks included


def detect_language(text: str, undecided: str | None = "en") -> str | None:
    """'vi' or 'en'. Quoted titles ("To the Christian Nobility ...") do not count, unless nothing else is left.
    Words that show neither language (no function word of either, no Vietnamese letter: "hai", "maximum", or
    none at all) give `undecided`."""
    text = unicodedata.normalize("NFC", text)
    words = _WORD.findall(QUOTED.sub(" ", text).lower()) or _WORD.findall(text.lower())
    if not words:
        return undecided
    en = sum(1 for w in words if w in _EN_WORDS)
    vi = sum(1 for w in words if w in _VI_WORDS and w not in _EN_WORDS)
    if en != vi:
        return "en" if en > vi else "vi"
    vi_marked = sum(1 for w in words if any(c in _VI_LETTERS for c in w))
    if not en and not vi_marked:
        return undecided
    return "vi" if vi_marked / len(words) >= VI_MARKED_SHARE else "en"



_VI_CHAR = re.compile("[" + "".join(sorted(_VI_LETTERS | {c.upper() for c in _VI_LETTERS})) + "]")


def is_vietnamese(text: str) -> bool:
    """A quick test for a stored passage or sentence (not a question): Vietnamese when it has at least
    VI_MARKED_SHARE Vietnamese letters per word (an English caption with a Vietnamese name has far fewer).
    About 3x faster than detect_language, which also weighs function words."""
    return len(_VI_CHAR.findall(text)) >= VI_MARKED_SHARE * (text.count(" ") + 1)


# --- sentences ------------------------------------------------------------------------------------------

# Capital and small letters of the Latin, Greek and Cyrillic blocks up to Vietnamese's (a range like À-Ỹ holds
# both: "đầu", "ở" would count as capitals, "Ā" as a small letter).
CAPITALS = "".join(c for c in map(chr, range(0x41, 0x1F00)) if c.isupper())
SMALL_LETTERS = "".join(c for c in map(chr, range(0x61, 0x1F00)) if c.islower())
_UPPER_START = r"[\"'“‘(\[]?[" + CAPITALS + "0-9]"
# A sentence ends at . ! ? … before a space and a capital, or glued to the next capital after a
# lower-case word ("Nhật Bản.Cụ thể", "đào tạo…Phát biểu" occur in scraped news).
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=" + _UPPER_START + ")"
                       f"|(?<=[{SMALL_LETTERS}]{{2}}[.!?…])(?=[{CAPITALS}][{SMALL_LETTERS}])")
_ABBREVIATIONS = {"tp", "mr", "mrs", "ms", "dr", "st", "jr", "sr", "no", "co", "inc", "ltd", "vs", "v.v", "u.s",
                  "gs", "pgs", "ts", "ths", "th.s", "prof", "gen", "col", "lt", "sgt", "fig", "e.g", "i.e", "etc"}


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` ends an abbreviation or an initial, not a sentence."""
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)\.$", text[: dot + 1])
    if not word:
        return False
    token = word.group(1).lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans (absolute offsets) within text[start:end], trimmed of surrounding spaces."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    cursor = start
    for m in _BOUNDARY.finditer(text, start, end):
        punct = m.start() - 1
        while punct > cursor and text[punct] in "\"'”’)]":
            punct -= 1
        if _is_abbreviation(text, punct):
            continue
        spans.append(Span(cursor, m.start()))
        cursor = m.end()
    spans.append(Span(cursor, end))
    out = []
    for s in spans:
        a, b = s.start, s.end
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append(Span(a, b))
    return out


# --- normal forms and numbers ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NON_WORD = re.compile(r"[^\w\s]", re.U)


def _canonical_number(m: re.Match) -> str:
    """One spelling per number: '300.000' = '300,000' -> '300000'; '236,6' = '236.6' -> '236.6';
    '1.234,5' = '1,234.5' -> '1234.5'. Groups of exactly three digits after a separator are thousands."""
    parts = re.split(r"[.,]", m.group(0))
    if len(parts) == 1:
        return parts[0]
    if all(len(p) == 3 for p in parts[1:]) and parts[0] != "0" and len(parts[0]) <= 3:
        return "".join(parts)
    return "".join(parts[:-1]) + "." + parts[-1]


def normalize(text: str) -> str:
    """Lower case, no diacritics (đ -> d), canonical numbers, punctuation to spaces, single spaces."""
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")  # đ has no decomposition
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = _NUMBER.sub(_canonical_number, text)
    text = _NON_WORD.sub(lambda m: m.group(0) if m.group(0) == "." else " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return " ".join(text.split())


_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    """The numbers of a text, canonical: '236,6 tỷ' -> {'236.6'}, 'the 16th' -> {'16'}, '26/10' -> {'26', '10'}."""
    return set(_DIGITS.findall(normalize(text)))


# --- names and question words -----------------------------------------------------------------------------

_NAME_OR_NUMBER = re.compile(r"\b(?:[" + CAPITALS + r"][\w'’.-]*|\w*\d[\w,./-]*)", re.U)
# The one list of question words. English: the wh-words, the auxiliaries a question opens with, and (for
# cross_language_terms) the capitalised openers that are not names. Vietnamese: the question phrases, longest first.
EN_WH_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")
EN_AUXILIARIES = ("did", "does", "do", "is", "are", "was", "were", "will", "would", "can", "could", "has", "have",
                  "had")
EN_QUESTION_WORDS = frozenset(EN_WH_WORDS) | {
    "in", "on", "at", "the", "a", "an", "is", "are", "was", "were", "did", "does", "do", "after", "before",
    "according", "during", "for", "from", "of", "by", "to", "if", "as", "besides", "other", "i", "along", "with",
    "apart", "aside", "between", "name", "about", "since", "until", "upon"}
VI_QUESTION_PHRASES = ("như thế nào", "thế nào", "ra sao", "tại sao", "vì sao", "bao nhiêu", "bao giờ", "khi nào",
                       "ở đâu", "những gì", "là gì", "là ai", "hay không", "có phải", "gì", "nào", "ai", "đâu", "mấy")
# The words that make a short Vietnamese phrase ask something ("Còn Nhật Bản cam kết gì?").
VI_ASKING_WORDS = ("gì", "nào", "ai", "đâu", "bao nhiêu", "bao giờ", "mấy", "sao", "thế nào", "ra sao")


def cross_language_terms(question: str) -> str:
    """The words of an English question that a Vietnamese text can contain too: names and numbers."""
    return " ".join(w for w in names_and_numbers(question) if w.lower() not in EN_QUESTION_WORDS)


def names_and_numbers(text: str) -> list[str]:
    """Capitalised words and words with digits: what stays the same in a Vietnamese and an English text."""
    return _NAME_OR_NUMBER.findall(text)


def without_names_and_numbers(text: str) -> str:
    """`text` with its names and numbers (names_and_numbers) blanked out."""
    return _NAME_OR_NUMBER.sub(" ", text)
