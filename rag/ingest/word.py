"""A Word document's text through python-docx: its paragraphs and tables, in the order they appear.

A table row is one line, its cells apart (" | "); a merged cell counts once. Headers, footers and comments are
not the article and are left out. An old .doc, a password-protected or damaged file is refused with what to do.
"""

from __future__ import annotations

import io

from rag.errors import CorpusError
from rag.ingest.cleaning import Extracted

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old .doc, or a .docx protected by a password


def _row(row) -> str:
    cells: list[str] = []
    for cell in row.cells:
        text = " ".join(cell.text.split())
        if text and (not cells or cells[-1] != text):  # a merged cell is given once per column it spans
            cells.append(text)
    return " | ".join(cells)


def read_docx(data: bytes) -> Extracted:
    """Every paragraph and table row, one a line; raises CorpusError when the file is not a readable .docx."""
    if data.startswith(_OLE):
        raise CorpusError("it is an old Word .doc file or a password-protected one: save it from Word as a .docx "
                          "without a password and add that")
    if not data.startswith(_ZIP):
        raise CorpusError("it is not a Word .docx file: save it from Word as .docx, or add it as PDF or text")
    from docx import Document as WordDocument
    from docx.table import Table

    try:
        document = WordDocument(io.BytesIO(data))
        lines = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                lines.extend(_row(row) for row in item.rows)
            else:
                lines.append(item.text)
    except Exception as exc:  # noqa: BLE001 - zipfile, python-docx and lxml raise many kinds of errors on damage
        raise CorpusError(f"it is a damaged or incomplete .docx ({type(exc).__name__}): save it again from Word "
                          "and add that") from None
    return Extracted("\n".join(lines))
