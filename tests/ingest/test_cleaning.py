import unicodedata

from rag.ingest.chunking import chunk_document
from rag.ingest.cleaning import clean_article
from rag.ingest.corpus import load_corpus
from rag.settings import ChunkSettings

from ..conftest import SEEDS

FURNITURE = ["Underline menu", "menu close", "Tin liên quan", "Tin cùng chuyên mục", "Tổng số bài đăng",
             "Tiêu đề Ngày", "Từ khóa", "17-09-2025", "Điểm tin kinh tế Việt Nam nổi bật",
             "Campuchia triển khai chiến lược mở rộng thị trường", "Việt Nam - Lào: Hướng tới",
             "Hội nghị Cấp cao ASEAN 47", "15:48' - 26/10/2025"]


def test_seed_articles_keep_title_date_source_body_and_captions():
    docs = {d.doc_id: d for d in load_corpus(SEEDS).documents}
    mekong = docs["000_fbd71147380da296"]
    assert mekong.title.startswith("Các nước Mekong - Nhật Bản thúc đẩy hợp tác kinh tế số")
    assert mekong.date == "26/07/2025"
    assert mekong.source == "Vụ Chính sách Thương mại Đa biên"
    kinds = [b.kind for b in mekong.blocks]
    assert kinds[:3] == ["title", "date", "caption"] and kinds[-1] == "source"
    assert "Iwaya Takeshi" in mekong.text

    summit = docs["002_6ea3e025f96589fc"]
    assert summit.title == "Thủ tướng Phạm Minh Chính dự Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28"
    assert summit.source == "TTXVN"
    captions = [summit.text[b.start:b.end] for b in summit.blocks if b.kind == "caption"]
    # Three caption lines on the page, one of them repeated: two are kept.
    assert len(captions) == 2 and all("Ảnh: Dương Giang-TTXVN" in c for c in captions)
    assert "236,6 tỷ USD" in summit.text and "108/130" in summit.text
    assert "(AOIP)" in summit.text


def test_no_page_furniture_in_any_chunk():
    for doc in load_corpus(SEEDS).documents:
        for chunk in chunk_document(doc, ChunkSettings()):
            for bad in FURNITURE:
                assert bad.lower() not in chunk.text.lower(), (doc.doc_id, bad)


def test_text_is_nfc():
    decomposed = unicodedata.normalize("NFD", "Hội nghị Cấp cao")
    assert decomposed != "Hội nghị Cấp cao"
    for doc in load_corpus(SEEDS).documents:
        assert unicodedata.is_normalized("NFC", doc.text)


def test_plain_paragraph_is_a_whole_document():
    raw = ("Nhật Bản là đối tác thương mại lớn thứ tư của ASEAN. Kim ngạch năm 2024 đạt 236,6 tỷ USD, "
           "tăng so với năm trước.")
    art = clean_article(raw)
    assert art.title is None and art.date is None
    assert art.text == raw
    assert [b.kind for b in art.blocks] == ["body"]


def test_furniture_header_keeps_later_captions_but_not_lists():
    raw = "Tiêu đề bài báo hôm nay\nNội dung chính của bài.\nTin liên quan\n-\nMột tin khác\n12:00' - 01/01/2025\n" \
          "Ảnh minh họa hội nghị. Ảnh: TTXVN"
    art = clean_article(raw)
    assert "Một tin khác" not in art.text
    assert [b.kind for b in art.blocks] == ["title", "body", "caption"]
