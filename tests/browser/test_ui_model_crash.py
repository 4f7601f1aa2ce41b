"""The real local model (Qwen 0.5B, in its worker process) crashes with SIGSEGV mid-answer: the chat shows the
one-line error, the server stays up, and the next question gets an answer from a new worker."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from rag.models.chat import local_model_path
from rag.models.gguf import MODELS
from rag.models.worker import CRASH_ENV, shared_worker
from rag.settings import GeneratorSettings

from ..conftest import ROOT
from .conftest import shot, start_app
from .test_ui_browser import BOT, wait_answer

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CRASH_WORD = "xyzzy"  # a worker whose prompt holds this word kills itself with SIGSEGV after two pieces
CRASH_Q = f"Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra ở đâu? ({CRASH_WORD})"
NEXT_Q = "Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra ở đâu?"


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_embedder):
    """The app on the real local backend (0.5B), its worker started with the crash word in its environment."""
    # The generate mode: the model writes the Vietnamese answer (in the reader mode it would only quote).
    generator = GeneratorSettings(backend="local", model="0.5b", models_dir=ROOT / "models", threads=2, mode="generate")
    if not (generator.models_dir / MODELS["0.5b"].file_name).is_file():
        pytest.fail("the 0.5B GGUF is missing: run `bash scripts/setup.sh`")
    worker = shared_worker(local_model_path("0.5b", generator.models_dir), generator.n_ctx, generator.threads,
                           generator.model_processes, generator.parallel)
    worker.close()  # a worker started by an earlier test does not have the crash word
    mp = pytest.MonkeyPatch()
    mp.setenv(CRASH_ENV, CRASH_WORD)
    live, demo = start_app(tmp_path_factory.mktemp("ui-crash"), real_embedder, generator)
    live.worker = worker
    yield live
    demo.close()
    worker.close()
    mp.undo()


def test_a_model_crash_shows_in_the_chat_and_the_next_question_is_answered(page, live):
    live.pool.main.warm_up_generator()  # as `rag serve` does at start
    first_pid = live.worker.pid
    assert first_pid and first_pid != os.getpid()
    page.fill("#question textarea", CRASH_Q)
    page.press("#question textarea", "Enter")
    error = page.locator(BOT).nth(0)
    expect(error).to_contain_text("the local model crashed (signal 11, SIGSEGV) while answering", timeout=120_000)
    expect(error).to_contain_text("rag doctor")
    expect(error).not_to_contain_text("Traceback")
    shot(page, "model-crash")
    assert live.worker.pid is None  # the worker is gone; this process (the server) is not

    page.fill("#question textarea", NEXT_Q)
    page.press("#question textarea", "Enter")
    answer = wait_answer(page, 2)
    expect(answer).to_contain_text("Kuala Lumpur")
    expect(answer).to_contain_text("local 0.5b · retrieval")
    expect(page.locator("#cards .cite-card").first).to_contain_text("Mekong")
    assert live.worker.pid not in (None, first_pid) and live.worker.starts >= 2
    shot(page, "model-crash-next-answer")
