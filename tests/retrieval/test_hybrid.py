import numpy as np
import pytest

from rag.indexing.builder import Indexer
from rag.indexing.store import IndexStore
from rag.ingest.corpus import load_corpus
from rag.retrieval.hybrid import HybridRetriever
from rag.errors import RagError
from rag.settings import ChunkSettings, RetrievalSettings
from rag.text import cross_language_terms, detect_language

from ..fakes import FakeEmbedder, FakeSpanModel

DOCS = {
    "trade": "Kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD.",
    "sport": "Đội tuyển bóng đá giành chức vô địch khu vực.",
    "school": "Học sinh trở lại trường sau kỳ nghỉ hè.",
}
# Hand-made unit vectors: each document along one axis, questions in between.
E = np.eye(4, dtype=np.float32)
VECTORS = {DOCS["trade"]: E[0], DOCS["sport"]: E[1], DOCS["school"]: E[2]}


def build_index(tmp_path, vectors):
    folder = tmp_path / "c"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    emb = FakeEmbedder(dimension=4, vectors=vectors)
    Indexer(IndexStore(tmp_path / "i"), emb, ChunkSettings(max_chars=200)).update(load_corpus(folder))
    return IndexStore(tmp_path / "i").load(), emb


def test_dense_ranking_is_exact(tmp_path):
    q = "Which team won the championship?"
    data, emb = build_index(tmp_path, {**VECTORS, q: [0.2, 0.9, 0.4, 0.0]})
    r = HybridRetriever(data, emb, RetrievalSettings(k=3, sentence_weight=0.0))
    result = r.retrieve(q)
    assert result.lang == "en"
    assert [p.doc_id for p in result.passages] == ["sport", "school", "trade"]
    assert [p.rank for p in result.passages] == [1, 2, 3]
    p = result.passages[0]
    assert data.docs["sport"].text[p.start:p.end] == p.text
    assert emb.queries == [q]


def test_vietnamese_question_fuses_bm25(tmp_path):
    # Dense alone prefers "school"; the exact words and number of the question are in "trade".
    q = "kim ngạch thương mại năm 2024 là bao nhiêu?"
    data, emb = build_index(tmp_path, {**VECTORS, q: [0.5, 0.0, 0.8, 0.0]})
    dense_only = HybridRetriever(data, emb, RetrievalSettings(k=3, sentence_weight=0.0, lexical_weight_vi=0.0))
    assert dense_only.retrieve(q).passages[0].doc_id == "school"
    hybrid = HybridRetriever(data, emb, RetrievalSettings(k=3, sentence_weight=0.0, lexical_weight_vi=0.6))
    result = hybrid.retrieve(q)
    assert result.lang == "vi"
    assert result.passages[0].doc_id == "trade"


@pytest.mark.parametrize("fusion", ["rrf", "scores"])
def test_score_fusion_weighs_how_far_ahead_a_score_is_not_only_its_rank(tmp_path, fusion):
    # Both questions rank "school" first by dense and "trade" first by BM25; only how far ahead differs.
    q = "kim ngạch thương mại năm 2024"
    close, far = [0.70, 0.0, 0.71, 0.0], [0.2, 0.0, 0.98, 0.0]
    firsts = []
    for i, vec in enumerate((close, far)):
        (tmp_path / str(i)).mkdir()
        data, emb = build_index(tmp_path / str(i), {**VECTORS, q: vec})
        r = HybridRetriever(data, emb, RetrievalSettings(k=3, sentence_weight=0.0, lexical_weight_vi=0.3, fusion=fusion))
        firsts.append(r.retrieve(q).passages[0].doc_id)
    # Ranks alone cannot tell the two apart; scores can: a dense lead of 0.01 yields to BM25, one of 0.78 does not.
    assert firsts == (["trade", "trade"] if fusion == "rrf" else ["trade", "school"])


def test_fused_scores_are_the_weighted_min_max_scaled_scores(tmp_path):
    q = "kim ngạch thương mại năm 2024"
    data, emb = build_index(tmp_path, {**VECTORS, q: [0.5, 0.1, 0.8, 0.0]})
    r = HybridRetriever(data, emb, RetrievalSettings(k=3, sentence_weight=0.0, lexical_weight_vi=0.3, fusion="scores"))
    result = r.retrieve(q)
    rows = np.array([next(i for i, c in enumerate(data.chunks) if c.chunk_id == p.chunk_id) for p in result.passages])
    dense = data.chunk_vectors[rows] @ emb.embed_queries([q])[0]
    from rag.indexing.lexical import tokenize

    bm25 = data.lexical.scores(tokenize(q))[rows]
    scale = lambda x: (x - x.min()) / (x.max() - x.min())  # noqa: E731
    assert [p.score for p in result.passages] == pytest.approx(list(0.7 * scale(dense) + 0.3 * scale(bm25)))


