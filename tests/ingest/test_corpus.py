import pytest

from rag.errors import CorpusError
from rag.ingest.corpus import load_corpus


def write(folder, name, data: bytes):
    (folder / name).write_bytes(data)


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write(folder, "good.txt", "Bài báo tốt. Nội dung hợp lệ.".encode())
    write(folder, "latin1.txt", "Tin t\xf4i".encode("latin-1"))
    write(folder, "binary.txt", b"\x00\x01\x02PNG\x00")
    write(folder, "empty.txt", b"")
    write(folder, "huge.txt", b"a" * 2000)
    write(folder, "ignored.png", b"\x89PNG")
    write(folder, "broken.pdf", b"%PDF-1.4 cut short")
    corpus = load_corpus(folder, max_bytes=1000)
    assert [d.doc_id for d in corpus.documents] == ["good"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.skipped}
    assert set(reasons) == {"latin1.txt", "binary.txt", "empty.txt", "huge.txt", "broken.pdf"}
    assert "damaged or incomplete PDF" in reasons["broken.pdf"]
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "limit" in reasons["huge.txt"]
    assert all(str(s).startswith("skipped ") for s in corpus.skipped)


def test_a_dangling_link_is_skipped_by_name(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write(folder, "good.txt", "Bài báo tốt. Nội dung hợp lệ.".encode())
    (folder / "gone.txt").symlink_to(tmp_path / "moved-away.txt")
    (folder / "picture.png").symlink_to(tmp_path / "nowhere.png")  # not an article: not named
    corpus = load_corpus(folder)
    assert [d.doc_id for d in corpus.documents] == ["good"]
    assert [str(s) for s in corpus.skipped] == [
        f"skipped {folder / 'gone.txt'}: it is a link to {tmp_path / 'moved-away.txt'}, which does not exist: fix the "
        "link or remove it"]


def test_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(CorpusError, match="no usable article"):
        load_corpus(tmp_path / "c")
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing")


def test_html_and_markdown(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write(folder, "a.html", """<html><head><title>Tin thế giới</title><script>alert(1)</script></head>
        <body><nav>menu</nav><h1>Hội nghị thượng đỉnh</h1><p>Các nhà l&atilde;nh đạo gặp nhau.</p></body></html>""".encode())
    write(folder, "b.md", "# Tiêu đề bài viết\n\nĐây là [một liên kết](http://x) trong bài.\n".encode())
    docs = {d.doc_id: d for d in load_corpus(folder).documents}
    assert "alert" not in docs["a"].text and "menu" not in docs["a"].text
    assert "Các nhà lãnh đạo gặp nhau." in docs["a"].text
    assert docs["b"].title == "Tiêu đề bài viết"
    assert "Đây là một liên kết trong bài." in docs["b"].text


def test_changes_since_a_build():
    from rag.ingest.corpus import changes

    diff = changes({"a": "1", "b": "2", "gone": "3"}, {"a": "1", "b": "22", "new": "4"})
    assert (diff.added, diff.changed, diff.removed, diff.unchanged) == (("new",), ("b",), ("gone",), ("a",))
    assert diff.pending == 3 and [diff.state(i) for i in ("a", "b", "new")] == ["indexed", "changed", "new"]
    assert changes({"a": "1"}, {"a": "1"}).pending == 0
