"""Backend selection, and the OpenAI-compatible and Ollama backends against local stub servers."""

import socket

import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from rag.assistant import Assistant
from rag.errors import GeneratorError, RagError
from rag.models.chat import LlamaCppChat, make_chat_model
from rag.settings import GeneratorSettings, Settings

from ..fakes import FakeEmbedder, FakeSpanModel, cited, echo_first_passage, passages_of
from ..stub_servers import chat_server

TRADE_VI = "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?"


def test_backend_selection(tmp_path):
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    local = make_chat_model(GeneratorSettings(backend="local", model=str(gguf)))
    assert isinstance(local, LlamaCppChat) and local.model_path == str(gguf)
    openai = make_chat_model(GeneratorSettings(backend="openai", openai_base_url="http://127.0.0.1:1/v1",
                                               openai_model="m"))
    assert isinstance(openai, ChatOpenAI) and openai.model_name == "m"
    ollama = make_chat_model(GeneratorSettings(backend="ollama", ollama_model="qwen2.5:1.5b"))
    assert isinstance(ollama, ChatOllama) and ollama.model == "qwen2.5:1.5b"


def test_bad_backend_and_model_are_clear_errors(tmp_path):
    with pytest.raises(RagError, match="unknown backend 'gpt'.*local, openai, ollama, extractive"):
        make_chat_model(GeneratorSettings(backend="gpt"))
    with pytest.raises(RagError, match="unknown backend 'gpt'"):
        Assistant(Settings(generator=GeneratorSettings(backend="gpt")), embedder=FakeEmbedder(), span_model=FakeSpanModel())
    with pytest.raises(GeneratorError, match="no model file at .*--model 1.5b / 0.5b"):
        make_chat_model(GeneratorSettings(backend="local", model=str(tmp_path / "missing.gguf")))
    with pytest.raises(GeneratorError, match="unknown model '7b'"):
        make_chat_model(GeneratorSettings(backend="local", model="7b"))


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    chat = make_chat_model(GeneratorSettings(backend="local", model=str(bad)))
    with pytest.raises(GeneratorError, match="could not load"):
        chat.invoke("hello")


def with_backend(settings, **generator):
    s = settings.replace(generator=settings.generator.replace(**generator))
    return Assistant(s, embedder=FakeEmbedder(), span_model=FakeSpanModel())


def test_openai_compatible_server(settings):
    with chat_server(echo_first_passage) as (url, seen):
        a = with_backend(settings, backend="openai", openai_base_url=url + "/v1", openai_model="stub-model")
        events = list(a.ask_stream(TRADE_VI))
    answer = events[-1].answer
    assert not answer.refused and answer.backend == "openai"
    assert [e for e in events if e.kind == "text"], "the answer streamed"
    (request,) = seen
    assert request["path"] == "/v1/chat/completions" and request["body"]["stream"] is True
    assert request["body"]["model"] == "stub-model" and request["body"]["temperature"] == 0
    first = passages_of(request["body"]["messages"][-1]["content"])[1]
    assert answer.text == cited(first) and answer.citations[0].n == 1


def test_ollama_server(settings):
    with chat_server(echo_first_passage) as (url, seen):
        a = with_backend(settings, backend="ollama", ollama_base_url=url, ollama_model="qwen2.5:1.5b")
        answer = a.ask(TRADE_VI)
    assert not answer.refused and answer.backend == "ollama" and answer.citations
    assert seen[-1]["path"] == "/api/chat" and seen[-1]["body"]["model"] == "qwen2.5:1.5b"


def test_a_server_that_is_down_is_a_clear_error(settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = with_backend(settings, backend="openai", openai_base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5)
    with pytest.raises(GeneratorError, match=r"model \(openai .* at http://127.0.0.1:\d+/v1\) failed while answering.*--backend extractive"):
        a.ask(TRADE_VI)


def test_one_table_names_the_backends_everywhere():
    import importlib

    from rag import cli
    from rag.models.backends import BACKENDS, describe

    assert list(BACKENDS) == ["local", "openai", "ollama", "extractive"]
    parser = cli.build_parser()
    ask = parser._subparsers._group_actions[0].choices["ask"]
    (backend_option,) = [a for a in ask._actions if a.dest == "backend"]
    assert list(backend_option.choices) == list(BACKENDS)
    for b in BACKENDS.values():
        assert b.generates == (b.make is not None)
        if b.make:
            module, _, function = b.make.partition(":")
            assert callable(getattr(importlib.import_module(module), function))
    from rag.models.gguf import MODELS

    assert describe(GeneratorSettings(backend="local", model="0.5b")) == f"local {MODELS['0.5b'].name}"
    assert describe(GeneratorSettings(backend="ollama", ollama_model="m", ollama_base_url="http://h")) == "ollama m at http://h"
    with pytest.raises(RagError, match="uses no language model"):
        BACKENDS["extractive"].chat_model(GeneratorSettings(backend="extractive"))
