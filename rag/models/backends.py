"""The answer backends, registered once: who writes the answer, how its chat model is made, how it is named.

The CLI's --backend choices and help, the UI's dropdown, the settings' check and the assistant's choice of
answerer all read this table. A chat model's module is imported only when one is made, so this table
loads nothing heavy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from rag.errors import GeneratorError
from rag.models.gguf import MODELS

if TYPE_CHECKING:
    from rag.settings import GeneratorSettings


@dataclass(frozen=True)
class Backend:
    name: str
    help: str
    generates: bool  # False: the answer quotes sentences, no model is called
    local: bool  # a GGUF run on this machine: it has a model setting and is warmed up
    make: str | None  # "module:function" that makes its LangChain chat model from GeneratorSettings
    label: Callable[["GeneratorSettings"], str]  # how reports and error messages name it

    def chat_model(self, settings: "GeneratorSettings"):
        """The chat model the settings name. Nothing is loaded or contacted until its first answer."""
        if self.make is None:
            raise GeneratorError(f"the {self.name} backend uses no language model")
        module, _, function = self.make.partition(":")
        return getattr(importlib.import_module(module), function)(settings)


def _local_label(g: "GeneratorSettings") -> str:
    return f"local {MODELS[g.model].name if g.model in MODELS else g.model}"


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("local", "llama.cpp on this machine (default)", True, True, "rag.models.chat:make_local", _local_label),
    Backend("openai", "an OpenAI-compatible server at $RAG_OPENAI_BASE_URL", True, False,
            "rag.models.chat:make_openai", lambda g: f"openai {g.openai_model} at {g.openai_base_url}"),
    Backend("ollama", "an Ollama server at $RAG_OLLAMA_BASE_URL", True, False, "rag.models.chat:make_ollama",
            lambda g: f"ollama {g.ollama_model} at {g.ollama_base_url}"),
    Backend("extractive", "quoted sentences, no model", False, False, None, lambda g: "extractive"),
)}


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise GeneratorError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}") from None


def describe(settings: "GeneratorSettings") -> str:
    return backend(settings.backend).label(settings)


def backends_help() -> str:
    return "who writes the answer: " + ", ".join(f"{b.name} ({b.help})" for b in BACKENDS.values())
