"""What the chat does, without Gradio: one assistant per (backend, model, answer language) sharing one embedder
and one loaded index, follow-up rewriting, streaming events, the source of a citation. The relevance warning
is the answer's own (Answer.low_relevance, set by the refusal rule): nothing is scored again here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rag.answer.followup import FollowUpRewriter, Rewrite, Turn
from rag.assistant import Assistant
from rag.errors import RagError
from rag.indexing.store import IndexData
from rag.models.backends import backend
from rag.settings import Settings
from rag.text import detect_language
from rag.types import Answer

from . import render
from .gate import GatedChatModel, ModelGate, PriorityLine


class _Variant(Assistant):
    """An assistant with other generator settings that uses the main assistant's loaded index."""

    def __init__(self, main: Assistant, settings: Settings, chat_model=None) -> None:
        super().__init__(settings, embedder=main.embedder, notify=main.notify, chat_model=chat_model)
        self._main = main

    def index_data(self) -> IndexData:
        return self._main.index_data()

    def build_index(self, rebuild: bool = False, show_bar: bool = False):
        return self._main.build_index(rebuild=rebuild, show_bar=show_bar)

    def span_model(self):
        return self._main.span_model()


class AssistantPool:
    """Assistants by generator settings, made on first use; all share the embedder, the reader and the index in
    memory (a local GGUF model runs in one worker process for them all, rag/models/worker.py), and every call to a
    model goes through one line, `gate` (ui/gate.py): a few calls at a time, in order, a busy message past
    settings.server.max_waiting. Answers without a model never enter it."""

    def __init__(self, settings: Settings, embedder=None, notify: Callable[[str], None] | None = None,
                 chat_model=None, span_model=None) -> None:
        """`chat_model` replaces every model backend's chat model, `span_model` the reader (tests pass fakes)."""
        self._chat_model = chat_model
        self.gate = ModelGate(settings.server.max_waiting, at_once=settings.generator.parallel)
        self.retrievals = PriorityLine(settings.threads)  # as many at once as cores (ui/gate.py)
        self.main = Assistant(settings, embedder=embedder, notify=notify, chat_model=self._gated(settings),
                              span_model=span_model)
        self._variants: dict[tuple[str, str, str], Assistant] = {}
        self._lock = threading.Lock()

    def _gated(self, settings: Settings) -> GatedChatModel:
        """The chat model of `settings`' backend behind the pool's gate, made on its first call."""
        g = settings.generator
        make = (lambda: self._chat_model) if self._chat_model is not None else (lambda: backend(g.backend).chat_model(g))
        return GatedChatModel(make=make, gate=self.gate, nice=settings.server.model_nice)

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
                settings = self.main.settings.replace(generator=generator)
                self._variants[key] = _Variant(self.main, settings, chat_model=self._gated(settings))
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
    preview: str = ""  # the extractive answer shown while the model writes (replaced by `answer`)
    index_version: str = ""
    asked_at: float = field(default_factory=time.time)

    @property
    def shown_text(self) -> str:
        if self.error:
            return self.error
        return self.answer.text if self.answer else ""


class Conversation:
    """One browser tab's chat: the answered turns, the turn being answered and the questions waiting their turn.

    A question sent while an answer is being written is added to `waiting`, shown as waiting, and answered after
    the ones before it by the tab's one worker (`claim` / `next_question` / `finish`). Every event of the tab
    renders from this object, so they all show the same chat. Kept in a gr.State: each tab gets a fresh one."""

    def __init__(self) -> None:
        self.turns: list[ChatTurn] = []
        self.current: ChatTurn | None = None  # being answered
        self.streamed: str | None = None  # the current answer as written so far
        self.waiting: list[str] = []
        self._lock = threading.Lock()
        self._working = False
        self._epoch = 0  # a clear starts a new epoch: an answer from before it is dropped

    def __deepcopy__(self, memo) -> "Conversation":
        return Conversation()  # a new tab's state

    def add(self, question: str) -> None:
        with self._lock:
            self.waiting.append(question)

    def claim(self) -> bool:
        """True when the caller becomes the tab's worker (none was answering)."""
        with self._lock:
            if self._working or not self.waiting:
                return False
            self._working = True
            return True

    def next_question(self) -> tuple[str, int] | None:
        """The worker's next question and the epoch it belongs to; None (and the worker stops) when none waits."""
        with self._lock:
            if not self.waiting:
                self._working = False
                self.current, self.streamed = None, None
                return None
            self.current, self.streamed = ChatTurn(self.waiting[0]), None
            return self.waiting.pop(0), self._epoch

    def release(self) -> None:
        """The worker ended early (the tab closed): another may start."""
        with self._lock:
            self._working = False
            self.current, self.streamed = None, None

    def show(self, turn: ChatTurn, streamed: str | None = None) -> None:
        self.current, self.streamed = turn, streamed

    def finish(self, turn: ChatTurn, epoch: int) -> int | None:
        """Keep an answered turn; its index, or None when the chat was cleared meanwhile."""
        with self._lock:
            self.current, self.streamed = None, None
            if epoch != self._epoch:
                return None
            self.turns.append(turn)
            return len(self.turns) - 1

    def clear(self) -> None:
        with self._lock:
            self.turns, self.waiting = [], []
            self.current, self.streamed = None, None
            self._epoch += 1


