"""The local model's worker process: streaming, a crash that ends the worker only, restart, load errors, hangs.

The worker here is the real worker loop around a fake model (tests/models/fake_worker.py); the crash is the real
SIGSEGV the worker sends itself (RAG_WORKER_CRASH_ON). tests/test_generation_integration.py does the same
with the real Qwen 0.5B."""

import os
import sys
import threading
from pathlib import Path

import pytest

from rag.errors import GeneratorError
from rag.models.chat import LlamaCppChat
from rag.models.worker import CRASH_ENV, LlamaWorker, WorkerCrashedError, describe_exit

FAKE = Path(__file__).with_name("fake_worker.py")


def fake_worker(model="model.gguf", timeout_s=30.0):
    return LlamaWorker(model, 512, 1, timeout_s=timeout_s, command=[sys.executable, str(FAKE), model, "512", "1", "4"])


def ask(worker, text, max_tokens=50):
    return "".join(p["text"] for p in worker.stream([{"role": "user", "content": text}], max_tokens=max_tokens))


def test_the_answer_streams_from_the_worker_and_the_worker_is_reused():
    w = fake_worker()
    try:
        pieces = list(w.stream([{"role": "user", "content": "Hà Nội , 2025"}], max_tokens=10))
        assert [p["text"] for p in pieces] == ["Hà", " Nội", " ,", " 2025"]
        assert w.last_done == {"done": True, "evaluated_tokens": 4}  # what the model read, counted in the worker
        pid = w.pid
        assert ask(w, "again") == "again" and w.pid == pid and w.starts == 1
        assert w.pid != os.getpid()
    finally:
        w.close()
    assert w.pid is None


def test_a_worker_that_segfaults_mid_answer_is_one_line_and_the_next_answer_starts_a_new_one(monkeypatch):
    monkeypatch.setenv(CRASH_ENV, "xyzzy")
    w = fake_worker()
    try:
        seen = []
        with pytest.raises(WorkerCrashedError) as err:
            for p in w.stream([{"role": "user", "content": "one two xyzzy four five"}], max_tokens=10):
                seen.append(p["text"])
        assert seen == ["one", " two"]  # it died after two pieces
        message = str(err.value)
        assert "\n" not in message
        assert message.startswith("the local model crashed (signal 11, SIGSEGV) while answering")
        assert "rag doctor" in message and "next question starts it again" in message
        assert ask(w, "still here") == "still here" and w.starts == 2
    finally:
        w.close()


def test_a_model_that_cannot_load_is_a_clear_error_each_time():
    w = fake_worker("missing.gguf")
    for _ in range(2):
        with pytest.raises(GeneratorError, match="could not load .*missing.gguf"):
            ask(w, "hello")
    assert w.pid is None


def test_an_error_inside_the_model_is_reported_and_the_worker_keeps_serving():
    w = fake_worker()
    try:
        with pytest.raises(GeneratorError, match="failed while answering .*RuntimeError: the fake model failed"):
            ask(w, "a fail b")
        pid = w.pid
        assert ask(w, "next") == "next" and w.pid == pid
    finally:
        w.close()


def test_a_worker_that_hangs_is_stopped_after_the_timeout():
    w = fake_worker(timeout_s=1.0)
    with pytest.raises(WorkerCrashedError, match="no answer within 1 s"):
        ask(w, "a hang b")
    assert w.pid is None
    try:
        assert ask(w, "ok") == "ok"
    finally:
        w.close()


def test_an_answer_nobody_reads_to_the_end_does_not_leak_into_the_next():
    w = fake_worker()
    try:
        stream = w.stream([{"role": "user", "content": "a b c d e f"}], max_tokens=10)
        assert next(stream)["text"] == "a"
        stream.close()
        assert ask(w, "fresh start") == "fresh start"
    finally:
        w.close()


def test_a_worker_that_exits_says_its_last_words():
    w = fake_worker()
    with pytest.raises(WorkerCrashedError, match=r"crashed \(exit code 3: the fake worker gives up\) while answering"):
        ask(w, "a exit b")
    try:
        assert ask(w, "back") == "back" and w.starts == 2
    finally:
        w.close()


def test_exit_descriptions():
    assert describe_exit(-11) == "signal 11, SIGSEGV"
    assert describe_exit(-6) == "signal 6, SIGABRT"
    assert describe_exit(-9).startswith("signal 9, SIGKILL: killed, perhaps by the kernel for want of memory")
    assert describe_exit(3) == "exit code 3"


def test_the_chat_model_talks_to_its_worker(monkeypatch):
    import rag.models.chat as llm

    w = fake_worker()
    monkeypatch.setattr(llm, "shared_worker", lambda path, n_ctx, threads, processes, parallel: w)
    try:
        chat = LlamaCppChat(model_path="model.gguf", n_ctx=2048, threads=1, processes=0, parallel=4, max_tokens=3,
                            temperature=0.0)
        assert chat.invoke("one two three four").content == "one two three"
        assert [c.content for c in chat.stream("x y") if c.content] == ["x", " y"]
    finally:
        w.close()


def test_answers_asked_at_once_are_written_together_each_to_its_asker():
    w = fake_worker()
    try:
        w.start()
        texts = {name: " ".join(f"{name}{i}" for i in range(20)) for name in ("a", "b", "c")}
        got, order = {}, []

        def asker(name):
            pieces = []
            for piece in w.stream([{"role": "user", "content": texts[name]}], max_tokens=50):
                pieces.append(piece["text"])
                order.append(name)
            got[name] = "".join(pieces)

        threads = [threading.Thread(target=asker, args=(name,)) for name in texts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert got == texts and w.starts == 1
        # Taking turns, not one after another: each answer's first piece comes before any answer's last.
        assert max(order.index(n) for n in texts) < min(len(order) - 1 - order[::-1].index(n) for n in texts)
    finally:
        w.close()
