"""The model's line: every call to a chat model from the served app waits here, and the model serves a few calls
at a time (GeneratorSettings.parallel) in the order they came. Answers that need no model (quotes, refusals,
retrieval) never enter it, so they never wait behind the model. At most `max_waiting` calls wait; one more is
refused at once with BusyError ("busy, try again") rather than waiting without end. No Gradio here.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from rag.errors import BusyError


class ModelGate:
    """A first-come, first-served line for one model: at most `at_once` calls are served together (the local
    model writes that many answers at once, rag/models/batched.py), the others wait in arrival order."""

    def __init__(self, max_waiting: int, at_once: int = 1) -> None:
        self.max_waiting = max_waiting
        self.at_once = max(1, at_once)
        self._cond = threading.Condition()
        self._tickets = 0
        self._line: list[int] = []  # tickets waiting, in arrival order
        self._serving = 0  # calls being served

    @property
    def waiting(self) -> int:
        """Calls in line, not counting those being served."""
        with self._cond:
            return len(self._line)

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._cond:
            if self._serving >= self.at_once and len(self._line) >= self.max_waiting:
                in_line = self._serving + len(self._line)
                raise BusyError(f"the server is busy: the model has {in_line} question{'s' * (in_line != 1)} before yours (at most "
                                f"{self.max_waiting} may wait); try again in a minute")
            ticket = self._tickets
            self._tickets += 1
            self._line.append(ticket)
            while self._line[0] != ticket or self._serving >= self.at_once:
                self._cond.wait()
            self._line.pop(0)
            self._serving += 1
            self._cond.notify_all()  # the next in line may be served too
        try:
            yield
        finally:
            with self._cond:
                self._serving -= 1
                self._cond.notify_all()


class PriorityLine:
    """At most `slots` callers at once; the others wait, lower `priority` first, then in arrival order. The
    server's retrievals pass through it (ui/session.ChatEngine): with as many slots as cores, twenty questions at
    once no longer share the CPU twenty ways, and the questions that need no model go first."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: list[tuple[int, int]] = []  # (priority, ticket), kept sorted
        self._tickets = 0

    @contextmanager
    def turn(self, priority: int = 0) -> Iterator[None]:
        with self._cond:
            me = (priority, self._tickets)
            self._tickets += 1
            self._waiting.append(me)
            self._waiting.sort()
            while self._running >= self.slots or self._waiting[0] != me:
                self._cond.wait()
            self._waiting.pop(0)
            self._running += 1
            self._cond.notify_all()  # the next in line may take a free slot too
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


class GatedChatModel(BaseChatModel):
    """A chat model whose calls go through a ModelGate; the model itself is made on first use by `make`."""

    make: Callable[[], BaseChatModel]
    gate: Any  # ModelGate
    nice: int = 10  # the local model's worker process priority (yield_cpu); 0 leaves it as it is
    model_config = ConfigDict(arbitrary_types_allowed=True)
    _inner: BaseChatModel | None = None

    @property
    def _llm_type(self) -> str:
        return "gated"

    @property
    def inner(self) -> BaseChatModel:
        if self._inner is None:
            self._inner = self.make()
        return self._inner

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        inner = self.inner
        with self.gate.turn():
            for i, chunk in enumerate(inner._stream(messages, stop=stop, run_manager=run_manager, **kwargs)):
                if i == 0:
                    yield_cpu(inner, self.nice)
                yield chunk

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        inner = self.inner
        with self.gate.turn():
            try:
                return inner._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
            finally:
                yield_cpu(inner, self.nice)


def yield_cpu(model, nice: int) -> None:
    """Run a local model's worker process (rag/models/worker.py) at a lower CPU priority (`nice`) than the
    server, every thread of it: on a machine with few cores an answer that needs no model (retrieval, ~30 ms of
    CPU) then gets the CPU before the model's next token, instead of sharing it with a model that writes for
    seconds. The price: on a machine shared with other busy processes the model yields to them too. Nothing for
    nice 0 or a model without a worker (servers, fakes); a worker started again after a crash is lowered on its
    first call."""
    worker = getattr(model, "worker", None) if nice > 0 else None
    pid = getattr(worker, "pid", None) if worker is not None else None
    if not pid:
        return
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):  # Linux: a nice value is per thread
            if os.getpriority(os.PRIO_PROCESS, int(tid)) < nice:
                os.setpriority(os.PRIO_PROCESS, int(tid), nice)
    except (OSError, ValueError):
        pass  # not Linux, or the worker just ended: the answer goes on at its priority
