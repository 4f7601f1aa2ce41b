from rag.ingest.chunking import chunk_document
from rag.ingest.corpus import load_corpus
from rag.settings import ChunkSettings
from rag.text import split_sentences

from ..conftest import SEEDS


def test_chunk_text_equals_document_text_at_its_offsets():
    for size in (200, 400, 700):
        for doc in load_corpus(SEEDS).documents:
            chunks = chunk_document(doc, ChunkSettings(max_chars=size))
            assert chunks
            for c in chunks:
                assert doc.text[c.start:c.end] == c.text
                assert c.end - c.start <= size
                assert c.sentences[0].start == c.start and c.sentences[-1].end == c.end
                for s in c.sentences:
                    assert c.start <= s.start < s.end <= c.end


def test_every_sentence_is_in_a_chunk():
    doc = load_corpus(SEEDS).documents[1]
    chunks = chunk_document(doc, ChunkSettings(max_chars=400, overlap_sentences=0))
    covered = "".join(c.text for c in chunks).replace("\n", "").replace(" ", "")
    assert covered == doc.text.replace("\n", "").replace(" ", "")


def test_chunk_ids_are_content_hashes():
    doc = load_corpus(SEEDS).documents[0]
    a = chunk_document(doc, ChunkSettings())
    b = chunk_document(doc, ChunkSettings())
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)


def test_sentence_split_vietnamese_and_english():
    text = "TP. Hồ Chí Minh tăng trưởng 10%. George W. Bush spoke. Giá đạt 236,6 tỷ USD! “Được,” ông nói."
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["TP. Hồ Chí Minh tăng trưởng 10%.", "George W. Bush spoke.", "Giá đạt 236,6 tỷ USD!",
                   "“Được,” ông nói."]


def test_sentences_glued_without_a_space_are_split():
    text = "hợp tác ASEAN - Nhật Bản.Cụ thể, hai bên thống nhất. Giáo dục, đào tạo…Phát biểu tại đây. Node 3.5 ổn."
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["hợp tác ASEAN - Nhật Bản.", "Cụ thể, hai bên thống nhất.", "Giáo dục, đào tạo…",
                   "Phát biểu tại đây.", "Node 3.5 ổn."]


def test_a_list_trailing_off_before_a_small_accented_letter_is_not_a_sentence_end():
    # "đ", "ở", "ă" sit in the range À-Ỹ, which also holds capitals: only real capitals start a sentence.
    text = "Tránh đồ cay như ớt, tỏi... để không kích thích dạ dày. Tập thể dục... ở nhà cũng được. Ăn chậm."
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["Tránh đồ cay như ớt, tỏi... để không kích thích dạ dày.", "Tập thể dục... ở nhà cũng được.",
                   "Ăn chậm."]


def test_overlong_sentence_is_cut_at_clauses():
    doc_text = ", ".join(["một mệnh đề dài"] * 60) + "."
    spans = split_sentences(doc_text)
    assert len(spans) == 1
    from rag.ingest.chunking import _fit

    pieces = _fit(doc_text, spans[0], 200)
    assert all(p.end - p.start <= 200 for p in pieces)
    assert "".join(doc_text[p.start:p.end] for p in pieces).replace(" ", "") == doc_text.replace(" ", "")
