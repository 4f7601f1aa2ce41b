"""A live UI for the browser tests: the app on a free loopback port over a temporary copy of the seeds plus a
planted document full of markup, the extractive backend and the real embedding model; Debian's Chromium
driven by Playwright. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from rag.settings import GeneratorSettings, Settings

from ..conftest import MODEL_DIR, ROOT, SEEDS
from ..fakes import FakeChatModel

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "artifacts"

# A document whose title and text are markup: it must show as text, and nothing in it may run.
PLANTED_NAME = "zz_planted_markup.txt"
PLANTED = ("<script>window.__pwned = 1</script> Lễ hội kẹo dẻo Hải Phòng\n03/03/2025\n"
           "Ngày 3/3/2025, thành phố Hải Phòng tổ chức lễ hội kẹo dẻo đầu tiên <img src=x "
           "onerror=\"window.__pwned = 2\"> với 120 gian hàng.\n"
           "Ban tổ chức cho biết lễ hội thu hút 8.000 lượt khách trong ngày khai mạc.\n")


class SlowChatModel(FakeChatModel):
    """A chat model that writes like a slow CPU: a word every 0.1 s (answers quote passage 1)."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        for chunk in super()._stream(messages, stop, run_manager, **kwargs):
            time.sleep(0.1)
            yield chunk


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """A running app: .url, .settings, .pool, .feedback (the feedback file), .chat (the chat model every model
    backend uses, None for the real ones)."""


def start_app(root: Path, embedder, generator: GeneratorSettings, chat=None):
    """The app over a copy of the seeds plus the planted document, on a free loopback port; (Live, demo)."""
    from ui.app import UIConfig, launch, make_app

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup.sh` (it installs Debian's chromium)")
    shutil.copytree(SEEDS, root / "corpus")
    (root / "corpus" / PLANTED_NAME).write_text(PLANTED, encoding="utf-8")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", embedder="e5-small", model_dir=MODEL_DIR, generator=generator)
    feedback = root / "feedback.jsonl"
    demo, pool = make_app(settings, embedder=embedder, chat_model=chat, config=UIConfig(feedback_path=feedback))
    pool.main.build_index()
    pool.main.warm_up()
    port = _free_port()
    launch(demo, port=port, block=False, quiet=True)
    live = Live()
    live.url, live.settings, live.pool, live.feedback = f"http://127.0.0.1:{port}/", settings, pool, feedback
    live.chat = chat
    return live, demo


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_embedder):
    """The app on the extractive backend; every model backend uses a slow fake chat model."""
    live, demo = start_app(tmp_path_factory.mktemp("ui"), real_embedder, GeneratorSettings(backend="extractive"),
                           chat=SlowChatModel(reply=lambda system, user: "the Asia Zero Emission Community, as the "
                                              "fake model writes it word by word"))
    yield live
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(live.url)
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
