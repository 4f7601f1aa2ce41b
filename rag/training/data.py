"""The reader's examples: (question, context, answer span or none), read from the data folders outside the project.

Sources (../shared/data by default, `RAG_DATA_DIR`): the files of reader-train/ (SQuAD 2.0 parts in English and
machine-translated Vietnamese, underspecified rewrites, Vietnamese person questions, UIT-ViQuAD 1.0 train and dev,
MLQA dev, UIT-ViNewsQA dev), and part of xquad-vi-dev and viquad2-dev (English and Vietnamese questions over
Vietnamese paragraphs). Split by article (`held_out`): xquad-vi-dev, viquad2-dev and UIT-ViNewsQA dev keep
articles apart as dev, and so does the SQuAD 2.0 unanswerable pair (English and its Vietnamese translation, by
title: a dev title's questions are out of training in both languages). UIT-ViQuAD 1.0 test is for reporting
only (`report_examples`): never trained on, never used to choose anything. A viquad2-dev unanswerable question
names no paragraph; it is paired with the paragraph BM25 ranks first for it (what retrieval would give the reader)
and takes that paragraph's article. Changed-detail negatives are made by program from answerable training
questions (`changed_detail`): a number of the question that its context holds is replaced by one it does not.

None of this data enters the project: the weights trained on it do.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

from rag.errors import RagError

READER_TRAIN_FILES = (
    "squad2-train-part.en.jsonl",
    "squad2-dev-sample-answerable.en.jsonl",
    "squad2-dev-unanswerable.en.jsonl",
    "squad2-dev-unanswerable.vi-mt.jsonl",
    "squad2-underspecified.en.jsonl",
    "vi-person-questions.vi.jsonl",
    "viquad1-train.vi.jsonl",
    "viquad1-dev.vi.jsonl",
    "mlqa-dev.vi.jsonl",
    "vinewsqa-dev.vi.jsonl",
)
# reader-train files whose articles (titles) are split like the benchmark sets': a share of them is dev.
SPLIT_FILES = {"vinewsqa-dev.vi.jsonl": 0.2, "squad2-dev-unanswerable.en.jsonl": 0.2,
               "squad2-dev-unanswerable.vi-mt.jsonl": 0.2}
# Held out of training but not measured: the English originals of the Vietnamese dev questions.
UNMEASURED = ("squad2-dev-unanswerable.en.jsonl",)
REPORT_FILES = ("viquad1-test.vi.jsonl",)  # figures only: never trained on, never tuned on
BENCH_SETS = ("xquad-vi-dev", "viquad2-dev")


@dataclass(frozen=True)
class Example:
    id: str
    source: str  # file or benchmark it came from
    question: str
    context: str
    answer_start: int  # -1: the context does not answer
    answer_text: str
    lang_question: str
    lang_context: str
    answers: tuple[str, ...] = ()  # every accepted answer (dev metrics); answer_text first

    @property
    def answerable(self) -> bool:
        return self.answer_start >= 0


def held_out(articles: set[str], share: float = 1 / 3) -> set[str]:
    """The dev `share` of a set's articles: those first by the sha256 of their names (xquad-vi-dev: 8 of 24). The
    same split for training, calibration and `rag eval --held-out`."""
    ranked = sorted(articles, key=lambda a: hashlib.sha256(a.encode("utf-8")).hexdigest())
    return set(ranked[: round(len(ranked) * share)])


def article_of(bench: str, doc_id: str, text: str) -> str:
    """xquad-vi-dev: the article number in the document id (xquad-vi-07-3 -> 07); viquad2-dev: the title line."""
    if bench == "xquad-vi-dev":
        return doc_id.rsplit("-", 1)[0]
    return text.split("\n", 1)[0].strip()


def _jsonl(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except OSError as exc:
        raise RagError(f"cannot read {path} ({exc.strerror}): point RAG_DATA_DIR at the shared data folder") from exc


def _example(name: str, row: dict) -> Example:
    answers = row.get("answers") or []
    first = answers[0] if row["answerable"] and answers else None
    return Example(row["id"], name, row["question"], row["context"], first["start"] if first else -1,
                   first["text"] if first else "", row["lang_question"], row["lang_context"],
                   tuple(dict.fromkeys(a["text"] for a in answers)))


def reader_train(folder: Path) -> tuple[list[Example], list[Example]]:
    """(training, dev) examples of reader-train's files: a SPLIT_FILES file's held-out titles are dev (the
    SQuAD 2.0 pair splits on the English titles, which both files share)."""
    train, dev = [], []
    for name in READER_TRAIN_FILES:
        rows = _jsonl(folder / "reader-train" / name)
        share = SPLIT_FILES.get(name)
        dev_titles = held_out({r["title"] for r in rows}, share) if share else set()
        for row in rows:
            if row["title"] not in dev_titles:
                train.append(_example(name, row))
            elif name not in UNMEASURED:
                dev.append(_example(name, row))
    return train, dev


def report_examples(folder: Path) -> list[Example]:
    """The reporting-only files' examples (UIT-ViQuAD 1.0 test)."""
    return [_example(name, row) for name in REPORT_FILES for row in _jsonl(folder / "reader-train" / name)]


