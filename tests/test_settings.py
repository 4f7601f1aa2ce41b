import pytest

from rag.errors import RagError
from rag.settings import EMBEDDERS, ROOT, TUNED, Settings


def test_each_embedder_brings_its_own_tuned_numbers_and_folder(monkeypatch):
    monkeypatch.delenv("RAG_EMBEDDER", raising=False)
    monkeypatch.delenv("RAG_MODEL_DIR", raising=False)
    default = Settings()
    assert default.embedder == EMBEDDERS[0] == "embeddinggemma"
    assert default.model_dir == ROOT / "models" / "embeddinggemma"
    e5 = default.replace(embedder="e5-small")
    assert e5.model_dir == ROOT / "models" / "e5-small"
    for name in ("answer_min_score_vi", "answer_min_score_en", "generate_min_score_vi", "generate_min_score_en"):
        assert getattr(e5, name) == TUNED["e5-small"][name]
        assert getattr(default, name) == TUNED["embeddinggemma"][name]
    assert e5.retrieval.query_prompt_en == TUNED["e5-small"]["retrieval"]["query_prompt_en"]
    assert e5.citations.min_similarity == TUNED["e5-small"]["citations"]["min_similarity"]


def test_a_value_given_with_the_embedder_is_kept(monkeypatch):
    monkeypatch.delenv("RAG_MODEL_DIR", raising=False)
    s = Settings(embedder="e5-small", answer_min_score_vi=0.5)
    assert s.answer_min_score_vi == 0.5 and s.answer_min_score_en == TUNED["e5-small"]["answer_min_score_en"]
    assert Settings().replace(embedder="e5-small", answer_min_score_vi=0.4).answer_min_score_vi == 0.4
    kept = s.replace(corpus_dir=ROOT)  # the same embedder: nothing re-tuned
    assert kept.answer_min_score_vi == 0.5


def test_an_unknown_embedder_says_which_exist(monkeypatch):
    monkeypatch.setenv("RAG_EMBEDDER", "bge")
    with pytest.raises(RagError, match="embedder 'bge'.*embeddinggemma, e5-small"):
        Settings()
