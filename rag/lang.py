"""Is a question Vietnamese or English? Function words first, then diacritics.

Vietnamese names keep their diacritics in English text ("How many priorities did Phạm Minh Chính
propose?"), so diacritics alone would call that question Vietnamese; function words decide first.
"""

from __future__ import annotations

import re
import unicodedata

_VI_LETTERS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
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


_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")


def detect_language(text: str) -> str:
    """'vi' or 'en'. Quoted titles ("To the Christian Nobility ...") do not count, unless nothing else is left."""
    text = unicodedata.normalize("NFC", text)
    words = _WORD.findall(_QUOTED.sub(" ", text).lower()) or _WORD.findall(text.lower())
    if not words:
        return "en"
    en = sum(1 for w in words if w in _EN_WORDS)
    vi = sum(1 for w in words if w in _VI_WORDS and w not in _EN_WORDS)
    if en != vi:
        return "en" if en > vi else "vi"
    vi_marked = sum(1 for w in words if any(c in _VI_LETTERS for c in w))
    return "vi" if vi_marked / len(words) >= 0.2 else "en"
