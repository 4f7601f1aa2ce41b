"""End to end with the real multilingual-e5-small model on the seed articles."""

import json
import os
import subprocess
import sys

import pytest

from rag.assistant import Assistant
from rag.settings import GeneratorSettings, Settings

from .conftest import MODEL_DIR, ROOT, SEEDS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, real_embedder):
    index = tmp_path_factory.mktemp("index")
    a = Assistant(Settings(corpus_dir=SEEDS, index_dir=index, embedder="e5-small", model_dir=MODEL_DIR,
                           generator=GeneratorSettings(backend="extractive")), embedder=real_embedder)
    report = a.build_index()
    assert report.documents == 2 and report.chunks_embedded == report.chunks > 5
    return a


def test_vietnamese_question_is_answered_with_its_cited_sentence(assistant):
    answer = assistant.ask("Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt bao nhiêu?")
    assert answer.lang == "vi" and not answer.refused
    assert "236,6 tỷ USD" in answer.text
    c = answer.citations[0]
    assert c.doc_id == "002_6ea3e025f96589fc" and f"[{c.n}]" in answer.text
    doc = assistant.index_data().docs[c.doc_id]
    assert doc.text[c.start:c.end] == c.quote


@pytest.mark.parametrize("question,doc_id,needle", [
    ("How much was two-way trade between ASEAN and Japan worth in 2024?", "002_6ea3e025f96589fc", "236,6 tỷ USD"),
    ("Who co-chaired the 16th Mekong-Japan Foreign Ministers' Meeting?", "000_fbd71147380da296", "Iwaya Takeshi"),
    ("Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra ở đâu?", "000_fbd71147380da296", "Kuala Lumpur"),
    ("How many action lines of the ASEAN-Japan vision have been implemented?", "002_6ea3e025f96589fc", "108/130"),
])
def test_questions_in_both_languages_find_the_right_passage(assistant, question, doc_id, needle):
    result = assistant.retrieve(question, k=3)
    assert result.passages[0].doc_id == doc_id
    assert any(needle in p.text for p in result.passages)


def test_off_topic_question_is_refused(assistant):
    answer = assistant.ask("What is the recipe for a chocolate cake?")
    assert answer.refused and answer.citations == ()
    assert answer.text == "I could not find this in the articles."
    vi = assistant.ask("Công thức làm bánh sô-cô-la là gì?")
    assert vi.refused and vi.text == "Tôi không tìm thấy thông tin này trong các bài viết."


def test_cli_reads_questions_from_stdin_and_loads_the_model_once(tmp_path, assistant):
    env = {**os.environ, "RAG_INDEX": str(assistant.settings.index_dir), "RAG_CORPUS": str(SEEDS),
           "RAG_EMBEDDER": "e5-small", "RAG_MODEL_DIR": str(MODEL_DIR)}
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "retrieve", "-", "--k", "2"], cwd=ROOT, env=env,
                          input="AZEC là gì?\nWhat is AJCEP?\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["lang"] for r in rows] == ["vi", "en"]
    assert "AZEC" in rows[0]["passages"][0]["text"] and "AJCEP" in rows[1]["passages"][0]["text"]
    assert "building" not in proc.stderr  # the index built above was reused


def test_one_question_fast_path_matches_the_batch_path(real_embedder):
    questions = ["Kim ngạch thương mại hai chiều năm 2024?", "Who co-chaired the meeting?", "AZEC " * 400]
    batch = real_embedder.embed_queries(questions)
    for q, row in zip(questions, batch):
        single = real_embedder.embed_queries([q])[0]
        assert single.dtype == row.dtype == "float32"
        assert abs(float(single @ single) - 1.0) < 1e-4
        assert float(single @ row) > 0.999
