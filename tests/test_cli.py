import io
import json
import sys

import pytest

from rag import cli
from rag.assistant import Assistant

from .fakes import FakeChatModel, FakeEmbedder, echo_first_passage, FakeSpanModel
from .ingest import documents as D


@pytest.fixture
def run(settings, monkeypatch, capsys):
    monkeypatch.setenv("RAG_ANSWER_MODE", "generate")  # these tests script the model's answers
    emb = FakeEmbedder()
    chat = FakeChatModel(reply=echo_first_passage)

    def make(s, notify):
        assert (s.corpus_dir, s.index_dir) == (settings.corpus_dir, settings.index_dir)
        return Assistant(s.replace(answer_min_score_vi=settings.answer_min_score_vi,
                                   answer_min_score_en=settings.answer_min_score_en,
                                   generate_min_score_vi=0.2, generate_min_score_en=0.2, reader=settings.reader),
                         embedder=emb, notify=notify, chat_model=chat, span_model=FakeSpanModel())

    def _run(*argv, stdin=None):
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = cli.main([*argv, "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)],
                        make_assistant=make)
        out, err = capsys.readouterr()
        return code, out, err

    _run.embedder = emb
    _run.chat = chat
    return _run


def test_index_json(run):
    code, out, err = run("index", "--json")
    assert code == 0
    report = json.loads(out)
    for key in ("documents", "added", "changed", "removed", "unchanged", "chunks", "chunks_embedded", "seconds"):
        assert key in report
    assert report["documents"] == 2 and report["added"] == 2 and report["chunks_embedded"] == report["chunks"]
    code, out, _ = run("index", "--json")
    assert json.loads(out)["chunks_embedded"] == 0 and json.loads(out)["unchanged"] == 2


def test_retrieve_builds_the_index_on_first_use(run):
    code, out, err = run("retrieve", "Kim ngạch thương mại hai chiều năm 2024?", "--k", "3", "--json")
    assert code == 0
    assert "building it" in err
    result = json.loads(out)
    assert result["lang"] == "vi" and len(result["passages"]) == 3
    p = result["passages"][0]
    assert set(p) == {"rank", "doc_id", "chunk_id", "title", "text", "start", "end", "score"}
    assert "236,6 tỷ USD" in p["text"]


def test_retrieve_reads_questions_from_stdin_one_json_a_line(run):
    run("index")
    code, out, _ = run("retrieve", "-", "--k", "2", stdin="AZEC là gì?\n\nWhat is AJCEP?\n")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [x["lang"] for x in lines] == ["vi", "en"]
    assert all(len(x["passages"]) == 2 for x in lines)
    assert len(run.embedder.queries) == 2


def test_ask_cites_its_sentence(run):
    code, out, _ = run("ask", "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?", "--json", "--backend",
                       "extractive")
    answer = json.loads(out)
    assert code == 0 and answer["backend"] == "extractive" and not answer["refused"]
    assert answer["citations"]
    assert set(answer) >= {"question", "lang", "answer", "refused", "citations", "timings"}
    for c in answer["citations"]:
        assert f"[{c['n']}]" in answer["answer"] and c["quote"] in answer["answer"]


@pytest.mark.parametrize("question,message", [
    ("   ", "empty"),
    ("x" * 5000, "characters"),
    ("abc\x00\x01def", "binary"),
])
def test_bad_questions_are_clear_errors(run, question, message):
    code, out, err = run("retrieve", question)
    assert code == 2 and out == ""
    assert err.startswith("rag: error:") and message in err


def test_empty_corpus_is_a_clear_error(run, settings):
    for f in settings.corpus_dir.iterdir():
        f.unlink()
    code, _, err = run("index")
    assert code == 2 and "no usable article" in err


def test_bad_k(run):
    code, _, err = run("retrieve", "AZEC?", "--k", "0")
    assert code == 2 and "--k" in err and "1 to 50" in err and err.count("\n") == 1


def test_eval_runs_a_qa_file_and_writes_the_report(run, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "a", "question": "AZEC là gì?", "lang": "vi", "answers": ["AZEC"],
                              "answerable": True, "gold_doc_ids": ["002_6ea3e025f96589fc"],
                              "gold_passages": ["Cộng đồng châu Á phát thải ròng bằng 0 (AZEC)"]}, ensure_ascii=False) + "\n")
    code, out, _ = run("eval", "--qa", str(qa), "--out", str(tmp_path / "r"), "--json", "--backend", "extractive")
    assert code == 0
    report = json.loads(out)
    assert report["metrics"]["all"]["questions"] == 1 and report["meta"]["backend"] == "extractive"
    assert (tmp_path / "r" / "report.md").is_file()
    qa.write_text("{not json\n")
    code, _, err = run("eval", "--qa", str(qa), "--out", str(tmp_path / "r"))
    assert code == 2 and ":1: not JSON" in err


def test_ask_streams_the_generated_answer_then_its_sources(run):
    code, out, _ = run("ask", "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?")
    assert code == 0 and len(run.chat.prompts) == 1
    lines = out.splitlines()
    assert "[1]" in lines[0]
    assert lines[1].startswith("-> ") and lines[1].endswith("[1].")  # the checked text: its marker moved
    assert lines[2].startswith("  [1] ") and "characters" in lines[2]
    assert "(local; retrieval" in lines[-1] and "first token" in lines[-1]


