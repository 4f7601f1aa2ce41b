"""Deterministic stand-ins for the real models, for fast unit tests."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_WORD = re.compile(r"\w+", re.U)


class FakeEmbedder:
    """Bag of words hashed into a small vector, L2-normalised: texts sharing words are close.

    `vectors` maps an exact text (after the prompt) to a hand-made vector, for exact-ranking tests.
    Every passage text embedded is recorded in `embedded`, so tests can count what was (re)embedded.
    """

    name = "fake-bow-64"
    prompts = {"query": "query: ", "passage": "passage: "}

    def __init__(self, dimension: int = 64, vectors: dict[str, Sequence[float]] | None = None,
                 delay: float = 0.0, checksum: str = "fake-checksum-1") -> None:
        self._dimension = dimension
        self._checksum = checksum
        self.vectors = {k: np.asarray(v, dtype=np.float32) for k, v in (vectors or {}).items()}
        self.delay = delay
        self.embedded: list[str] = []
        self.queries: list[str] = []
        self.query_prompts: list[str | None] = []

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def checksum(self) -> str:
        return self._checksum

    def _one(self, text: str) -> np.ndarray:
        body = text.split(": ", 1)[1] if text.startswith(("query: ", "passage: ")) else text
        if body in self.vectors:
            v = self.vectors[body].copy()
        else:
            v = np.zeros(self._dimension, dtype=np.float32)
            for w in _WORD.findall(body.lower()):
                h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
                v[h % self._dimension] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        out = []
        for t in texts:
            if self.delay:
                time.sleep(self.delay)
            self.embedded.append(t)
            out.append(self._one(t))
        return np.stack(out) if out else np.zeros((0, self._dimension), np.float32)

    def embed_queries(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        self.queries.extend(texts)
        self.query_prompts.extend([prompt] * len(texts))
        return np.stack([self._one(t) for t in texts])


class FakeChatModel(BaseChatModel):
    """A LangChain chat model that answers from a script: `reply(prefix, user) -> text`, streamed word by word.

    Every prompt it receives is kept in `prompts` (a list of (system, user) pairs); `fail_after` makes it
    raise after that many pieces, like a server that goes away mid-answer."""

    reply: Callable[[str, str], str]
    prompts: list = []
    fail_after: int | None = None

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    def _stream(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        # "system": everything before the question's turn (the fixed prefix), "user": the question's turn.
        system = "\n".join(m.content for m in messages[:-1])
        user = messages[-1].content
        self.prompts.append((system, user))
        for i, piece in enumerate(re.findall(r"\S+\s*", self.reply(system, user))):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectionError("the fake server went away")
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def passages_of(user: str) -> dict[int, str]:
    """The numbered passages of an answer prompt."""
    return {int(n): t for n, t in re.findall(r"^\[(\d+)\] (.*)$", user, re.M)}


def echo_first_passage(system: str, user: str) -> str:
    """A well-behaved model: quotes passage 1 and cites it."""
    return f"{passages_of(user)[1]} [1]"


def cited(sentence: str, n: int = 1) -> str:
    """How the checked answer writes a sentence with its marker: before the final full stop."""
    return f"{sentence[:-1]} [{n}]{sentence[-1]}" if sentence[-1:] in ".!?" else f"{sentence} [{n}]"


class FakeSpanModel:
    """Reads like the trained reader (rag/reader/runtime.SpanReader), by words instead of a model: in each
    context, the span is the run of words after the last question word in its best sentence (the sentence holding
    most question words), up to the sentence's end; the margin is 10 * the share of the question's words that
    sentence holds - 1. `margins` maps a word of a question to a fixed margin, to force a refusal or an answer."""

    def __init__(self, margins: dict[str, float] | None = None) -> None:
        self.margins = margins or {}
        self.calls: list[tuple[str, list[str]]] = []

    def read(self, question: str, contexts: list[str]) -> list:
        from rag.reader.runtime import Span

        self.calls.append((question, list(contexts)))
        q = {w.lower() for w in _WORD.findall(question)}
        out = []
        for i, c in enumerate(contexts):
            best = None
            for m in re.finditer(r"[^.!?]+[.!?]?", c):
                words = list(_WORD.finditer(m.group(0)))
                held = [w for w in words if w.group(0).lower() in q]
                if not words:
                    continue
                share = len({w.group(0).lower() for w in held}) / max(1, len(q))
                if best is None or share > best[0]:
                    after = held[-1].end() if held and held[-1].end() < len(m.group(0).rstrip(".!? ")) else 0
                    text = m.group(0)[after:].rstrip(".!? ")
                    lead = len(text) - len(text.lstrip())
                    best = (share, m.start() + after + lead, m.start() + after + len(text))
            if best is None:
                continue
            share, a, b = best
            margin = next((v for k, v in self.margins.items() if k.lower() in question.lower()), 10 * share - 1)
            out.append(Span(i, a, b, c[a:b], margin, margin))
        return sorted(out, key=lambda s: -s.margin)
