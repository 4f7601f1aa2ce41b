"""What the chat does, without Gradio: one assistant per (backend, model, answer language) sharing one embedder
and one loaded index, follow-up rewriting, streaming events, the relevance check, the source of a citation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.followup import FollowUpRewriter, Rewrite, Turn
from rag.assistant import Assistant
from rag.errors import RagError
from rag.indexing.store import IndexData
from rag.settings import Settings
from rag.text import detect_language
from rag.types import Answer, Preview, RetrievalResult

from . import render

# An answer is flagged as weakly supported when its best sentence is less than this far above the threshold
# at which the backend refuses (the thresholds are Settings.answer_min_score_* / generate_min_score_*).
LOW_RELEVANCE_MARGIN = 0.03


class _Variant(Assistant):
    """An assistant with other generator settings that uses the main assistant's loaded index."""

    def __init__(self, main: Assistant, settings: Settings, chat_model=None) -> None:
        super().__init__(settings, embedder=main.embedder, notify=main.notify, chat_model=chat_model)
        self._main = main

    def index_data(self) -> IndexData:
        return self._main.index_data()

    def build_index(self, rebuild: bool = False, show_bar: bool = False):
        return self._main.build_index(rebuild=rebuild, show_bar=show_bar)


class AssistantPool:
    """Assistants by generator settings, made on first use; all share the embedder and the index in memory
    (a local GGUF model runs in one worker process for them all, rag/models/worker.py)."""

    def __init__(self, settings: Settings, embedder=None, notify: Callable[[str], None] | None = None,
                 chat_model=None) -> None:
        """`chat_model` replaces every model backend's chat model (tests pass a fake)."""
        self.main = Assistant(settings, embedder=embedder, notify=notify, chat_model=chat_model)
        self._chat_model = chat_model
        self._variants: dict[tuple[str, str, str], Assistant] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self.main.settings

    def get(self, backend: str | None = None, model: str | None = None, answer_lang: str | None = None) -> Assistant:
        """The assistant for these generator settings (None keeps the configured value). Raises RagError on a
        bad value."""
        g = self.main.settings.generator
        generator = g.replace(backend=backend, model=model or None, answer_lang=answer_lang)
        if generator == g:
            return self.main
        key = (generator.backend, generator.model, generator.answer_lang)
        with self._lock:
            if key not in self._variants:
                self._variants[key] = _Variant(self.main, self.main.settings.replace(generator=generator),
                                               chat_model=self._chat_model)
            return self._variants[key]


@dataclass
class ChatTurn:
    """One question and what came of it, kept per browser tab."""

    question: str
    standalone: str = ""
    rewrite_method: str = "none"
    answer: Answer | None = None
    error: str | None = None
    best_score: float | None = None
    low_relevance: bool = False
    backend: str = ""
    model: str = ""
    k: int = 5
    index_version: str = ""
    asked_at: float = field(default_factory=time.time)

    @property
    def shown_text(self) -> str:
        if self.error:
            return self.error
        return self.answer.text if self.answer else ""


@dataclass(frozen=True)
class ChatEvent:
    """A step of answering: "rewritten", "preview", "text" (more of the answer), "done" or "error"."""

    kind: str
    turn: ChatTurn
    text: str = ""  # the answer so far, for "text"