def _bench_docs(folder: Path, bench: str) -> dict[str, str]:
    corpus = folder / bench / "corpus"
    if not corpus.is_dir():
        raise RagError(f"{corpus} is missing: point RAG_DATA_DIR at the shared data folder")
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(corpus.glob("*.txt"))}


def _best_paragraph(questions: list[str], docs: dict[str, str]) -> list[str]:
    """The document BM25 ranks first for each question (pyvi words, as the index tokenises)."""
    import bm25s

    from rag.indexing.lexical import tokenize

    ids = list(docs)
    bm = bm25s.BM25()
    bm.index([tokenize(docs[i]) for i in ids], show_progress=False)
    out = []
    for q in questions:
        scores = bm.get_scores(tokenize(q))
        out.append(ids[int(scores.argmax())])
    return out


def _bench_rows(folder: Path, bench: str) -> tuple[dict[str, str], list[tuple[dict, str]]]:
    """The set's documents, and each question with its paragraph: the gold one, or for an unanswerable question
    (which names none) the one BM25 ranks first for it."""
    docs = _bench_docs(folder, bench)
    rows = _jsonl(folder / bench / "qa.jsonl")
    orphans = [r for r in rows if not r["gold_doc_ids"]]
    paired = dict(zip((r["id"] for r in orphans), _best_paragraph([r["question"] for r in orphans], docs)))
    return docs, [(r, r["gold_doc_ids"][0] if r["gold_doc_ids"] else paired[r["id"]]) for r in rows]


def bench_examples(folder: Path, bench: str) -> list[tuple[str, Example]]:
    """(article, example) for every question of a benchmark set whose answer its paragraph writes."""
    docs, rows = _bench_rows(folder, bench)
    out = []
    for r, doc in rows:
        text = docs[doc]
        start, answer = -1, ""
        if r["answerable"]:
            for cand in list(r["gold_passages"]) + list(r["answers"]):
                if cand and text.find(cand) >= 0:
                    start, answer = text.find(cand), cand
                    break
            if start < 0:  # a gold answer not written in the paragraph: unusable for span training
                continue
        out.append((article_of(bench, doc, text),
                    Example(r["id"], bench, r["question"], text, start, answer, r["lang"], "vi",
                            tuple(dict.fromkeys([answer, *r["answers"]])) if answer else ())))
    return out


def dev_question_ids(folder: Path, bench: str) -> set[str]:
    """The ids of a benchmark set's questions on held-out articles (`rag eval --held-out`), every one of them."""
    docs, rows = _bench_rows(folder, bench)
    article = {r["id"]: article_of(bench, doc, docs[doc]) for r, doc in rows}
    dev = held_out(set(article.values()))
    return {q for q, a in article.items() if a in dev}


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def changed_detail(examples: list[Example], seed: int) -> list[Example]:
    """Unanswerable copies of answerable questions with one number changed: a number of the question that its
    context holds becomes one the context does not hold (a year moved by 1-9, another count). The hard negative
    of UIT-ViQuAD 2.0 and SQuAD 2.0: the passage is on topic, one detail differs."""
    rng = random.Random(seed)
    out = []
    for ex in examples:
        if not ex.answerable:
            continue
        found = [m for m in _NUMBER.finditer(ex.question) if m.group() in ex.context]
        if not found:
            continue
        m = rng.choice(found)
        digits = m.group()
        if not digits.isdigit():
            continue
        for _ in range(10):
            new = str(int(digits) + rng.choice([-1, 1]) * rng.randint(1, 9))
            if int(new) > 0 and not re.search(rf"(?<!\d){new}(?!\d)", ex.context):
                break
        else:
            continue
        q = ex.question[:m.start()] + new + ex.question[m.end():]
        out.append(replace(ex, id=ex.id + "-changed", source=ex.source + "+changed", question=q,
                           answer_start=-1, answer_text="", answers=()))
    return out


