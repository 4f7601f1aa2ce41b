"""The real app on a loopback port with two logins, a reader and an editor, driven through its HTTP API (raw
requests and gradio_client): uploads only of files the caller sent, corpus changes only for editors, a delete only
of an article in the corpus, nothing left in the upload folder, no file lookup through the model field."""

from __future__ import annotations

import html
import shutil
import socket

import httpx
import pytest

from rag.settings import ChunkSettings, FetchSettings, GeneratorSettings, ServerSettings, Settings

from ..conftest import MODEL_DIR, SEEDS
from ..fakes import FakeEmbedder

READER, EDITOR = ("binh", "reader-pw"), ("an", "editor-pw")
ARTICLE = ("Cảng Lạch Huyện đón tàu container 24.000 TEU\n\n15/11/2025\n\nNgày 15/11/2025, cảng Lạch Huyện ở Hải "
           "Phòng lần đầu đón tàu container sức chở 24.000 TEU.\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ui.access import Access
    from ui.app import UIConfig, launch, make_app

    root = tmp_path_factory.mktemp("server")
    shutil.copytree(SEEDS, root / "corpus")
    uploads = root / "uploads"
    uploads.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADIO_TEMP_DIR", str(uploads))  # this app's upload folder, read when the app is made
    server_settings = ServerSettings(user=EDITOR[0], password=EDITOR[1], users=":".join(READER),
                                     editors=(EDITOR[0],))
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", embedder="e5-small",
                        model_dir=MODEL_DIR, chunking=ChunkSettings(max_chars=400), answer_min_score_vi=0.3,
                        answer_min_score_en=0.3, generator=GeneratorSettings(backend="extractive"),
                        server=server_settings, fetch=FetchSettings(allow_private=True))  # the tests' page server
    access = Access.for_server(server_settings, "127.0.0.1")
    demo, pool = make_app(settings, embedder=FakeEmbedder(),
                          config=UIConfig(feedback_path=root / "feedback.jsonl", access=access))
    pool.main.build_index()
    port = _free_port()
    launch(demo, port=port, access=access, block=False, quiet=True)
    yield {"url": f"http://127.0.0.1:{port}/", "root": root, "corpus": root / "corpus", "uploads": uploads,
           "pool": pool}
    demo.close()
    mp.undo()


def client(server, login):
    from gradio_client import Client

    return Client(server["url"], auth=login, verbose=False)


def said(result) -> str:
    """The message an API call returned (its first output, HTML) as text."""
    return html.unescape(result[0] if isinstance(result, (list, tuple)) else result)


def corpus(server) -> list[str]:
    return sorted(p.name for p in server["corpus"].iterdir())


def left_in_uploads(server) -> list[str]:
    return sorted(str(p.relative_to(server["uploads"])) for p in server["uploads"].rglob("*") if p.is_file())


def test_everything_needs_the_login(server):
    assert httpx.get(server["url"] + "config").status_code == 401
    r = httpx.post(server["url"] + "gradio_api/call/rebuild", json={"data": []})
    assert r.status_code == 401


def test_an_upload_naming_a_server_path_is_refused_and_nothing_is_written(server, tmp_path):
    secret = tmp_path / "secret_note.md"
    secret.write_text("# Note\n\nThe admin password is CANARY-7781.\n", encoding="utf-8")
    before = corpus(server)
    with httpx.Client(base_url=server["url"], timeout=30) as http:
        assert http.post("login", data={"username": EDITOR[0], "password": EDITOR[1]}).status_code == 200
        for path in (str(secret), "/usr/share/common-licenses/GPL-3", "/etc/hostname"):
            r = http.post("gradio_api/call/upload", json={"data": [[{"path": path, "orig_name": "x.md",
                                                                     "meta": {"_type": "gradio.FileData"}}], False]})
            result = http.get(f"gradio_api/call/upload/{r.json()['event_id']}").text
            assert "event: error" in result and "CANARY" not in result
    assert corpus(server) == before and left_in_uploads(server) == []


