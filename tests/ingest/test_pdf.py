import pytest

from rag.errors import CorpusError
from rag.ingest.corpus import read_document
from rag.ingest.pdf import _paragraphs, read_pdf

from . import documents as D


def read(tmp_path, data: bytes, name: str = "bai.pdf"):
    path = tmp_path / name
    path.write_bytes(data)
    return read_document(path, path.stem, 5_000_000)


def test_a_text_pdf_gives_the_article_and_where_each_page_starts(tmp_path):
    doc = read(tmp_path, D.article_pdf(two_pages=True))
    assert (doc.title, doc.date) == (D.TITLE, D.DATE)
    for paragraph in (D.FIRST, D.CROWD, D.TICKETS, D.OCOP):  # the wrapped lines joined again
        assert paragraph in doc.text
    assert len(doc.pages) == 2 and doc.pages[0] == 0
    assert doc.text[doc.pages[1]:].startswith(D.TICKETS)
    assert doc.page_at(doc.text.index("40 gian hàng")) == 1
    assert doc.page_at(doc.text.index("30.000 đồng")) == 2
    assert doc.page_at(doc.pages[1]) == 2 and doc.page_at(doc.pages[1] - 1) == 1
    assert "\n\n2\n\n" not in doc.text and not doc.text.endswith("2")  # page numbers are not text


def test_a_one_page_pdf_cites_page_one(tmp_path):
    doc = read(tmp_path, D.article_pdf())
    assert doc.pages == (0,) and doc.page_at(len(doc.text) - 1) == 1


def test_the_same_text_paged_otherwise_is_another_document(tmp_path):
    one, two = read(tmp_path, D.article_pdf(), "a.pdf"), read(tmp_path, D.article_pdf(two_pages=True), "b.pdf")
    assert one.text == two.text and one.content_hash != two.content_hash


def test_an_empty_page_takes_the_start_of_the_next():
    from rag.ingest.cleaning import Extracted, clean_article

    article = clean_article(Extracted("Tiêu đề của bài báo\fMenu\f\fĐoạn một của bài.\fĐoạn hai.", paged=True))
    assert article.pages[1] == article.pages[2] == article.pages[3] == article.text.index("Đoạn một")


def test_lines_are_joined_into_paragraphs():
    page = ("Tiêu đề ngắn\n"
            "Đây là một dòng dài của đoạn văn đầu tiên, nó tiếp tục sang dòng sau mà\n"
            "không có dấu chấm ở cuối dòng, cho đến khi câu kết thúc ở đây.\n"
            "Đoạn thứ hai bắt đầu ở đây và cũng dài như dòng trước của đoạn đầu ti-\n"
            "ên, rồi kết thúc.\n"
            "- 1 -\n")
    assert _paragraphs(page) == [
        "Tiêu đề ngắn",
        "Đây là một dòng dài của đoạn văn đầu tiên, nó tiếp tục sang dòng sau mà không có dấu chấm ở cuối dòng, "
        "cho đến khi câu kết thúc ở đây.",
        "Đoạn thứ hai bắt đầu ở đây và cũng dài như dòng trước của đoạn đầu tiên, rồi kết thúc."]


@pytest.mark.parametrize("make, says", [
    (D.scanned_pdf, "it has no text layer (2 page(s) of images: a scanned PDF?): run it through OCR"),
    (D.encrypted_pdf, "it is encrypted with a password: save a copy without the password"),
    (D.html_page, "it is a web page saved under a .pdf name, not a PDF: save it as .html"),
    (lambda: D.article_pdf()[:600], "it is a damaged or incomplete PDF"),
    (lambda: b"Just some text, not a PDF at all.", "it is not a PDF (no %PDF header)"),
])
def test_a_pdf_without_readable_text_is_one_line_saying_what_to_do(make, says):
    with pytest.raises(CorpusError) as caught:
        read_pdf(make())
    assert says in str(caught.value) and "\n" not in str(caught.value)