@dataclass(frozen=True)
class Splits:
    train: list[Example]
    dev: list[Example]
    changed: int  # how many of train are changed-detail negatives


def load_splits(folder: Path, seed: int = 0) -> Splits:
    """Training examples (reader-train, the training articles of both benchmark sets, changed-detail negatives of
    their answerable questions) and dev examples (the held-out articles; real questions only)."""
    train, dev = reader_train(folder)
    bench_train: list[Example] = []
    for bench in BENCH_SETS:
        dev_ids = dev_question_ids(folder, bench)
        for _, ex in bench_examples(folder, bench):
            (dev if ex.id in dev_ids else bench_train).append(ex)
    changed = changed_detail(train + bench_train, seed)
    return Splits(train + bench_train + changed, dev, len(changed))


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every data file training reads, by path under `folder`."""
    paths = [folder / "reader-train" / n for n in READER_TRAIN_FILES + REPORT_FILES]
    for bench in BENCH_SETS:
        paths.append(folder / bench / "qa.jsonl")
        paths += sorted((folder / bench / "corpus").glob("*.txt"))
    out = {}
    for p in paths:
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    for bench in BENCH_SETS:  # a corpus folder: one hash over its files' names and hashes
        names = sorted(k for k in out if k.startswith(f"{bench}/corpus/"))
        out[f"{bench}/corpus/"] = hashlib.sha256("".join(f"{k}:{out.pop(k)}\n" for k in names).encode()).hexdigest()
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def reading_windows(examples: list[Example], seed: int, neighbours: int = 1) -> list[Example]:
    """The examples cut to what the reader reads at answer time (rag/answer/reader.py): a sentence with up to
    `neighbours` sentences either side (drawn at random per example, so the answer is not always in the middle).
    An answerable example gives the window of its answer's sentence and, where its context has one, a window of
    the same context that does not hold the answer (labelled no answer: a passage on topic whose sentence is the
    wrong one, what reading several retrieved windows has to tell apart). An unanswerable one gives the window of
    the sentence sharing most words with the question (what retrieval would rank first)."""
    from rag.text import split_sentences

    rng = random.Random(seed)
    out = []
    for ex in examples:
        sents = split_sentences(ex.context)
        if not sents:
            continue

        def window(lo: int, hi: int, suffix: str, answer: bool) -> Example:
            a, b = sents[lo].start, sents[hi].end
            if answer:
                return replace(ex, id=ex.id + suffix, context=ex.context[a:b], answer_start=ex.answer_start - a)
            return replace(ex, id=ex.id + suffix, context=ex.context[a:b], answer_start=-1, answer_text="",
                           answers=())

        if not ex.answerable:
            q = _words(ex.question)
            i = max(range(len(sents)), key=lambda k: len(q & _words(ex.context[sents[k].start:sents[k].end])))
            out.append(window(max(0, i - neighbours), min(len(sents) - 1, i + neighbours), "", False))
            continue
        end = ex.answer_start + len(ex.answer_text)
        i = max(k for k, s in enumerate(sents) if s.start <= ex.answer_start) if sents[0].start <= ex.answer_start else 0
        j = max(k for k, s in enumerate(sents) if s.start < end)
        lo, hi = max(0, i - rng.randint(0, neighbours)), min(len(sents) - 1, max(j, i + rng.randint(0, neighbours)))
        w = window(lo, hi, "", True)
        if w.context[w.answer_start:w.answer_start + len(w.answer_text)] == w.answer_text:
            out.append(w)
        others = [k for k in range(len(sents)) if k + neighbours < i or k - neighbours > j]
        rng.shuffle(others)
        for k in others[:1]:
            w = window(max(0, k - neighbours), min(len(sents) - 1, k + neighbours), "-other", False)
            if all(_lower_spaced(a) not in _lower_spaced(w.context) for a in ex.answers or (ex.answer_text,)):
                out.append(w)
    return out


def _lower_spaced(text: str) -> str:
    """Lower case, single spaces: a no-answer window must not hold the answer written with other spacing or case
    (diacritics count, unlike rag.text.normalize: the shipped weights' windows were cut so)."""
    return " ".join(text.lower().split())