def test_ask_json_has_the_documented_fields(run):
    code, out, _ = run("ask", "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?", "--json", "--lang", "en")
    answer = json.loads(out)
    assert code == 0 and set(answer) == {"question", "lang", "answer", "refused", "citations", "backend", "timings"}
    assert answer["lang"] == "en" and answer["backend"] == "local" and "Answer in English" in run.chat.prompts[-1][1]
    assert set(answer["timings"]) == {"retrieve_ms", "first_token_ms", "total_ms"}
    assert set(answer["citations"][0]) == {"n", "doc_id", "chunk_id", "title", "date", "quote", "start", "end",
                                           "page"}
    assert answer["citations"][0]["page"] is None  # a text article has no pages


def test_a_model_failure_is_a_one_line_error(run):
    run.chat.fail_after = 1
    code, out, err = run("ask", "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?")
    assert code == 2 and err.splitlines()[-1].startswith("rag: error: the model (") and "Traceback" not in err
    assert out.endswith(" …\n")  # the half-written answer is ended, not left hanging


def test_unknown_backend_is_refused_by_the_parser(run, capsys):
    with pytest.raises(SystemExit) as exit_:
        run("ask", "AZEC?", "--backend", "gpt")
    assert exit_.value.code == 2 and "invalid choice: 'gpt'" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["a file", "under a file", "/proc/x"])
def test_an_index_folder_that_cannot_be_made_is_a_one_line_error(settings, tmp_path, capsys, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    index = {"a file": str(blocker), "under a file": str(blocker / "index"), "/proc/x": "/proc/x"}[where]
    make = lambda s, notify: Assistant(s, embedder=FakeEmbedder(), notify=notify)  # noqa: E731
    code = cli.main(["index", "--corpus", str(settings.corpus_dir), "--index", index], make_assistant=make)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"rag: error: cannot use {index} (")
    assert err.rstrip().endswith("give --index and --corpus folders this user can create and write")


# ---- rag add: files and links ---------------------------------------------------------------------------------

def test_add_a_pdf_then_ask_cites_its_page(run, settings, tmp_path):
    pdf = tmp_path / "Lễ hội sen.pdf"
    pdf.write_bytes(D.article_pdf(two_pages=True))
    code, out, err = run("add", str(pdf))
    assert code == 0, err
    assert out.splitlines()[0] == f"added {pdf} as Lễ_hội_sen.pdf (Đồng Tháp khai mạc lễ hội hoa sen lần thứ ba)"
    assert "indexed: 3 documents (3 added, 0 changed)" in out
    code, out, _ = run("ask", D.TICKETS_Q, "--backend", "extractive")
    assert code == 0 and "30.000 đồng" in out.splitlines()[0]
    assert ", 12/06/2025 (Lễ_hội_sen, p. 2, characters " in out.splitlines()[1]
    code, out, _ = run("ask", D.TICKETS_Q, "--backend", "extractive", "--json")
    assert json.loads(out)["citations"][0]["page"] == 2


def test_add_refuses_bad_files_each_in_one_line_and_changes_nothing(run, settings, tmp_path):
    (tmp_path / "scan.pdf").write_bytes(D.scanned_pdf())
    (tmp_path / "cut.docx").write_bytes(D.docx()[:2000])
    before = sorted(p.name for p in settings.corpus_dir.iterdir())
    code, out, err = run("add", str(tmp_path / "scan.pdf"), str(tmp_path / "cut.docx"), str(tmp_path / "none.pdf"))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("rag: error: ") for line in lines)
    assert "scan.pdf was not added: it has no text layer" in lines[0]
    assert "cut.docx was not added: it is a damaged or incomplete .docx" in lines[1]
    assert f"{tmp_path / 'none.pdf'}: no such file: give an article file" in lines[2]
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == before and not settings.index_dir.exists()


def _page_server():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.server.log.append(self.path)
            body = D.html_page()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.log = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_add_a_link_from_a_local_server_and_refuse_it_when_private_links_are_off(run, settings, monkeypatch):
    server = _page_server()
    url = f"http://127.0.0.1:{server.server_address[1]}/du-lich/le-hoi-sen.html"
    try:
        before = sorted(p.name for p in settings.corpus_dir.iterdir())
        code, out, err = run("add", url, "--no-index")
        assert code == 2 and out == "" and server.log == []
        assert err.strip() == ("rag: error: 127.0.0.1 is a loopback address (this machine): links to this machine or "
                               "its private network are refused (set RAG_ALLOW_PRIVATE_URLS=1 only on a server no one "
                               "else can reach)")
        assert sorted(p.name for p in settings.corpus_dir.iterdir()) == before

        monkeypatch.setenv("RAG_ALLOW_PRIVATE_URLS", "1")
        code, out, err = run("add", url, "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["added"][0]["file"] == "127.0.0.1-le-hoi-sen.html" and report["index"]["added"] == 3
        saved = (settings.corpus_dir / "127.0.0.1-le-hoi-sen.html").read_text(encoding="utf-8")
        assert saved.startswith(f"<!-- saved from url=({len(url):04d}){url} -->\n<!-- fetched ")
    finally:
        server.shutdown()
        server.server_close()
    code, out, _ = run("ask", D.STALLS_Q, "--backend", "extractive", "--json")  # no network: the page is saved
    cited = json.loads(out)["citations"][0]
    assert cited["doc_id"] == "127.0.0.1-le-hoi-sen" and cited["date"] == "12/06/2025" and cited["page"] is None
