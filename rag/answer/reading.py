"""The answer: read -> compose -> cite.

1. Read and decide (rag/answer/refusal.py): the refusal rule's floors, then the trained reader
   (rag/answer/reader.py) finds the answer's words in the retrieved sentences and says how sure it is; below the
   calibrated threshold the answer is a refusal. No other place refuses.
2. Compose, in the question's language:
   - the span's sentence is in that language: the span, then its sentence quoted ("308 — “Đội thủ ...” [1]"); a
     span that is most of its sentence is the sentence alone;
   - it is not (an English question over Vietnamese text): the span written in English by rule where rules
     cover it (dates, numbers, amounts; names and acronyms copied: rag/answer/spans.py), else rendered by the
     local model as a short phrase (prompts.gloss_messages; the question is shown to it only to try again when
     the first rendering fails its check) that is checked: its numbers and Vietnamese names
     are the span's, and its meaning is close to the span's (cross-language cosine). The original words stand
     beside it: `the Asia Zero Emission Community (“Cộng đồng châu Á phát thải ròng bằng 0 (AZEC)”) [1]`. When
     there is no model, or the phrase fails the check, the answer is the span quoted and labelled as the
     article's language.
3. Cite: the sentence the span is in, by the program, never by a model.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable, Generator, Iterator

from rag.answer.generated import GeneratedAnswerer, model_failure, select_sentences
from rag.answer.prompts import gloss_messages
from rag.answer.refusal import RefusalDecision
from rag.answer.spans import MONTHS, english, names
from rag.errors import ModelNotReadyError, RagError
from rag.text import VI_LETTERS, is_vietnamese, normalize, numbers
from rag.types import REFUSAL, Answer, Citation, Done, Event, Passage, Preview, RetrievalResult, TextDelta

# The label before words quoted in the article's language, per question language.
QUOTE_LABEL = {"en": "From the article (in Vietnamese):", "vi": "Trích bài viết (tiếng Anh):"}
WHOLE_SENTENCE = 0.6  # a span at least this share of its sentence is answered with the sentence alone


def gloss_problems(gloss: str, span: str) -> list[str]:
    """What of `gloss` the span does not hold (numbers, names with Vietnamese letters, compared without
    diacritics), then the span's numbers `gloss` dropped (a month number counts as kept when a month is named)."""
    have = numbers(span) | ({str(n) for n in range(1, 13)} if "tháng" in span.lower() or "/" in span else set())
    problems = [n for n in sorted(numbers(gloss)) if n not in have]
    plain = normalize(span)
    problems += [n for n in names(gloss) if any(c in VI_LETTERS for c in n.lower()) and normalize(n) not in plain]
    written = numbers(gloss) | ({str(n) for n in range(1, 13)} if any(m in gloss for m in MONTHS) else set())
    return problems + [n for n in sorted(numbers(span)) if n not in written]


def refusal_score(margin: float | None, threshold: float) -> float | None:
    """The reader's margin as a score in 0..1 that is 0.5 at the threshold and grows as the margin falls: what
    the eval report's refusal curve ranks by."""
    if margin is None:
        return None
    return 1.0 / (1.0 + math.exp(max(-30.0, min(30.0, margin - threshold))))


