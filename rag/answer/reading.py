"""The reader's answer (issue 12): the program picks the sentences, copies the facts, and never loses an answer.

1. The refusal rule (rag/answer/answerability.py) refuses what the passages do not support, without a model:
   the extractive answer's floors, and the numbers and acronyms of the question that no passage has; then the
   refusal decision (rag/answer/refusal.py): a date or number question that none of the first sentences can
   answer (its calibrated part is measured, and off: see RefusalSettings).
2. The reader (rag/answer/reader.py) ranks the sentences; the first one (and the second within the margin) is
   the answer's source. When a model will write the answer, the Preview that comes first carries the labelled
   quote (4.), which the UI and the CLI show at once, until the checked answer replaces it.
3. Sentences all in the question's language are the answer: quoted and cited, nothing regenerated.
4. Otherwise the sentences go to the model with the question (prompts.translate_messages); its answer
   is kept when every number in it is one of the sentences' and every Vietnamese-looking name in it is written
   in them, and it holds the date, amount or name the question asks for (missing_answer); the program cites
   the sentences. When it fails that check the reply is the quote in quotation marks,
   labelled as being in the article's language: a supported answer never becomes a refusal. When the model says
   NOT_FOUND (it read the sentences and they do not answer), the answer is a refusal.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Iterator

from langchain_core.language_models import BaseChatModel

from rag.answer.answerability import RefusalRule
from rag.answer.generated import looks_like_instruction, may_become_not_found, model_failure, says_not_found
from rag.answer.prompts import translate_messages
from rag.answer.reader import Reader, asks_for
from rag.answer.refusal import RefusalDecision
from rag.answer.selection import select_support
from rag.answer.spans import MONTHS, names, span
from rag.errors import RagError
from rag.settings import ExtractiveSettings, GeneratorSettings
from rag.text import VI_LETTERS, is_vietnamese, normalize, numbers
from rag.types import REFUSAL, Answer, Citation, Done, Event, Passage, Preview, RetrievalResult, \
    Support, TextDelta

# The label before a quote in the article's language, per question language.
QUOTE_LABEL = {"en": "From the article (in Vietnamese):", "vi": "Trích bài viết (tiếng Anh):"}
_MARKERS = re.compile(r"\s*\[\d+\]")
_WORDS = re.compile(r"[^\W\d_]{2,}")  # a sentence of fewer words ("02:44 - 26/07/2025") answers nothing


def translation_problems(reply: str, sources: list[str]) -> list[str]:
    """What of `reply` the sources do not hold: numbers (a month number counts when a month is named, as in
    "10 July" for "10/7") and names with Vietnamese letters, compared without diacritics."""
    blob = " ".join(sources)
    have = numbers(blob)
    if any(m.lower() in blob.lower() for m in MONTHS):
        have |= {str(n) for n in range(1, 13)}
    problems = [n for n in sorted(numbers(reply)) if n not in have]
    plain = normalize(blob)
    problems += [n for n in names(reply) if any(c in VI_LETTERS for c in n.lower()) and normalize(n) not in plain]
    return problems


def missing_answer(question: str, sources: list[str], reply: str) -> list[str]:
    """The span the question asks for (a date, an amount, a name: reader.asks_for, spans.span) that the sources
    hold and `reply` does not (for a name: none of the sources' names), in its English form: a translation that
    dropped the detail asked for ("in 2025" for "on 10/7/2025" keeps its numbers but loses the answer). Empty
    when the reply holds one of them, or the question asks for none of these."""
    kind = asks_for(question)
    if kind == "name":  # any of the names: "who co-chaired" has two, "where" may be named before the answer
        wanted = [n for s in sources for n in names(s) if n.lower() not in question.lower()]
    else:
        wanted = [found[1] for found in (span(kind, s, question) for s in sources) if found]
    if not wanted:
        return []
    have, words = numbers(reply), set(normalize(reply).split())

    def held(english: str) -> bool:
        return numbers(english) <= have and all(w in words for w in normalize(re.sub(r"[\d.,%]+", " ", english)).split())

    return [] if any(held(w) for w in wanted) else wanted[:1]


class ReadingAnswerer:
    def __init__(self, model: BaseChatModel | None, settings: GeneratorSettings, rule: RefusalRule, reader: Reader,
                 extractive: ExtractiveSettings, name: str = "local", label: str | None = None,
                 decision: RefusalDecision | None = None) -> None:
        """`rule` and `decision` decide the refusals: the extractive answer's floors, then the refusal decision
        (the model does not judge whether the sentences answer; the 1.5B wrote NOT_FOUND for none of the seeds'
        English questions)."""
        self.decision = decision
        self.model = model
        self.settings = settings
        self.rule = rule
        self.reader = reader
        self.extractive = extractive
        self.name = name
        self.label = label or name

    def answer_lang(self, result: RetrievalResult) -> str:
        return result.lang if self.settings.answer_lang == "auto" else self.settings.answer_lang

    def choose(self, result: RetrievalResult, readings=None) -> list[Support]:
        """The reader's first sentence, and the next within the margin, in reading order; no instructions."""
        return self.reader.choose(result, self.extractive.max_sentences, self.extractive.relative_margin,
                                  lambda t: len(_WORDS.findall(t)) >= 3 and not looks_like_instruction(t), readings)

    def stream(self, result: RetrievalResult, timings: dict, started: float | None = None) -> Iterator[Event]:
        started = started if started is not None else time.perf_counter()
        lang = self.answer_lang(result)
        timings = dict(timings)
        selection = select_support(result, self.rule, self.reader, self.decision, self.choose)
        chosen, scored = selection.chosen, selection.scores

        def done(answer: Answer) -> Done:
            now = (time.perf_counter() - started) * 1000
            answer.timings.setdefault("first_token_ms", now)
            answer.timings["total_ms"] = now
            return Done(replace(answer, **scored))

        if not chosen:
            yield done(Answer(result.question, lang, REFUSAL[lang], True, (), result.passages, self.name, timings))
            return
        given = tuple(Passage(n, s.passage.doc_id, s.passage.chunk_id, s.passage.title, s.text, s.start, s.end,
                              s.score, s.passage.kind, s.passage.date, s.passage.source)
                      for n, s in enumerate(chosen, start=1))
        citations = tuple(Citation(n, s.passage.doc_id, s.passage.chunk_id, s.passage.title, s.passage.date, s.text,
                                   s.start, s.end, s.passage.source) for n, s in enumerate(chosen, start=1))
        markers = " ".join(f"[{c.n}]" for c in citations)
        quote = " ".join(f"{' '.join(s.text.split())} [{n}]" for n, s in enumerate(chosen, start=1))
        if all(is_vietnamese(s.text) == (lang == "vi") for s in chosen) or self.model is None:
            yield Preview(given)
            timings["first_token_ms"] = (time.perf_counter() - started) * 1000
            yield done(Answer(result.question, lang, quote, False, citations, result.passages, self.name, timings))
            return
        labelled = f"{QUOTE_LABEL[lang]} " + " ".join(f"“{' '.join(s.text.split())}” [{n}]"
                                                     for n, s in enumerate(chosen, start=1))
        yield Preview(given, labelled)  # shown at once; the model's checked answer replaces it
        timings["preview_ms"] = (time.perf_counter() - started) * 1000
        raw, shown = "", 0
        try:
            for chunk in self.model.stream(translate_messages(result.question, [s.text for s in chosen], lang)):
                piece = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
                if not piece:
                    continue
                if "first_token_ms" not in timings:
                    timings["first_token_ms"] = (time.perf_counter() - started) * 1000
                raw += piece
                if not may_become_not_found(raw) and len(raw) > shown:
                    yield TextDelta(raw[shown:])  # with what was held back while it might have been NOT_FOUND
                    shown = len(raw)
        except RagError:
            raise
        except Exception as exc:  # a server that went away, a model that crashed: a message, not a traceback
            raise model_failure(self.label, exc) from exc
        text = " ".join(_MARKERS.sub("", raw).split())
        if says_not_found(text):  # the model read the sentences and says they do not answer
            yield done(Answer(result.question, lang, REFUSAL[lang], True, (), result.passages, self.name, timings,
                              draft=raw.strip()))
            return
        sources = [s.text for s in chosen]
        ok = bool(text) and not translation_problems(text, sources) and not missing_answer(result.question,
                                                                                          sources, text)
        reply = f"{text} {markers}" if ok else labelled
        yield done(Answer(result.question, lang, reply, False, citations, result.passages, self.name, timings,
                          draft=raw.strip()))
