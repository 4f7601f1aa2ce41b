import subprocess
import sys

import gradio as gr
import pytest

from rag import cli
from rag.errors import RagError
from rag.types import Answer, Citation
from ui import app
from ui.session import ChatTurn

from ..conftest import ROOT


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


def test_auth_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("RAG_UI_USER", raising=False)
    monkeypatch.delenv("RAG_UI_PASSWORD", raising=False)
    assert app.auth_from_env() is None
    monkeypatch.setenv("RAG_UI_USER", "an")
    with pytest.raises(RagError, match="set both"):
        app.auth_from_env()
    monkeypatch.setenv("RAG_UI_PASSWORD", "secret")
    assert app.auth_from_env() == ("an", "secret")


def test_rag_serve_passes_its_options(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(app, "serve", lambda settings, host, port, config: seen.update(
        settings=settings, host=host, port=port, auth=config.auth))
    monkeypatch.setenv("RAG_UI_USER", "an")
    monkeypatch.setenv("RAG_UI_PASSWORD", "secret")
    assert cli.main(["serve", "--corpus", str(tmp_path), "--backend", "extractive", "--port", "8123"]) == 0
    assert (seen["host"], seen["port"], seen["auth"]) == ("127.0.0.1", 8123, ("an", "secret"))
    assert seen["settings"].corpus_dir == tmp_path and seen["settings"].generator.backend == "extractive"


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