def test_an_unknown_fusion_says_which_there_are():
    with pytest.raises(RagError, match="rrf, scores"):
        RetrievalSettings(fusion="max")


def test_english_question_keeps_dense_order(tmp_path):
    # English words never match Vietnamese text: the lexical side must not reorder the dense ranking.
    q = "How much was two-way trade worth?"
    data, emb = build_index(tmp_path, {**VECTORS, q: [0.5, 0.0, 0.8, 0.0]})
    r = HybridRetriever(data, emb, RetrievalSettings(k=3, sentence_weight=0.0))
    assert [p.doc_id for p in r.retrieve(q).passages] == ["school", "trade", "sport"]


def test_cross_language_terms_keep_names_and_numbers():
    assert cross_language_terms("How many career sacks did Jared Allen have in 2015?") == "Jared Allen 2015"
    assert cross_language_terms("What is the capital?") == ""


@pytest.mark.parametrize("text,lang", [
    ("AZEC là gì?", "vi"), ("What is AZEC?", "en"), ("kim ngach thuong mai nam 2024 la bao nhieu", "vi"),
    ("Thủ tướng Nhật Bản là ai?", "vi"), ("Who is the Prime Minister of Japan?", "en"), ("", "en"),
    ("How many priorities did Bùi Thanh Sơn and Phạm Minh Chính each propose?", "en"),
    ('Ngoài "On the Babylonian Captivity of the Church", Luther còn viết những gì năm 1520?', "vi"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_sentence_scores_come_with_the_result_and_a_shorter_k_is_a_prefix(settings, fake_embedder):
    from rag.assistant import Assistant

    a = Assistant(settings, embedder=fake_embedder, span_model=FakeSpanModel())
    q = "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?"
    ten, three = a.retrieve(q, k=10), a.retrieve(q, k=3)
    assert a.retriever() is a.retriever()  # one retriever per index version
    assert ten.top(3).passages == three.passages
    assert [(s.passage.chunk_id, s.start, s.score) for s in ten.top(3).supports] == \
        [(s.passage.chunk_id, s.start, s.score) for s in three.supports]
    # The scores are the cosines of the stored sentence vectors, best first, each sentence once.
    data = a.index_data()
    row = {c.chunk_id: i for i, c in enumerate(data.chunks)}
    for s in three.supports:
        r = row[s.passage.chunk_id]
        j = data.sentence_offsets[r] + [x[0] for x in data.chunks[r].sentences].index(s.start)
        assert s.score == pytest.approx(float(data.sentence_vectors[j] @ three.query_vector))
    scores = [s.score for s in three.supports]
    assert scores == sorted(scores, reverse=True) and three.best_score == scores[0]
    assert len({(s.passage.doc_id, s.start) for s in three.supports}) == len(three.supports)


def test_the_cross_language_offset_lets_a_passage_win_on_what_it_says_not_its_language(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    vi = "Hội nghị diễn ra tại Kuala Lumpur ngày 10/7/2025."
    caption = "The meeting photo was provided by the ministry."
    (folder / "a.txt").write_text(vi, encoding="utf-8")
    (folder / "b.txt").write_text(caption, encoding="utf-8")
    q = "Where was the meeting held?"
    # The caption is closer to the English question by 0.1 only because it is English.
    emb = FakeEmbedder(dimension=4, vectors={vi: [1, 0, 0, 0], caption: [0, 1, 0, 0], q: [0.6, 0.7, 0, 0]})
    Indexer(IndexStore(tmp_path / "i"), emb, ChunkSettings(max_chars=200)).update(load_corpus(folder))
    data = IndexStore(tmp_path / "i").load()
    plain = HybridRetriever(data, emb, RetrievalSettings(k=2, lexical_weight_en=0.0))
    assert [p.doc_id for p in plain.retrieve(q).passages] == ["b", "a"]
    fair = HybridRetriever(data, emb, RetrievalSettings(k=2, lexical_weight_en=0.0, cross_language_offset=0.2))
    result = fair.retrieve(q)
    assert [p.doc_id for p in result.passages] == ["a", "b"]
    # The sentences the answerers read carry the same offset: the Vietnamese one is the best support.
    best = result.supports[0]
    assert best.passage.doc_id == "a" and best.score == pytest.approx(0.6 / np.hypot(0.6, 0.7) + 0.2, abs=1e-5)
    # A Vietnamese question gets the offset on the English caption instead.
    expected = [0.0 if c.doc_id == "a" else pytest.approx(0.2) for c in data.chunks]
    assert fair.chunk_language_offsets(np.arange(len(data.chunks)), "vi").tolist() == expected
