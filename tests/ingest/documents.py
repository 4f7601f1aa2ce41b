"""Real files made in the test: one news article as a saved web page (pages/), a text PDF of one or two pages, a
Word document with a table, a scanned PDF (a picture of a page, no text), an encrypted PDF."""

from __future__ import annotations

import io
from pathlib import Path

PAGES = Path(__file__).resolve().parent / "pages"
# The article of pages/le-hoi-sen-dong-thap.html, as its PDF and Word copies hold it.
TITLE = "Đồng Tháp khai mạc lễ hội hoa sen lần thứ ba"
DATE = "12/06/2025"
FIRST = ("Ngày 12/6/2025, tại thành phố Cao Lãnh, tỉnh Đồng Tháp khai mạc lễ hội hoa sen lần thứ ba với 40 gian hàng "
         "nông sản từ các huyện trong tỉnh. Lễ hội kéo dài ba ngày, từ 12 đến 14/6.")
CROWD = ("Ban tổ chức dự kiến đón 50.000 lượt khách trong ba ngày diễn ra lễ hội, tăng gấp đôi so với năm trước nhờ "
         "các tour du lịch sinh thái mới qua vùng Đồng Tháp Mười.")
TICKETS = ("Giá vé tham quan đầm sen là 30.000 đồng. Du khách có thể chèo xuồng giữa đầm sen rộng 20 héc-ta, tự tay hái "
           "sen và thưởng thức các món ăn chế biến từ sen như cơm lá sen, gỏi ngó sen và chè hạt sen.")
OCOP = ("Theo ông Trần Văn Lợi, Giám đốc Sở Văn hóa, Thể thao và Du lịch Đồng Tháp, lễ hội năm nay chú trọng quảng bá "
        "sản phẩm OCOP làm từ sen, với 25 sản phẩm được chứng nhận từ ba sao trở lên.")
# Questions and the words of the sentence that answers them.
STALLS_Q = "Lễ hội hoa sen Đồng Tháp khai mạc với bao nhiêu gian hàng nông sản?"
TICKETS_Q = "Giá vé tham quan đầm sen ở lễ hội hoa sen Đồng Tháp là bao nhiêu?"


def html_page() -> bytes:
    return (PAGES / "le-hoi-sen-dong-thap.html").read_bytes()


def _font() -> str:
    import matplotlib  # a dependency of the project; it ships DejaVu Sans, which has every Vietnamese letter

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def pdf(pages: list[list[str]]) -> bytes:
    """A text PDF: each page's paragraphs, wrapped to the page's width, a page number at its foot."""
    from fpdf import FPDF

    doc = FPDF()
    doc.add_font("DejaVu", fname=_font())
    doc.set_auto_page_break(False)
    for n, paragraphs in enumerate(pages, start=1):
        doc.add_page()
        doc.set_font("DejaVu", size=11)
        for text in paragraphs:
            doc.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
            doc.ln(3)
        doc.set_y(-20)
        doc.cell(0, 6, str(n), align="C")
    return bytes(doc.output())


def article_pdf(two_pages: bool = False) -> bytes:
    """The article as a PDF: all on one page, or the tickets and OCOP paragraphs on page 2."""
    first = [TITLE, DATE, FIRST, CROWD]
    return pdf([first, [TICKETS, OCOP]] if two_pages else [first + [TICKETS, OCOP]])


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages that are pictures only, as a scanner makes them: no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    picture = Image.new("L", (600, 800), 255)
    draw = ImageDraw.Draw(picture)
    for y in range(80, 760, 24):
        draw.rectangle((60, y, 540, y + 10), fill=0)  # lines of "text" as ink
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    doc = FPDF()
    for _ in range(pages):
        doc.add_page()
        doc.image(io.BytesIO(buffer.getvalue()), x=10, y=10, w=190)
    return bytes(doc.output())


def encrypted_pdf(password: str = "mật-khẩu") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(article_pdf())))
    writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(with_table: bool = True) -> bytes:
    """The article as a Word document: a heading, the date, the paragraphs, and a table of its figures."""
    from docx import Document

    doc = Document()
    doc.add_heading(TITLE, level=1)
    doc.add_paragraph(DATE)
    for text in (FIRST, CROWD, TICKETS, OCOP):
        doc.add_paragraph(text)
    if with_table:
        table = doc.add_table(rows=3, cols=2)
        for row, (a, b) in zip(table.rows, [("Hạng mục", "Số liệu"), ("Gian hàng nông sản", "40"),
                                            ("Sản phẩm OCOP từ sen", "25")]):
            row.cells[0].text, row.cells[1].text = a, b
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
