from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.indexing.store import IndexStore
from rag.ingest.library import Library, UploadError, safe_filename

from ..fakes import FakeSpanModel

ARTICLE = ("Lễ hội hoa sen Đồng Tháp 2025\n\n12/06/2025\n\nNgày 12/6/2025, tỉnh Đồng Tháp khai mạc lễ hội hoa sen "
           "lần thứ ba với 40 gian hàng nông sản. Ban tổ chức dự kiến đón 50.000 lượt khách.\n")


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def library(settings) -> Library:
    return Library(settings.corpus_dir, IndexStore(settings.index_dir), max_bytes=20_000)


@pytest.mark.parametrize("name, expected", [
    ("bai-moi.txt", "bai-moi.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\evil.md", "evil.md"),
    ("/abs/path/Tin tức mới.HTML", "Tin_tức_mới.html"),
    (".hidden.txt", "hidden.txt"),
    ("a<b>:c|d?.txt", "a_b_c_d.txt"),
])
def test_safe_filename_keeps_a_plain_name_inside_the_folder(name, expected):
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["notes.doc", "README", "...txt", "../.txt", "x.exe"])
def test_safe_filename_refuses_unusable_names(name):
    with pytest.raises(UploadError):
        safe_filename(name)


def test_add_writes_the_article_and_lists_it_as_new(library, settings):
    added = library.add("../Lễ hội sen.txt", ARTICLE.encode())
    assert added.path == settings.corpus_dir.resolve() / "Lễ_hội_sen.txt"
    assert added.path.read_text(encoding="utf-8") == ARTICLE
    assert added.title == "Lễ hội hoa sen Đồng Tháp 2025"
    docs = {d.doc_id: d for d in library.documents()}
    assert docs["Lễ_hội_sen"].state == "new" and docs["Lễ_hội_sen"].chunks is None
    assert not any(p.name.startswith(".") for p in settings.corpus_dir.iterdir())  # no temporary left


@pytest.mark.parametrize("data, reason", [
    (b"\x00\x01binary" * 10, "binary"),
    ("Tiếng Việt".encode("utf-16"), "UTF-8"),
    (b"", "empty"),
    (b"x" * 20_001, "limit"),
])
def test_a_bad_file_is_refused_with_its_reason_and_nothing_changes(library, settings, data, reason):
    before = files(settings.corpus_dir)
    with pytest.raises(UploadError, match=reason):
        library.add("bad.txt", data)
    assert files(settings.corpus_dir) == before


def test_add_file_checks_the_size_before_reading(library, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 30_000)
    with pytest.raises(UploadError, match="30,000 bytes is over the 20,000-byte limit"):
        library.add_file(big)


def test_the_same_text_under_another_name_is_a_duplicate(library, settings):
    seed = sorted(settings.corpus_dir.glob("*.txt"))[0]
    before = files(settings.corpus_dir)
    with pytest.raises(UploadError, match=f"already in the corpus as {seed.name}"):
        library.add("copy.txt", seed.read_bytes())
    assert files(settings.corpus_dir) == before


def test_the_same_text_as_html_is_a_duplicate_too(library):
    library.add("sen.txt", ARTICLE.encode())
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in ARTICLE.split("\n") if line) + "</body></html>"
    with pytest.raises(UploadError, match="already in the corpus as sen.txt"):
        library.add("sen-copy.html", html.encode())


def test_a_name_in_use_needs_replace(library, settings):
    library.add("sen.txt", ARTICLE.encode())
    changed = ARTICLE.replace("50.000", "60.000")
    with pytest.raises(UploadError, match="already in the corpus"):
        library.add("sen.txt", changed.encode())
    with pytest.raises(UploadError, match="exactly this text"):
        library.add("sen.txt", ARTICLE.encode(), replace=True)
    added = library.add("sen.md", changed.encode(), replace=True)  # same id, another suffix: the .txt goes
    assert added.replaced.name == "sen.txt"
    assert not (settings.corpus_dir / "sen.txt").exists()
    assert "60.000" in (settings.corpus_dir / "sen.md").read_text(encoding="utf-8")


def test_delete_removes_the_file_and_refuses_unknown_ids(library, settings):
    library.add("sen.txt", ARTICLE.encode())
    assert library.delete("sen").name == "sen.txt"
    assert not (settings.corpus_dir / "sen.txt").exists()
    with pytest.raises(UploadError, match="no document 'sen'"):
        library.delete("sen")
    with pytest.raises(UploadError):
        library.delete("../../etc/passwd")