def test_a_reader_can_ask_but_not_upload_delete_or_rebuild(server, tmp_path):
    from gradio_client import handle_file

    reader = client(server, READER)
    answer = reader.predict("Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra vào ngày nào?",
                            api_name="/ask")
    assert "10/7/2025" in answer
    article = tmp_path / "Cảng Lạch Huyện.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    before, version = corpus(server), server["pool"].main.index_data().version
    refusal = "'binh' may ask questions but not change the corpus: an editor login can"
    # A caller names a file it can read (gradio_client uploads it for the caller), or a path on the server.
    for files in ([handle_file(str(article))], [{"path": str(article), "orig_name": "x.md",
                                                 "meta": {"_type": "gradio.FileData"}}]):
        result = reader.predict(files, False, api_name="/upload")
        assert refusal in said(result)
    assert refusal in said(reader.predict("000_fbd71147380da296", api_name="/delete"))
    assert refusal in said(reader.predict(api_name="/rebuild"))
    assert corpus(server) == before and server["pool"].main.index_data().version == version
    assert left_in_uploads(server) == []


def test_an_editor_uploads_deletes_and_rebuilds_and_refusals_leave_no_temp_file(server, tmp_path):
    from gradio_client import handle_file

    editor = client(server, EDITOR)
    article = tmp_path / "Cảng Lạch Huyện.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    binary = tmp_path / "bad.txt"
    binary.write_bytes(b"\x00\x01\x02" * 50)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 x")
    result = said(editor.predict([handle_file(str(article)), handle_file(str(binary)), handle_file(str(pdf))],
                                 False, api_name="/upload"))
    assert "✓ Cảng Lạch Huyện.txt: đã thêm · added as Cảng_Lạch_Huyện.txt" in result
    assert "✗ bad.txt was not added: it looks binary" in result
    assert "✗ report.pdf was not added: it is a damaged or incomplete PDF" in result
    assert "Cảng_Lạch_Huyện.txt" in corpus(server) and left_in_uploads(server) == []

    assert "1 added" in said(editor.predict(api_name="/rebuild"))
    assert "no document 'không-có-bài-này'" in said(editor.predict("không-có-bài-này", api_name="/delete"))
    assert "no document '../secret'" in said(editor.predict("../secret", api_name="/delete"))
    assert "✓ Cảng_Lạch_Huyện.txt deleted" in said(editor.predict("Cảng_Lạch_Huyện", api_name="/delete"))
    assert "1 removed" in said(editor.predict(api_name="/rebuild"))
    assert "Cảng_Lạch_Huyện.txt" not in corpus(server) and left_in_uploads(server) == []


def test_the_model_field_names_no_file(server, tmp_path):
    reader = client(server, READER)
    replies = [reader.predict("AZEC là gì?", "auto", "local", model, api_name="/ask")
               for model in ("/etc/hostname", "/no/such/model.gguf")]
    assert replies[0].replace("/etc/hostname", "X") == replies[1].replace("/no/such/model.gguf", "X")
    assert "choose one of 1.5b, 0.5b" in replies[0]


def test_an_editor_adds_a_link_and_a_reader_cannot(server):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ..ingest.documents import html_page

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.server.log.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html_page())

        def log_message(self, *args):
            pass

    pages = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    pages.log = []
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{pages.server_address[1]}/du-lich/le-hoi-sen.html"
    try:
        before = corpus(server)
        refusal = "'binh' may ask questions but not change the corpus: an editor login can"
        assert refusal in said(client(server, READER).predict(url, False, api_name="/add_link"))
        assert corpus(server) == before and pages.log == []
        editor = client(server, EDITOR)
        assert "✗ ftp://x.example/a.html: only http:// and https:// links can be added" in said(
            editor.predict("ftp://x.example/a.html", False, api_name="/add_link"))
        result = said(editor.predict(url, False, api_name="/add_link"))
        assert (f"✓ {url}: đã thêm · added as 127.0.0.1-le-hoi-sen.html (Đồng Tháp khai mạc lễ hội hoa sen lần thứ "
                "ba)") in result
        assert corpus(server) == sorted(before + ["127.0.0.1-le-hoi-sen.html"]) and pages.log == ["/du-lich/le-hoi-sen.html"]
        assert "is already in the corpus" in said(editor.predict(url, False, api_name="/add_link"))
        assert "✓ 127.0.0.1-le-hoi-sen.html deleted" in said(editor.predict("127.0.0.1-le-hoi-sen", api_name="/delete"))
    finally:
        pages.shutdown()
        pages.server_close()
    assert corpus(server) == before and left_in_uploads(server) == []
