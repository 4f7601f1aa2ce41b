import os
import socket
import subprocess
import sys
import time

import gradio as gr
import httpx
import pytest

from rag import cli
from rag.errors import RagError
from rag.settings import ServerSettings, Settings
from rag.types import Answer, Citation
from ui import app
from ui.access import Access, is_loopback
from ui.session import ChatTurn

from ..conftest import MODEL_DIR, ROOT, SEEDS


def test_the_core_does_not_import_gradio():
    code = ("import pkgutil, importlib, sys, rag\n"
            "for m in pkgutil.walk_packages(rag.__path__, 'rag.'):\n"
            "    importlib.import_module(m.name)\n"
            "assert 'rag.retrieval.hybrid' in sys.modules and 'rag.answer.generated' in sys.modules\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('gradio', 'ui'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_build_app_lays_out_the_page(settings, fake_embedder, tmp_path):
    demo, pool = app.make_app(settings, embedder=fake_embedder,
                              config=app.UIConfig(feedback_path=tmp_path / "feedback.jsonl"))
    assert isinstance(demo, gr.Blocks)
    ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert {"chat", "question", "send", "examples", "clear", "answer-lang", "backend", "model", "k", "cards",
            "source", "index-status", "upload", "rebuild", "docs", "delete-choice", "delete"} <= ids
    assert pool.settings is settings


def test_logins_and_editors_come_from_the_environment(monkeypatch):
    for name in ("RAG_UI_USER", "RAG_UI_PASSWORD", "RAG_UI_USERS", "RAG_UI_EDITORS"):
        monkeypatch.delenv(name, raising=False)
    assert ServerSettings().logins() == ()
    monkeypatch.setenv("RAG_UI_USER", "an")
    with pytest.raises(RagError, match="set both"):
        ServerSettings().logins()
    monkeypatch.setenv("RAG_UI_PASSWORD", "secret")
    monkeypatch.setenv("RAG_UI_USERS", "binh:pw1, chi:pw:2")
    monkeypatch.setenv("RAG_UI_EDITORS", "an")
    server = ServerSettings()
    assert server.logins() == (("an", "secret"), ("binh", "pw1"), ("chi", "pw:2")) and server.editors == ("an",)
    assert "secret" not in repr(server) and "pw1" not in repr(server)
    assert "secret" not in str(Settings(server=server).to_json())
    monkeypatch.setenv("RAG_UI_EDITORS", "dung")
    with pytest.raises(RagError, match="RAG_UI_EDITORS names 'dung', which is not a login"):
        ServerSettings().logins()
    monkeypatch.setenv("RAG_UI_USERS", "binh")
    with pytest.raises(RagError, match="name:password pairs"):
        ServerSettings().logins()


def test_roles_reader_editor_and_no_login():
    logins = (("an", "pw"), ("binh", "pw"))
    access = Access(logins, frozenset({"an"}), loopback=False)
    assert access.can_edit("an") and not access.can_edit("binh") and not access.can_edit(None)
    assert access.edit_refusal("binh") == ("'binh' may ask questions but not change the corpus: an editor login can "
                                           "(the server's owner lists editors in RAG_UI_EDITORS)")
    assert Access().can_edit(None)  # no login, loopback: the one person at this machine
    open_access = Access(loopback=False)
    assert not open_access.can_edit(None) and "RAG_UI_EDITORS" in open_access.edit_refusal(None)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_rag_serve_passes_its_options(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(app, "serve", lambda settings, host, port, open_without_login: seen.update(
        settings=settings, host=host, port=port, open=open_without_login))
    monkeypatch.setenv("RAG_UI_USER", "an")
    monkeypatch.setenv("RAG_UI_PASSWORD", "secret")
    assert cli.main(["serve", "--corpus", str(tmp_path), "--backend", "extractive", "--port", "8123"]) == 0
    assert (seen["host"], seen["port"], seen["open"]) == ("127.0.0.1", 8123, False)
    assert seen["settings"].corpus_dir == tmp_path and seen["settings"].generator.backend == "extractive"
    assert seen["settings"].server.logins() == (("an", "secret"),)
    assert cli.main(["serve", "--host", "0.0.0.0", "--open-to-network-without-login"]) == 0 and seen["open"]


def test_rag_serve_reports_a_half_set_login(monkeypatch, capsys):
    monkeypatch.setenv("RAG_UI_USER", "an")
    monkeypatch.delenv("RAG_UI_PASSWORD", raising=False)
    assert cli.main(["serve"]) == 2
    assert "set both RAG_UI_USER and RAG_UI_PASSWORD" in capsys.readouterr().err


def test_an_answer_message_shows_rewrite_answer_warning_and_timings():
    c = Citation(1, "d", "d#0", "T", None, "Câu.", 0, 4)
    answer = Answer("Nhật Bản cam kết gì tại hội nghị?", "vi", "Câu [1].", False, (c,), (), "local",
                    {"retrieve_ms": 20.0, "first_token_ms": 900.0, "total_ms": 2100.0})
    turn = ChatTurn("Còn Nhật Bản cam kết gì?", standalone=answer.question, answer=answer, low_relevance=True,
                    model="1.5b")
    md = app._assistant_markdown(turn, 4)
    assert md.split("\n\n") == [
        "*↪ Câu hỏi đầy đủ · Standalone question: Nhật Bản cam kết gì tại hội nghị?*",
        "Câu [\\[1\\]](#cite-4-1).",
        "⚠ *Độ liên quan thấp · Low relevance: the passages found are only weakly related to the question; "
        "check the sources*",
        "*local 1.5b · retrieval 20 ms · first token 900 ms · total 2,100 ms*",
    ]
    streaming = ChatTurn("q <b>")
    assert app._assistant_markdown(streaming, 0, "Đang <b>viết") == "Đang &lt;b&gt;viết ▌"
    assert app._assistant_markdown(ChatTurn("q", error="no <index>"), 0) == "⚠ no &lt;index&gt;"
    # The reader's quote shows at once while the model writes the English answer under it.
    quoting = ChatTurn("How much?", preview="From the article (in Vietnamese): “236,6 tỷ USD” [1]")
    assert app._assistant_markdown(quoting, 0).split("\n\n") == [
        "From the article (in Vietnamese): “236,6 tỷ USD” \\[1\\]", "*▌ đang viết câu trả lời · writing the answer…*"]
    assert app._assistant_markdown(quoting, 0, "Trade was").endswith("\n\n*Trade was ▌*")


def _serve(args, tmp_path, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_UI_")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", RAG_MODEL_DIR=str(MODEL_DIR))
    return subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--embedder", "e5-small", "--backend",
                             "extractive", "--corpus", str(SEEDS), "--index", str(tmp_path / "index"), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.integration
def test_rag_serve_beyond_loopback_needs_a_login_or_the_explicit_flag(tmp_path):
    refused = _serve(["--host", "0.0.0.0"], tmp_path)
    out, err = refused.communicate(timeout=120)
    assert refused.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("rag: error: --host 0.0.0.0 without a login would let anyone who can reach it read every "
                          "article and use the model: set RAG_UI_USER and RAG_UI_PASSWORD")
    assert "--open-to-network-without-login" in err and not (tmp_path / "index").exists()  # nothing was loaded

    port = _free_port()
    opened = _serve(["--host", "0.0.0.0", "--port", str(port), "--open-to-network-without-login"], tmp_path)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and opened.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert opened.poll() is None, opened.stderr.read()
        assert httpx.get(f"http://127.0.0.1:{port}/config", timeout=5).status_code == 200
    finally:
        opened.terminate()
        _, err = opened.communicate(timeout=60)
    assert "serving on 0.0.0.0 without a login" in err and "the corpus cannot be changed" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_only_a_file_in_the_upload_folder_is_taken_and_each_is_removed_after(tmp_path):
    folder = tmp_path / "uploads"
    (folder / "a1b2").mkdir(parents=True)
    sent = folder / "a1b2" / "bài.txt"
    sent.write_text("Bài báo.", encoding="utf-8")
    assert app.uploaded_path(sent, folder) == sent
    secret = tmp_path / "secret_note.md"
    secret.write_text("CANARY-7781", encoding="utf-8")
    link = folder / "a1b2" / "link.md"
    link.symlink_to(secret)
    for path in (secret, link, folder / ".." / "secret_note.md", tmp_path / "missing.txt"):
        with pytest.raises(RagError, match="only a file uploaded from your computer through this page can be added"):
            app.uploaded_path(path, folder)
    app.discard_upload(link, folder)  # a link is never followed out of the folder
    assert secret.exists() and link.is_symlink()
    link.unlink()
    app.discard_upload(sent, folder)
    assert not sent.exists() and not (folder / "a1b2").exists() and folder.is_dir()
    app.discard_upload(secret, folder)  # outside the folder: left alone
    assert secret.exists()