def test_documents_and_status_follow_the_index(settings, fake_embedder, library):
    assert library.status().version is None and library.status().pending == 2
    Assistant(settings, embedder=fake_embedder, span_model=FakeSpanModel()).build_index()
    docs = library.documents()
    assert {d.state for d in docs} == {"indexed"} and all(d.chunks and d.chunks > 0 for d in docs)
    status = library.status()
    assert (status.model, status.documents, status.pending) == ("fake-bow-64", 2, 0)
    assert status.chunks == sum(d.chunks for d in docs) and status.built_at

    library.add("sen.txt", ARTICLE.encode())
    first = docs[0]
    path = settings.corpus_dir / first.file
    path.write_text(path.read_text(encoding="utf-8").replace("Malaysia", "Malaysia (sửa)", 1), encoding="utf-8")
    states = {d.doc_id: d.state for d in library.documents()}
    assert states == {first.doc_id: "changed", docs[1].doc_id: "indexed", "sen": "new"}
    (settings.corpus_dir / docs[1].file).unlink()
    assert library.status().pending == 3  # one new, one changed, one deleted

    (settings.corpus_dir / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    broken = [d for d in library.documents() if d.doc_id == "broken"][0]
    assert broken.state == "unreadable" and "binary" in broken.problem


# ---- articles in every format: upload, index, a question, its citation, delete --------------------------------

from . import documents as D  # noqa: E402


@pytest.fixture
def big_library(settings) -> Library:
    return Library(settings.corpus_dir, IndexStore(settings.index_dir), max_bytes=5_000_000)


@pytest.mark.parametrize("name, make, question, quote, page", [
    ("le-hoi-sen.html", D.html_page, D.STALLS_Q, "40 gian hàng nông sản", None),
    ("le-hoi-sen.pdf", D.article_pdf, D.STALLS_Q, "40 gian hàng nông sản", 1),
    ("le-hoi-sen.pdf", lambda: D.article_pdf(two_pages=True), D.TICKETS_Q, "30.000 đồng", 2),
    ("le-hoi-sen.docx", D.docx, D.STALLS_Q, "40 gian hàng nông sản", None),
])
def test_an_article_in_any_format_is_uploaded_indexed_cited_and_deleted(big_library, settings, fake_embedder, name,
                                                                        make, question, quote, page):
    library = big_library
    assistant = Assistant(settings, embedder=fake_embedder, span_model=FakeSpanModel())
    added = library.add(name, make())
    assert added.title == "Đồng Tháp khai mạc lễ hội hoa sen lần thứ ba"
    assert assistant.build_index().added == 3  # the two seeds and this one
    answer = assistant.ask(question)
    assert not answer.refused and quote in answer.text
    cited = answer.citations[0]
    assert (cited.doc_id, cited.page) == ("le-hoi-sen", page) and quote in cited.quote
    assert cited.to_json()["page"] == page
    library.delete("le-hoi-sen")
    assert assistant.build_index().removed == 1
    assert all(c.doc_id != "le-hoi-sen" for c in assistant.ask(question).citations)


@pytest.mark.parametrize("name, make, says", [
    ("scan.pdf", D.scanned_pdf, "scan.pdf was not added: it has no text layer (2 page(s) of images: a scanned PDF?)"),
    ("locked.pdf", D.encrypted_pdf, "locked.pdf was not added: it is encrypted with a password"),
    ("cut.docx", lambda: D.docx()[:2000], "cut.docx was not added: it is a damaged or incomplete .docx"),
    ("page.pdf", D.html_page, "page.pdf was not added: it is a web page saved under a .pdf name, not a PDF"),
])
def test_a_bad_file_is_one_line_and_the_corpus_and_index_stay_as_they_were(big_library, settings, fake_embedder,
                                                                          name, make, says):
    library = big_library
    assistant = Assistant(settings, embedder=fake_embedder, span_model=FakeSpanModel())
    assistant.build_index()
    before, version = files(settings.corpus_dir), assistant.store.current_version().name
    with pytest.raises(UploadError) as caught:
        library.add(name, make())
    assert str(caught.value).startswith(says) and "\n" not in str(caught.value)
    assert files(settings.corpus_dir) == before
    assert assistant.store.current_version().name == version and library.status().pending == 0


@pytest.mark.integration
def test_the_page_pdf_and_word_copies_give_the_same_answer_with_the_real_embedder(settings, real_embedder, tmp_path):
    import shutil

    answers = {}
    for name, make in (("sen.html", D.html_page), ("sen.pdf", lambda: D.article_pdf(two_pages=True)),
                       ("sen.docx", D.docx)):
        corpus = tmp_path / name / "corpus"
        shutil.copytree(settings.corpus_dir, corpus)
        own = settings.replace(corpus_dir=corpus, index_dir=tmp_path / name / "index")
        Library(corpus, IndexStore(own.index_dir), 5_000_000).add(name, make())
        assistant = Assistant(own, embedder=real_embedder, span_model=FakeSpanModel())
        answer = assistant.ask(D.TICKETS_Q)
        cited = answer.citations[0]
        assert cited.doc_id == "sen" and "30.000 đồng" in cited.quote, name
        assert cited.page == (2 if name.endswith(".pdf") else None)
        answers[name] = answer.text
    assert len(set(answers.values())) == 1, answers
