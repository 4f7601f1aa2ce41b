"""Generated answers: the best sentences of the retrieved passages go to a chat model, its answer is streamed,
then its citations are checked against those sentences and rebuilt by the program (rag/answer/citations.py).

The model reads sentences, not whole chunks (prompt processing dominates on a CPU), numbered 1..n.
A question whose best sentence is far from it, or that names a number or acronym none of the retrieved
passages contain, is refused without calling the model (the refusal rule, rag/answer/answerability.py).
Sentences that read like instructions to a model are left out of the prompt: document text is data.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Generator, Iterator

from langchain_core.language_models import BaseChatModel

from rag.answer.answerability import RefusalRule
from rag.answer.citations import check_citations
from rag.answer.prompts import answer_messages
from rag.errors import GeneratorError, RagError
from rag.settings import CitationSettings, GeneratorSettings
from rag.text import detect_language
from rag.types import NOT_FOUND, REFUSAL, Answer, Done, Event, Passage, Preview, RetrievalResult, Support, TextDelta

# Text in a document that addresses a language model rather than a reader.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|prompts?|rules?)\b|\bsystem prompt\b|"
    r"\b(reply|respond|answer|say)\b.{0,20}\bonly\b.{0,20}\b[A-Z]{4,}\b|"
    r"\bbỏ qua\b.{0,40}\b(hướng dẫn|chỉ dẫn|chỉ thị|lệnh)\b|\b(as an ai|you are now)\b",
    re.I | re.S)


_NOT_FOUND = re.compile(NOT_FOUND.replace("_", "[_ ]"), re.I)  # NOT_FOUND, as models also write it: "Not found"


def says_not_found(text: str) -> bool:
    """Whether a model's reply is (or holds) NOT_FOUND, as models write it."""
    return bool(_NOT_FOUND.search(text))


def may_become_not_found(raw: str) -> bool:
    """Whether the reply so far is, or may still become, NOT_FOUND: held back from the stream, so a refusal
    never shows the marker."""
    head = raw.lstrip().upper().replace(" ", "_")
    return head.startswith(NOT_FOUND) or NOT_FOUND.startswith(head)


def model_failure(label: str, exc: Exception) -> GeneratorError:
    """What to say when the model (`label`) failed mid-answer."""
    return GeneratorError(f"the model ({label}) failed while answering ({type(exc).__name__}: {str(exc)[:200]}); "
                          "check that it is running and reachable, try again, or use --backend extractive")


def looks_like_instruction(text: str) -> bool:
    return bool(_INSTRUCTION.search(text))


def select_sentences(supports: list[Support], max_sentences: int, max_chars: int) -> list[Passage]:
    """The best sentences, as passages numbered 1..n, within the character budget; no instructions."""
    chosen: list[Passage] = []
    seen: set[str] = set()
    used = 0
    for s in supports:
        text = " ".join(s.text.split())
        if not text or text in seen or looks_like_instruction(text):
            continue
        if chosen and used + len(text) > max_chars:
            continue
        p = s.passage
        chosen.append(Passage(len(chosen) + 1, p.doc_id, p.chunk_id, p.title, s.text, s.start, s.end, s.score,
                              p.kind, p.date, p.source))
        seen.add(text)
        used += len(text)
        if len(chosen) >= max_sentences:
            break
    return chosen