class ChatEngine:
    def __init__(self, pool: AssistantPool, log_error: Callable[[BaseException], None] | None = None) -> None:
        self.pool = pool
        self.log_error = log_error or (lambda exc: None)
        self._answerers: dict[str, ExtractiveAnswerer] = {}

    def ask(self, question: str, history: list[ChatTurn], backend: str | None = None, model: str | None = None,
            answer_lang: str | None = None, k: int | None = None) -> Iterator[ChatEvent]:
        """Answer `question` in the conversation `history`: events as the answer is made. Errors end in an
        "error" event whose turn carries the message (never a traceback)."""
        turn = ChatTurn(question=question, k=k or self.pool.settings.retrieval.k)
        try:
            assistant = self.pool.get(backend, model, answer_lang)
            g = assistant.settings.generator
            turn.backend, turn.model = g.backend, (g.model if g.backend == "local" else "")
            rewrite = self.rewrite(assistant, question, history)
            turn.standalone, turn.rewrite_method = rewrite.standalone, rewrite.method
            if rewrite.changed:
                yield ChatEvent("rewritten", turn)
            streamed = ""
            for event in assistant.ask_stream(rewrite.standalone, k=turn.k):
                if isinstance(event, Preview):
                    yield ChatEvent("preview", turn)
                elif isinstance(event, str):
                    streamed += event
                    yield ChatEvent("text", turn, streamed)
                elif isinstance(event, Answer):
                    turn.answer = event
            turn.index_version = assistant.index_data().version
            self._check_relevance(assistant, turn)
            yield ChatEvent("done", turn)
        except RagError as exc:
            turn.error = str(exc)
            yield ChatEvent("error", turn)
        except Exception as exc:  # noqa: BLE001 - the user sees a message, the server log the traceback
            self.log_error(exc)
            turn.error = (f"unexpected error ({type(exc).__name__}: {str(exc)[:200]}); the details are in the "
                          "server log")
            yield ChatEvent("error", turn)

    def rewrite(self, assistant: Assistant, question: str, history: list[ChatTurn]) -> Rewrite:
        turns = [Turn(t.standalone or t.question, t.shown_text) for t in history if t.answer is not None]
        model = assistant.chat_model() if assistant.settings.generator.backend != "extractive" and turns else None
        return FollowUpRewriter(model).rewrite(question, turns)

    def _check_relevance(self, assistant: Assistant, turn: ChatTurn) -> None:
        """The best sentence's cosine similarity to the question, and whether it is close to the refusal line."""
        answer = turn.answer
        if answer is None or not answer.passages:
            turn.low_relevance = answer is not None
            return
        data = assistant.index_data()
        lang = detect_language(answer.question)
        r = assistant.settings.retrieval
        qvec = assistant.embedder.embed_queries([answer.question],
                                                prompt=r.query_prompt_vi if lang == "vi" else r.query_prompt_en)[0]
        answerer = self._answerers.get(data.version)
        if answerer is None or answerer.index is not data:
            answerer = ExtractiveAnswerer(data, min_scores={})
            self._answerers = {data.version: answerer}
        supports = answerer.supports(RetrievalResult(answer.question, lang, answer.passages, qvec))
        turn.best_score = supports[0].score if supports else None
        s = assistant.settings
        floor = (s.answer_min_score_vi if lang == "vi" else s.answer_min_score_en) if answer.backend == "extractive" \
            else (s.generate_min_score_vi if lang == "vi" else s.generate_min_score_en)
        turn.low_relevance = turn.best_score is None or turn.best_score < floor + LOW_RELEVANCE_MARGIN

    def source(self, turn: ChatTurn, n: int) -> str:
        """The whole article of citation `n` of `turn`, its passage highlighted (HTML)."""
        if turn.answer is None:
            return render.source_placeholder()
        cited = [c for c in turn.answer.citations if c.n == n]
        if not cited:
            return render.source_placeholder()
        c = cited[0]
        doc = self.pool.main.index_data().docs.get(c.doc_id)
        if doc is None:
            return render.source_html(c.title, c.date, c.source, c.doc_id, c.quote, 0, len(c.quote),
                                      note="Bài này không còn trong chỉ mục · This article is no longer in the index; "
                                           "the quoted sentence is shown alone")
        start, end, note = c.start, c.end, ""
        if doc.text[start:end] != c.quote:  # the article changed since the answer
            found = doc.text.find(c.quote)
            start, end = (found, found + len(c.quote)) if found >= 0 else (None, None)
            note = "" if found >= 0 else ("Bài đã thay đổi từ khi trả lời · The article changed since this answer; "
                                          "the quoted sentence is no longer in it")
        return render.source_html(doc.title or doc.doc_id, doc.date, doc.source, doc.doc_id, doc.text, start, end,
                                  note=note)
