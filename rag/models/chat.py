"""Chat models behind one interface (LangChain's BaseChatModel), chosen by setting.

- local: Qwen GGUF run by llama.cpp in a worker process (rag/models/worker.py: a crash in native code ends the
  worker, not the caller), loaded once and reused. llama.cpp keeps the KV cache of earlier prompts, so the fixed
  system prompt is processed once, not per question; answers asked at once are written together
  (rag/models/batched.py).
- openai: any OpenAI-compatible server (llama.cpp server, vLLM, LM Studio), via langchain-openai.
- ollama: an Ollama server, via langchain-ollama.
The table of backends (names, help, how each is made) is rag/models/backends.py; the extractive backend
needs no model and lives in rag/answer/extractive.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from rag.errors import GeneratorError
from rag.models import local_setup
from rag.models.backends import backend
from rag.models.gguf import MODELS, ensure_gguf
from rag.models.worker import LlamaWorker, shared_worker
from rag.settings import GeneratorSettings
from rag.types import NOT_FOUND

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


class LlamaCppChat(BaseChatModel):
    """A GGUF chat model run by llama.cpp in a worker process (rag/models/worker.py), shared by every chat model on
    the same file in this process. Calls from several threads are written together, a few at a time."""

    # No defaults: the values come from GeneratorSettings (make_local), the one place they are set.
    model_path: str
    n_ctx: int
    threads: int
    processes: int  # how many processes of this machine may run a model at once (rag/models/slots.py)
    parallel: int  # answers the worker writes together (rag/models/batched.py)
    max_tokens: int
    temperature: float
    # The refusal decision, calibrated: the probability that the answer starts with `refusal_text`'s first
    # token is read from the first logits; at or above `refusal_threshold` the model refuses, below it the
    # refusal token is banned and the model answers. None leaves the choice to greedy decoding.
    refusal_text: str = NOT_FOUND
    refusal_threshold: float | None = None
    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def worker(self) -> LlamaWorker:
        return shared_worker(self.model_path, self.n_ctx, self.threads, self.processes, self.parallel)

    def _messages(self, messages: list[BaseMessage]) -> list[dict]:
        return [{"role": _ROLES.get(m.type, "user"), "content": m.content} for m in messages]

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.worker.stream(self._messages(messages), max_tokens=kwargs.get("max_tokens", self.max_tokens),
                                        temperature=self.temperature, stop=stop, refusal_text=self.refusal_text,
                                        refusal_threshold=self.refusal_threshold):
            meta = {"refusal_probability": piece["refusal_probability"]} if "refusal_probability" in piece else {}
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece["text"], response_metadata=meta))
            if run_manager:
                run_manager.on_llm_new_token(piece["text"], chunk=chunk)
            yield chunk

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def local_model_path(model: str, models_dir: Path) -> Path:
    """'1.5b' / '0.5b' (assembled from the part packages, hash checked) or the path of a .gguf file."""
    if model in MODELS:
        return ensure_gguf(model, models_dir)
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf":
        raise GeneratorError(f"unknown model {model!r}: use {' or '.join(MODELS)}, or the path of a .gguf file")
    if not path.is_file():
        raise GeneratorError(f"no model file at {path}: check the path, or use --model {' / '.join(MODELS)}")
    return path


def make_chat_model(settings: GeneratorSettings) -> BaseChatModel:
    """The chat model the settings' backend makes (rag/models/backends.py). Nothing is loaded or contacted
    until the first answer."""
    return backend(settings.backend).chat_model(settings)


def make_local(settings: GeneratorSettings) -> BaseChatModel:
    if settings.model in MODELS and local_setup.running() is not None:
        # Set-up assembles the file in the background: the model's first answer waits for it (worker.py says so).
        path = Path(settings.models_dir) / MODELS[settings.model].file_name
    else:
        path = local_model_path(settings.model, settings.models_dir)
    return LlamaCppChat(model_path=str(path), n_ctx=settings.n_ctx, threads=settings.threads,
                        processes=settings.model_processes, parallel=settings.parallel, max_tokens=settings.max_tokens,
                        temperature=settings.temperature, refusal_threshold=settings.refusal_threshold)


def make_openai(settings: GeneratorSettings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=settings.openai_base_url, api_key=settings.openai_api_key or "not-needed",
                      model=settings.openai_model, temperature=settings.temperature,
                      max_tokens=settings.max_tokens, timeout=settings.timeout_s, max_retries=0, streaming=True)


def make_ollama(settings: GeneratorSettings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(base_url=settings.ollama_base_url, model=settings.ollama_model,
                      temperature=settings.temperature, num_predict=settings.max_tokens,
                      client_kwargs={"timeout": settings.timeout_s})
