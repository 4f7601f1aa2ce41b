import pytest

from rag.errors import CorpusError
from rag.ingest.chunking import chunk_document
from rag.ingest.corpus import read_document
from rag.ingest.webpage import read_html, saved_copy, saved_from
from rag.settings import ChunkSettings

from .documents import PAGES

# Menus, related news, tags, most-read lists, comments, footers and scripts of the saved pages.
FURNITURE = ["Trang chủ", "Đăng nhập", "Thời sự", "Tìm kiếm", "Tin liên quan", "Mùa nước nổi", "Chợ nổi Cái Răng",
             "Từ khóa", "Tags", "cảng biển Hải Phòng", "Facebook", "Zalo", "Đọc nhiều", "Giá lúa tăng", "Ý kiến bạn đọc",
             "Lễ hội rất đẹp", "Bản quyền", "Giấy phép", "Tin cùng chuyên mục", "Xuất khẩu thủy sản", "Cảng Nam Đình Vũ",
             "Underline", "menu", "Tổng số bài đăng", "gtag", "dataLayer", "function", "loadAds", "googletagmanager",
             "NewsArticle"]


def read(name: str):
    path = PAGES / name
    return read_document(path, path.stem, 5_000_000)


def test_a_news_page_gives_its_title_date_site_and_article():
    doc = read("le-hoi-sen-dong-thap.html")
    assert (doc.title, doc.date, doc.source) == ("Đồng Tháp khai mạc lễ hội hoa sen lần thứ ba", "12/06/2025",
                                                 "Báo Tin Tức Miền Tây")
    assert [b.kind for b in doc.blocks][:2] == ["title", "date"]
    assert [doc.text[b.start:b.end] for b in doc.blocks].count(doc.title) == 1  # the <h1> is not a paragraph too
    assert "40 gian hàng nông sản" in doc.text and "25 sản phẩm được chứng nhận" in doc.text
    # The paragraph after the related-news box in the middle of the article is kept.
    assert doc.text.index("50.000 lượt khách") < doc.text.index("30.000 đồng")


def test_the_date_comes_from_the_page_markup_and_a_title_guess_is_not_a_site():
    doc = read("cang-lach-huyen.html")
    assert (doc.title, doc.date, doc.source) == ("Cảng Lạch Huyện lần đầu đón tàu container 24.000 TEU", "15/11/2025",
                                                 None)
    assert "1,9 triệu TEU" in doc.text


@pytest.mark.parametrize("name", ["le-hoi-sen-dong-thap.html", "cang-lach-huyen.html"])
def test_no_page_furniture_reaches_a_chunk(name):
    doc = read(name)
    for chunk in chunk_document(doc, ChunkSettings(max_chars=300)):
        for bad in FURNITURE:
            assert bad.lower() not in chunk.text.lower(), (name, bad, chunk.text)


def test_a_home_page_is_not_an_article():
    with pytest.raises(CorpusError, match="trafilatura found no article text in the page: save the article's own"):
        read("trang-chu.html")


def test_a_saved_copy_records_its_link_and_fetch_time_and_names_the_site():
    page = (PAGES / "cang-lach-huyen.html").read_text(encoding="utf-8")
    copy = saved_copy(page, "https://tin.haiphong.example/kinh-te/lach-huyen 24000.html", "2026-12-07T09:00:00+00:00")
    assert copy.startswith("<!-- saved from url=(0060)https://tin.haiphong.example/kinh-te/lach-huyen%2024000.html -->")
    assert saved_from(copy) == ("https://tin.haiphong.example/kinh-te/lach-huyen%2024000.html",
                                "2026-12-07T09:00:00+00:00")
    assert saved_from(page) == (None, None)
    assert read_html(copy).source == "tin.haiphong.example"
    sneaky = saved_copy(page, "https://x.example/a--><script>alert(1)</script>", "2026-12-07T09:00:00+00:00")
    assert sneaky.split("\n", 1)[0].count("-->") == 1  # the link cannot end the comment early
