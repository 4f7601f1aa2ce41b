import pytest

from rag.errors import CorpusError
from rag.ingest.corpus import read_document
from rag.ingest.word import read_docx

from . import documents as D


def test_a_docx_gives_its_paragraphs_and_table_rows_in_order(tmp_path):
    path = tmp_path / "bai.docx"
    path.write_bytes(D.docx())
    doc = read_document(path, "bai", 5_000_000)
    assert (doc.title, doc.date, doc.pages) == (D.TITLE, D.DATE, ())
    assert doc.text.index(D.FIRST) < doc.text.index(D.OCOP) < doc.text.index("Gian hàng nông sản | 40")
    assert "Hạng mục | Số liệu" in doc.text


def test_a_merged_cell_counts_once():
    import io

    from docx import Document

    word = Document()
    table = word.add_table(rows=1, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Tổng"
    table.cell(0, 2).text = "65"
    out = io.BytesIO()
    word.save(out)
    assert read_docx(out.getvalue()).text.strip() == "Tổng | 65"


@pytest.mark.parametrize("data, says", [
    (D.docx()[:1500], "it is a damaged or incomplete .docx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "it is an old Word .doc file or a password-protected one"),
    (b"<html><body>not Word</body></html>", "it is not a Word .docx file"),
])
def test_a_bad_docx_is_one_line_saying_what_to_do(data, says):
    with pytest.raises(CorpusError) as caught:
        read_docx(data)
    assert says in str(caught.value) and "\n" not in str(caught.value)
