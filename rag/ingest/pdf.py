"""A PDF's text through pypdf, page by page, its lines joined back into paragraphs.

Only the text layer is read: a scanned PDF (images of pages) has none and is refused, as are an encrypted PDF,
a damaged one and a file that is not a PDF at all, each with what to do instead.
"""

from __future__ import annotations

import io
import logging
import re

from rag.errors import CorpusError
from rag.ingest.cleaning import PAGE_BREAK, Extracted

# A line that is only a page number: "3", "- 3 -", "Trang 3", "Page 3 of 5", "3/5".
_PAGE_NUMBER = re.compile(r"^(?:[-–—]\s*)?(?:(?:trang|page)\s+)?\d{1,4}(?:\s*(?:/|of|trên)\s*\d{1,4})?(?:\s*[-–—])?$",
                          re.I)
# A line ending a sentence or a heading's colon ends its paragraph.
_ENDS_PARAGRAPH = re.compile(r"[.!?:…”\"')\]]$")
# A line shorter than this share of the page's longest line is the last of its paragraph (or a title, a date).
_SHORT_LINE = 0.7
_LETTER = re.compile(r"[^\W\d_]")


def _paragraphs(page: str) -> list[str]:
    """The page's lines joined into paragraphs: a blank line, a line that ends a sentence or a short line ends
    one; a word cut by a hyphen at the end of a line is joined again."""
    lines = [" ".join(line.split()) for line in page.splitlines()]
    lines = [line for line in lines if not _PAGE_NUMBER.match(line)]
    width = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if not current:
            current = line
        elif re.search(r"\w-$", current) and line[:1].islower():
            current = current[:-1] + line
        else:
            current = f"{current} {line}"
        if _ENDS_PARAGRAPH.search(line) or len(line) < _SHORT_LINE * width:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def read_pdf(data: bytes) -> Extracted:
    """The text of every page, pages apart (PAGE_BREAK); raises CorpusError saying what the file is and what to
    do when it has no text to read."""
    head = data[:1024]
    if b"%PDF-" not in head:
        if re.search(rb"<(?:!doctype html|html|head|body)\b", head, re.I):
            raise CorpusError("it is a web page saved under a .pdf name, not a PDF: save it as .html (or print the "
                              "page to PDF) and add that")
        raise CorpusError("it is not a PDF (no %PDF header): add the article as a PDF, Word (.docx), web page or "
                          "text file")
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a lenient read of a slightly damaged file is not news
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorpusError("it is encrypted with a password: save a copy without the password (print it to PDF) "
                              "and add that")
        pages = [page.extract_text() or "" for page in reader.pages]
    except CorpusError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds of errors on damaged files
        if "cryptography" in str(exc) or "AES" in str(exc):
            raise CorpusError("it is encrypted (AES) and cannot be opened here: save a copy without a password "
                              "(print it to PDF) and add that") from None
        raise CorpusError(f"it is a damaged or incomplete PDF ({type(exc).__name__}): save or download it again") \
            from None
    if not pages:
        raise CorpusError("the PDF has no pages: save or download it again")
    if not any(_LETTER.search(p) for p in pages):
        raise CorpusError(f"it has no text layer ({len(pages)} page(s) of images: a scanned PDF?): run it through "
                          "OCR (e.g. `ocrmypdf in.pdf out.pdf`) or add the article's text instead")
    return Extracted(PAGE_BREAK.join("\n".join(_paragraphs(p)) for p in pages), paged=True)