class ReadingAnswerer:
    def __init__(self, decision: RefusalDecision, model=None, name: str = "extractive", label: str | None = None,
                 answer_lang: str = "auto", similarity: Callable | None = None, min_similarity: float = 0.0,
                 context_words: int = 0, retry: bool = True, writer: GeneratedAnswerer | None = None) -> None:
        """`model`: a LangChain chat model that renders a span in the other language (None: the span is quoted);
        `similarity(phrases, spans)`: cosines between them, to check a rendering, which must reach
        `min_similarity` (the embedder's cross-language citation cosine, CitationSettings)."""
        self.decision = decision
        self.model = model
        self.name = name
        self.label = label or name
        self.answer_lang = answer_lang
        self.similarity = similarity
        self.min_similarity = min_similarity
        self.context_words = context_words  # of the sentence, either side of the span, that the model reads
        self.retry = retry  # a rendering that fails its check is asked for again, the question shown this time
        # Across languages, the model writing the answer from the best sentences (checked) before the span is
        # rendered: the reader's own answer when the model's fails its check (GeneratorSettings.mode "hybrid").
        self.writer = writer

    def stream(self, result: RetrievalResult, timings: dict, started: float | None = None) -> Iterator[Event]:
        started = started if started is not None else time.perf_counter()
        lang = result.lang if self.answer_lang == "auto" else self.answer_lang
        timings = dict(timings)
        t0 = time.perf_counter()
        decision = self.decision.decide(result)
        timings["read_ms"] = (time.perf_counter() - t0) * 1000
        score = refusal_score(decision.margin, self.decision.threshold(result.lang))
        scores = {"support_score": decision.judgement.best_score, "low_relevance": decision.judgement.low_relevance,
                  "refusal_probability": score}

        def done(text: str, refused: bool, citations=(), draft: str = "") -> Done:
            now = (time.perf_counter() - started) * 1000
            timings.setdefault("first_token_ms", now)
            timings["total_ms"] = now
            return Done(Answer(result.question, lang, text, refused, tuple(citations), result.passages, self.name,
                               timings, draft=draft, **scores))

        if decision.refused:
            yield done(REFUSAL[lang], True)
            return
        best = decision.readings[0]
        s = best.support
        citation = Citation(1, s.passage.doc_id, s.passage.chunk_id, s.passage.title, s.passage.date, s.text,
                            s.start, s.end, s.passage.source)
        given = (Passage(1, s.passage.doc_id, s.passage.chunk_id, s.passage.title, s.text, s.start, s.end, s.score,
                         s.passage.kind, s.passage.date, s.passage.source),)
        sentence = " ".join(s.text.split())
        span = " ".join(best.span.split()) or sentence
        if is_vietnamese(sentence) == (lang == "vi"):
            yield Preview(given)
            if len(span) >= WHOLE_SENTENCE * len(sentence):
                yield done(f"{sentence} [1]", False, [citation])
            else:
                yield done(f"{span} — “{sentence}” [1]", False, [citation])
            return
        labelled = f"{QUOTE_LABEL[lang]} “{span}” [1]"
        if self.writer is not None:
            sentences = select_sentences(list(result.supports), self.writer.settings.max_sentences,
                                         self.writer.settings.max_passage_chars)
            yield Preview(tuple(sentences))
            try:
                written, _ = yield from self.writer.write(result, lang, sentences, timings, started)
            except ModelNotReadyError as exc:
                yield done(f"{labelled}\n{exc}", False, [citation])
                return
            if not written.refused:
                yield Done(replace(written, **scores))
                return
        ruled, complete = english(span) if lang == "en" else (span, False)
        if complete:
            yield Preview(given)
            text = f"{ruled} [1]" if ruled == span else f"{ruled} (“{span}”) [1]"
            yield done(text, False, [citation])
            return
        if self.model is None:
            yield Preview(given)
            yield done(labelled, False, [citation])
            return
        for with_question in (False, True) if self.retry else (False,):
            yield Preview(given, labelled)  # shown at once (again before a retry); the checked phrase replaces it
            timings.setdefault("preview_ms", (time.perf_counter() - started) * 1000)
            try:
                raw = yield from self._render(gloss_messages(sentence, result.question, span, lang, self.context_words,
                                                             with_question), timings, started)
            except ModelNotReadyError as exc:  # the model is still being set up: the quote now, with why
                yield done(f"{labelled}\n{exc}", False, [citation])
                return
            gloss = " ".join(raw.replace("[1]", " ").split()).strip(" .\"“”")
            if gloss and "\n" not in raw.strip() and len(gloss) <= 3 * len(span) + 40 \
                    and not gloss_problems(gloss, span) and self._close(gloss, span):
                yield done(f"{gloss} (“{span}”) [1]", False, [citation], draft=raw.strip())
                return
        yield done(labelled, False, [citation], draft=raw.strip())

    def _render(self, messages, timings: dict, started: float) -> Generator[Event, None, str]:
        """Stream the model's rendering as TextDelta events; returns its whole text."""
        raw = ""
        try:
            for chunk in self.model.stream(messages):
                piece = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
                if not piece:
                    continue
                if "first_token_ms" not in timings:
                    timings["first_token_ms"] = (time.perf_counter() - started) * 1000
                raw += piece
                yield TextDelta(piece)
        except RagError:
            raise
        except Exception as exc:  # a server that went away, a model that crashed: a message, not a traceback
            raise model_failure(self.label, exc) from exc
        return raw

    def _close(self, gloss: str, span: str) -> bool:
        if self.similarity is None:
            return True
        return float(self.similarity([gloss], [span])[0][0]) >= self.min_similarity
