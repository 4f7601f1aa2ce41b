"""Does a question rest on something the passages never mention? Numbers and acronyms are checked.

"Kim ngạch năm 2023 đạt bao nhiêu?" over passages that only report 2024, or "the 29th summit" when only the
28th is written about: a model given those passages tends to answer with the nearest fact. Numbers and
acronyms (three capitals or more) read the same in Vietnamese and English text, so the check works for
questions in either language. Measured in eval/README.md: on the seeds it catches 8 of 18 unanswerable
questions and flags 1 of 131 answerable ones; on xquad-vi-dev (questions written without the text, then
translated) it flags about 3% of answerable ones.
"""

from __future__ import annotations

import re
from typing import Iterable

from rag.text import numbers

_ACRONYM = re.compile(r"\b[A-ZĐ]{3,}[A-Z0-9]*\b")


def missing_terms(question: str, texts: Iterable[str]) -> list[str]:
    """The numbers and acronyms of `question` that appear in none of `texts`."""
    blob = " ".join(texts)
    have = numbers(blob)
    missing = [n for n in sorted(numbers(question)) if n not in have]
    words = set(re.findall(r"[\w]+", blob))
    missing += [a for a in dict.fromkeys(_ACRONYM.findall(question)) if a not in words]
    return missing
