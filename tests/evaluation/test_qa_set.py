"""Sanity checks for the evaluation QA set eval/qa.jsonl (fast, no models).

Every failure message names the offending question id so the line is easy to fix.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from rag.evaluation.schema import load_qa
from rag.ingest.corpus import load_corpus

ROOT = Path(__file__).resolve().parents[2]
QA_PATH = ROOT / "eval" / "qa.jsonl"
SEEDS = ROOT / "seeds"

LIST_KEYS = ("answers", "gold_doc_ids", "gold_passages")
MIN_QUESTIONS = 80
MIN_UNANSWERABLE = 12
MIN_LANG_SHARE = 0.35


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    return tuple(load_qa(QA_PATH))  # the eval's own schema check: keys, types, lang, unique ids, by line


def _answerable():
    return [(_label(r), r) for r in _records() if r["answerable"]]


def _label(record: dict) -> str:
    return str(record.get("id", "<no id>"))


@lru_cache(maxsize=1)
def _raw_seed_texts() -> dict[str, str]:
    texts = {}
    for path in sorted(SEEDS.glob("*.txt")):
        texts[path.stem] = unicodedata.normalize("NFC", path.read_bytes().decode("utf-8-sig"))
    return texts


@lru_cache(maxsize=1)
def _clean_texts() -> dict[str, str]:
    return {d.doc_id: d.text for d in load_corpus(SEEDS).documents}


def test_the_file_follows_the_schema_with_no_empty_strings():
    problems = [f"{_label(r)}: {key} must hold non-empty strings"
                for r in _records() for key in LIST_KEYS if not all(x.strip() for x in r[key])]
    problems += [f"{_label(r)}: empty question" for r in _records() if not r["question"].strip()]
    assert not problems, "\n".join(problems)


def test_lang_values_and_split():
    records = _records()
    bad = [_label(r) for r in records if r.get("lang") not in ("vi", "en")]
    assert not bad, f"lang must be 'vi' or 'en': {bad}"
    counts = Counter(r["lang"] for r in records)
    total = len(records)
    for lang in ("vi", "en"):
        share = counts[lang] / total if total else 0.0
        assert share >= MIN_LANG_SHARE, f"only {counts[lang]}/{total} ({share:.0%}) questions are {lang!r}"


def test_enough_questions():
    assert len(_records()) >= MIN_QUESTIONS, f"{len(_records())} questions, need >= {MIN_QUESTIONS}"


def test_unanswerable_questions():
    unanswerable = [r for r in _records() if r.get("answerable") is False]
    assert len(unanswerable) >= MIN_UNANSWERABLE, \
        f"{len(unanswerable)} unanswerable questions, need >= {MIN_UNANSWERABLE}"
    bad = [_label(r) for r in unanswerable if r.get("answers") or r.get("gold_doc_ids") or r.get("gold_passages")]
    assert not bad, f"unanswerable questions must have empty answers/gold_doc_ids/gold_passages: {bad}"


def test_answerable_have_answers_and_gold():
    seeds = _raw_seed_texts()
    problems = []
    for rid, rec in _answerable():
        if not rec.get("answers"):
            problems.append(f"{rid}: no answers")
        docs = rec.get("gold_doc_ids") or []
        if not docs:
            problems.append(f"{rid}: no gold_doc_ids")
        unknown = [d for d in docs if d not in seeds]
        if unknown:
            problems.append(f"{rid}: gold_doc_ids not in seeds/: {unknown}")
        if len(set(docs)) != len(docs):
            problems.append(f"{rid}: repeated gold_doc_ids")
        if not rec.get("gold_passages"):
            problems.append(f"{rid}: no gold_passages")
    assert not problems, "\n".join(problems)


def test_gold_passages_are_exact_substrings():
    raw = _raw_seed_texts()
    clean = _clean_texts()
    problems = []
    for rid, rec in _answerable():
        docs = [d for d in rec.get("gold_doc_ids") or [] if d in raw]
        for passage in rec.get("gold_passages") or []:
            if not isinstance(passage, str):
                continue
            p = unicodedata.normalize("NFC", passage)
            if p != passage:
                problems.append(f"{rid}: passage is not NFC: {passage[:60]!r}")
            in_both = [d for d in docs if p in raw[d] and p in clean.get(d, "")]
            if in_both:
                continue
            in_raw = [d for d in docs if p in raw[d]]
            where = "raw seed file only (not in cleaned text)" if in_raw else "neither raw nor cleaned text"
            problems.append(f"{rid}: passage found in {where} of gold docs {docs}: {passage[:80]!r}")
    assert not problems, "\n".join(problems)


def test_every_gold_doc_is_supported_by_a_passage():
    """A gold doc listed without any passage from it is probably a mistake."""
    clean = _clean_texts()
    problems = []
    for rid, rec in _answerable():
        passages = [p for p in rec.get("gold_passages") or [] if isinstance(p, str)]
        for doc in rec.get("gold_doc_ids") or []:
            if doc in clean and not any(p in clean[doc] for p in passages):
                problems.append(f"{rid}: no gold passage comes from gold doc {doc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("field", ["answers", "gold_passages"])
def test_no_duplicate_entries(field):
    bad = [_label(r) for r in _records() if isinstance(r.get(field), list) and len(set(r[field])) != len(r[field])]
    assert not bad, f"repeated entries in {field}: {bad}"