@dataclass(frozen=True)
class ChatEvent:
    """A step of answering: "rewritten", "preview", "text" (more of the answer), "done" or "error"."""

    kind: str
    turn: ChatTurn
    text: str = ""  # the answer so far, for "text"


def needs_model(assistant: Assistant, question: str) -> bool:
    """Will the answer likely call the model? Only a guess for the order of retrievals: the extractive backend
    never does; the reader and hybrid modes only to answer in another language than Vietnamese (they quote the
    articles, in Vietnamese, as written); the generate mode always."""
    g = assistant.settings.generator
    if not assistant.backend.generates:
        return False
    if g.mode == "generate":
        return True
    return (detect_language(question) if g.answer_lang == "auto" else g.answer_lang) != "vi"


class ChatEngine:
    def __init__(self, pool: AssistantPool, log_error: Callable[[BaseException], None] | None = None) -> None:
        self.pool = pool
        self.log_error = log_error or (lambda exc: None)

    def ask(self, question: str, history: list[ChatTurn], backend: str | None = None, model: str | None = None,
            answer_lang: str | None = None, k: int | None = None) -> Iterator[ChatEvent]:
        """Answer `question` in the conversation `history`: events as the answer is made. Errors end in an
        "error" event whose turn carries the message (never a traceback)."""
        turn = ChatTurn(question=question, k=k or self.pool.settings.retrieval.k)
        try:
            assistant = self.pool.get(backend, model, answer_lang)
            g = assistant.settings.generator
            turn.backend, turn.model = g.backend, (g.model if assistant.backend.local else "")
            rewrite = self.rewrite(assistant, question, history)
            turn.standalone, turn.rewrite_method = rewrite.standalone, rewrite.method
            if rewrite.changed:
                yield ChatEvent("rewritten", turn)
            with self.pool.retrievals.turn(1 if needs_model(assistant, rewrite.standalone) else 0):
                stream = assistant.ask_stream(rewrite.standalone, k=turn.k)  # retrieves now
            for event in stream:
                if event.kind == "preview":
                    turn.preview = event.answer
                    yield ChatEvent("preview", turn)
                elif event.kind == "text":
                    yield ChatEvent("text", turn, stream.text)
            turn.answer = stream.answer()
            turn.index_version = assistant.index_data().version
            turn.best_score, turn.low_relevance = turn.answer.support_score, turn.answer.low_relevance
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
        model = assistant.chat_model() if assistant.backend.generates and turns else None
        return FollowUpRewriter(model, assistant.settings.follow_up).rewrite(question, turns)

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
            return render.source_html(c.title, c.date, c.source, c.doc_id, c.quote, 0, len(c.quote), page=c.page,
                                      note="Bài này không còn trong chỉ mục · This article is no longer in the index; "
                                           "the quoted sentence is shown alone")
        start, end, note = c.start, c.end, ""
        if doc.text[start:end] != c.quote:  # the article changed since the answer
            found = doc.text.find(c.quote)
            start, end = (found, found + len(c.quote)) if found >= 0 else (None, None)
            note = "" if found >= 0 else ("Bài đã thay đổi từ khi trả lời · The article changed since this answer; "
                                          "the quoted sentence is no longer in it")
        page = doc.page_at(start) if start is not None else None
        return render.source_html(doc.title or doc.doc_id, doc.date, doc.source, doc.doc_id, doc.text, start, end,
                                  note=note, page=page)
