"""Check and repair the [n] markers of a generated answer against the passages the model was given.

The model's numbers are never trusted: a marker outside the given passages is dropped, a sentence whose
marker points at a passage that does not contain its facts, or that has no marker, is re-cited to the
passage sentence that shares most of its words and numbers (or, a fact, left out when none does), and the
citation list is built from the program's own passages, renumbered in order of first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.settings import CitationSettings
from rag.text import names_and_numbers, normalize, numbers, split_sentences
from rag.types import Citation, Passage

MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")


@dataclass(frozen=True)
class SourceSentence:
    n: int  # the passage's number as given to the model
    start: int  # offsets in the passage's document
    end: int
    text: str


def source_sentences(passages: list[Passage]) -> list[SourceSentence]:
    """The sentences of the passages given to the model, numbered 1..len(passages)."""
    out = []
    for n, p in enumerate(passages, start=1):
        for s in split_sentences(p.text):
            out.append(SourceSentence(n, p.start + s.start, p.start + s.end, p.text[s.start:s.end]))
    return out


def _tokens(text: str) -> set[str]:
    return {t for t in normalize(text).split() if len(t) > 1 or t.isdigit()}


def support(claim: str, source: str, known: str = "",
            number_cap: float = CitationSettings.unsupported_number_cap) -> float:
    """Share of the claim's words found in the source (or in `known`, the question), numbers counting double;
    a claim with a number neither has is capped at `number_cap` (236,6 is not 263,6)."""
    claim_tokens = _tokens(claim)
    if not claim_tokens:
        return 0.0
    source_tokens = _tokens(source) | _tokens(known)
    weight = {t: 2.0 if any(c.isdigit() for c in t) else 1.0 for t in claim_tokens}
    share = sum(w for t, w in weight.items() if t in source_tokens) / sum(weight.values())
    if any(w == 2.0 and t not in source_tokens for t, w in weight.items()):
        share = min(share, number_cap)
    return share


def echoes(claim: str, question: str) -> bool:
    """A claim that only repeats words of the question ("… dài bao nhiêu km?" answered "… dài bao nhiêu km"):
    it says nothing, so it is left out and cannot carry a citation."""
    return bool(question) and _tokens(claim) <= _tokens(question)


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    citations: tuple[Citation, ...]


Similarity = Callable[[list[str], list[str]], np.ndarray]


def check_citations(answer: str, passages: list[Passage], settings: CitationSettings = CitationSettings(),
                    cross_language: bool = False, question: str = "", similarity: Similarity | None = None
                    ) -> CheckedAnswer:
    """Validate every marker of `answer` against `passages` (numbered from 1) and rebuild the citations.

    Words of the question count as known (an answer may restate it). With `cross_language` (an English answer
    over Vietnamese passages) words cannot be compared: with a `similarity(claims, sentences)` function (the
    multilingual embedder's cosines) a passage supports a claim when it is within `settings.similarity_margin` of
    the claim's closest passage and above `settings.min_similarity`, and every number of the claim is in it or
    the question; without one, only names and numbers are compared. A factual sentence that no passage supports is
    left out of the text; a marker out of range or on a passage that does not support its sentence is dropped, and
    a supported sentence without a right marker gets one."""
    if cross_language and similarity is not None:
        return _check_across_languages(answer, passages, question, similarity, settings.min_similarity,
                                       settings.similarity_margin)
    sources = source_sentences(passages)
    by_n: dict[int, list[SourceSentence]] = {}
    for s in sources:
        by_n.setdefault(s.n, []).append(s)
    numbering: dict[tuple[int, int], int] = {}  # (passage n, sentence start) -> new citation number
    citations: list[Citation] = []
    pieces: list[str] = []

    def cite(src: SourceSentence) -> int:
        key = (src.n, src.start)
        if key not in numbering:
            numbering[key] = len(numbering) + 1
            p = passages[src.n - 1]
            citations.append(Citation(numbering[key], p.doc_id, p.chunk_id, p.title, p.date, src.text, src.start,
                                      src.end, p.source))
        return numbering[key]

    for claim, given in _claims(answer):
        if echoes(claim, question):
            continue
        # What can be compared with the passages: every word, or across languages only names and numbers.
        probe = _checkable(claim) if cross_language else claim

        def score(src: SourceSentence) -> float:
            return support(probe, src.text, question, settings.unsupported_number_cap)

        def supported_by(n: int) -> bool:  # the whole passage: a claim may join two of its sentences
            return not probe or support(probe, passages[n - 1].text, question,
                                        settings.unsupported_number_cap) >= settings.min_support

        valid = [n for n in dict.fromkeys(given) if 1 <= n <= len(passages)]
        chosen = [max(by_n[n], key=score) for n in valid if by_n.get(n) and supported_by(n)]
        if not chosen and probe and sources:
            n = max(range(1, len(passages) + 1),
                    key=lambda i: support(probe, passages[i - 1].text, question, settings.unsupported_number_cap))
            if by_n.get(n) and supported_by(n):
                chosen.append(max(by_n[n], key=score))
        if not chosen and _is_factual(claim):
            continue
        pieces.append(_attach(claim, sorted({cite(src) for src in chosen})))
    return CheckedAnswer(" ".join(pieces), tuple(citations))


def _attach(claim: str, markers: list[int]) -> str:
    """'Trade reached 236.6 billion USD.' + [1] -> 'Trade reached 236.6 billion USD [1].'"""
    tags = "".join(f" [{n}]" for n in markers)
    if tags and claim[-1:] in ".!?…":
        return claim[:-1].rstrip() + tags + claim[-1]
    return claim + tags


def _claims(answer: str) -> list[tuple[str, list[int]]]:
    """The sentences of an answer without their markers, with the numbers the markers gave."""
    out = []
    for span in split_sentences(answer):
        sentence = answer[span.start:span.end]
        given = [int(x) for m in MARKER.finditer(sentence) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        claim = MARKER.sub("", sentence).strip()
        if claim:
            out.append((claim, given))
    return out


def _check_across_languages(answer: str, passages: list[Passage], question: str, similarity: Similarity,
                            min_similarity: float, margin: float) -> CheckedAnswer:
    claims = _claims(answer)
    if not claims or not passages:
        return CheckedAnswer(" ".join(c for c, _ in claims if not _is_factual(c)), ())
    sims = np.asarray(similarity([c for c, _ in claims], [p.text for p in passages]))
    known = numbers(question)
    passage_numbers = [numbers(p.text) for p in passages]
    citations: list[Citation] = []
    numbering: dict[int, int] = {}
    pieces: list[str] = []
    for (claim, given), row in zip(claims, sims):
        if echoes(claim, question):
            continue
        missing = numbers(claim) - known

        def ok(n: int) -> bool:
            return row[n - 1] >= max(min_similarity, row.max() - margin) and missing <= passage_numbers[n - 1]

        valid = [n for n in dict.fromkeys(given) if 1 <= n <= len(passages)]
        chosen = [n for n in valid if ok(n)]
        if not chosen:
            best = int(row.argmax()) + 1
            if ok(best) and (_is_factual(claim) or missing):
                chosen = [best]
            elif _is_factual(claim):
                continue
        for n in chosen:
            if n not in numbering:
                numbering[n] = len(numbering) + 1
                p = passages[n - 1]
                citations.append(Citation(numbering[n], p.doc_id, p.chunk_id, p.title, p.date, p.text, p.start,
                                          p.end, p.source))
        pieces.append(_attach(claim, sorted({numbering[n] for n in chosen})))
    return CheckedAnswer(" ".join(pieces), tuple(citations))


def _checkable(claim: str) -> str:
    """The names and numbers of a claim: what survives translation."""
    words = names_and_numbers(claim)
    if words and claim.startswith(words[0]) and not words[0][0].isdigit():
        words = words[1:]  # the first word of a sentence is capitalised anyway
    return " ".join(words)


def _is_factual(claim: str) -> bool:
    return len(_tokens(claim)) >= 3
