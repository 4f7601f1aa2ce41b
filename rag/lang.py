"""Is a question Vietnamese or English? Diacritics first, then common function words."""

from __future__ import annotations

import re
import unicodedata

_VI_LETTERS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
_WORD = re.compile(r"[^\W\d_]+", re.U)
_VI_WORDS = {"la", "cua", "va", "nhung", "cac", "khong", "gi", "nao", "bao", "nhieu", "trong", "duoc", "nguoi",
             "nam", "voi", "cho", "mot", "nhu", "the", "ai", "o", "dau", "khi"}
_EN_WORDS = {"the", "of", "and", "what", "which", "who", "whom", "when", "where", "why", "how", "is", "are", "was",
             "were", "did", "does", "do", "in", "on", "for", "to", "a", "an", "with", "by", "many", "much"}


def detect_language(text: str) -> str:
    """'vi' or 'en'."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    if not words:
        return "en"
    vi_marked = sum(1 for w in words if any(c in _VI_LETTERS for c in w))
    if vi_marked / len(words) >= 0.2:
        return "vi"
    en = sum(1 for w in words if w in _EN_WORDS)
    vi = sum(1 for w in words if w in _VI_WORDS and w not in _EN_WORDS)
    if vi_marked and vi_marked >= en:
        return "vi"
    return "vi" if vi > en else "en"