class GeneratedAnswerer:
    def __init__(self, model: BaseChatModel, settings: GeneratorSettings, rule: RefusalRule,
                 citations: CitationSettings, name: str = "local", label: str | None = None,
                 similarity=None) -> None:
        """`rule` refuses a question without calling the model (rag/answer/answerability.py); `citations` are the
        thresholds the model's citations are checked with. `label` names the model in error messages (e.g.
        "openai local-model at http://127.0.0.1:8080/v1")."""
        self.model = model
        self.settings = settings
        self.rule = rule
        self.citations = citations
        self.name = name
        self.label = label or name
        self.similarity = similarity  # (claims, sentences) -> cosines, to check citations across languages

    def answer_lang(self, result: RetrievalResult) -> str:
        return result.lang if self.settings.answer_lang == "auto" else self.settings.answer_lang

    def stream(self, result: RetrievalResult, timings: dict, started: float | None = None) -> Iterator[Event]:
        """Preview, then the answer's text as it is written (TextDelta), then Done with the checked Answer.

        `started` is the perf_counter() time the question arrived: first_token_ms and total_ms count from it."""
        started = started if started is not None else time.perf_counter()
        lang = self.answer_lang(result)
        timings = dict(timings)
        judgement = self.rule.judge(result)
        scored = {"support_score": judgement.best_score, "low_relevance": judgement.low_relevance}

        def refusal() -> Done:
            now = (time.perf_counter() - started) * 1000
            timings.setdefault("first_token_ms", now)
            timings["total_ms"] = now
            return Done(replace(self._refusal(result, lang, timings), **scored))

        if not judgement.answerable:
            yield refusal()
            return
        given = select_sentences(list(result.supports), self.settings.max_sentences, self.settings.max_passage_chars)
        if not given:
            yield refusal()
            return
        yield Preview(tuple(given))
        answer, p_refuse = yield from self.write(result, lang, given, timings, started)
        answer = replace(answer, **scored)
        yield Done(replace(answer, refusal_probability=p_refuse) if p_refuse is not None else answer)

    def write(self, result: RetrievalResult, lang: str, given: list[Passage], timings: dict,
              started: float) -> Generator[Event, None, tuple[Answer, float | None]]:
        """Stream the model's answer from the sentences `given` (TextDelta events); return it checked (a refusal
        when the model says NOT_FOUND or no citation holds), with the model's refusal probability when known."""
        messages = answer_messages(result.question, [p.text for p in given], lang)
        raw, shown, p_refuse = "", 0, None
        try:
            for chunk in self.model.stream(messages):
                if "refusal_probability" in chunk.response_metadata:
                    p_refuse = chunk.response_metadata["refusal_probability"]
                piece = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
                if not piece:
                    continue
                raw += piece
                if "first_token_ms" not in timings:
                    timings["first_token_ms"] = (time.perf_counter() - started) * 1000
                # Hold back what is or may become NOT_FOUND, so a refusal never shows the marker.
                if may_become_not_found(raw):
                    continue
                if len(raw) > shown:
                    yield TextDelta(raw[shown:])
                    shown = len(raw)
        except RagError:
            raise
        except Exception as exc:  # a server that went away, a model that crashed: a message, not a traceback
            raise model_failure(self.label, exc) from exc
        return self.finish(result, lang, raw, given, timings, started), p_refuse

    def _refusal(self, result: RetrievalResult, lang: str, timings: dict, draft: str = "") -> Answer:
        return Answer(result.question, lang, REFUSAL[lang], True, (), result.passages, self.name, timings, draft=draft)

    def finish(self, result: RetrievalResult, lang: str, raw: str, given: list[Passage], timings: dict,
               started: float) -> Answer:
        """Check the model's text: a refusal, or an answer whose citations the program rebuilt."""
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        timings.setdefault("first_token_ms", timings["total_ms"])
        text = raw.strip()
        refused_answer = self._refusal(result, lang, timings, draft=text)
        if not text or says_not_found(text):
            return refused_answer
        source_lang = detect_language(" ".join(p.text for p in given))
        # Every fact cited: a sentence that no given passage supports is left out.
        checked = check_citations(text, given, self.citations, cross_language=source_lang != lang,
                                  question=result.question, similarity=self.similarity)
        if not checked.citations:
            return refused_answer  # nothing in the answer is found in the passages: say so, invent nothing
        return Answer(result.question, lang, checked.text, False, checked.citations, result.passages, self.name,
                      timings, draft=text)

