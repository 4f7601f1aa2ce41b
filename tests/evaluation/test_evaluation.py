import dataclasses
import json
from pathlib import Path

import pytest

from rag.evaluation.metrics import (answer_correct, citation_supports, compare, in_language, score_question, summarize,
                                    token_f1)
from rag.evaluation.schema import QASetError, QuestionResult, load_qa
from rag.text import normalize

DOC = "Năm 2024, kim ngạch thương mại hai chiều đạt 236,6 tỷ USD. Tổng vốn đầu tư đạt 17,5 tỷ USD."
DOCS = {"d1": DOC, "d2": "Một bài khác về thể thao."}
ROW = {"id": "q1", "question": "Kim ngạch?", "lang": "vi", "answers": ["236,6 tỷ USD", "236.6 billion USD"],
       "answerable": True, "gold_doc_ids": ["d1"], "gold_passages": ["kim ngạch thương mại hai chiều đạt 236,6 tỷ USD"]}
UNANSWERABLE = {"id": "q2", "question": "ODA?", "lang": "en", "answers": [], "answerable": False,
                "gold_doc_ids": [], "gold_passages": []}


def cite(doc_id, start, end, n=1):
    return {"n": n, "doc_id": doc_id, "chunk_id": "c", "title": "t", "date": None,
            "quote": DOCS[doc_id][start:end], "start": start, "end": end}


def result(row, answer, refused=False, citations=(), passages=(), lang=None):
    r = QuestionResult(row, lang or row["lang"], list(passages), answer, refused, list(citations),
                       {"retrieve_ms": 5.0, "first_token_ms": 6.0, "total_ms": 7.0})
    r.scores = score_question(r, DOCS)
    return r


def test_normalise_numbers_diacritics_case_and_spacing():
    assert normalize("236,6 tỷ USD") == normalize("236.6  TỶ usd") == "236.6 ty usd"
    assert normalize("300.000 tỷ đồng") == normalize("300,000 ty dong") == "300000 ty dong"
    assert normalize("Đà Nẵng") == "da nang"


def test_answer_correct_with_a_vietnamese_number_format():
    assert answer_correct("Kim ngạch đạt 236,6 tỷ USD. [1]", ["236.6 billion USD", "236,6 tỷ USD"])
    assert answer_correct("It reached 236.6 billion USD [1]", ["236,6 tỷ USD", "236.6 billion USD"])
    assert not answer_correct("Kim ngạch đạt 2366 tỷ USD", ["236,6 tỷ USD"])
    assert not answer_correct("tổng 17,5 tỷ", ["7,5 tỷ"])  # whole tokens only


def test_token_f1():
    assert token_f1("Takaichi Sanae", ["Takaichi Sanae"]) == 1.0
    assert token_f1("Thủ tướng Takaichi Sanae", ["Takaichi Sanae"]) == pytest.approx(2 / 3)
    assert token_f1("", ["x"]) == 0.0


def test_a_right_and_a_wrong_citation():
    right = cite("d1", 0, 58)
    wrong_doc = cite("d2", 0, 10, n=2)
    wrong_span = cite("d1", 59, 90, n=3)  # the same document, but the sentence about investment
    assert citation_supports(right, ROW, DOCS)
    assert not citation_supports(wrong_doc, ROW, DOCS)
    assert not citation_supports(wrong_span, ROW, DOCS)
    r = result(ROW, "đạt 236,6 tỷ USD [1] [2] [3]", citations=[right, wrong_doc, wrong_span])
    s = summarize([r])["all"]
    assert s["citation_precision"] == pytest.approx(1 / 3)
    assert s["citation_recall"] == 1.0
    assert s["correct"] == 1.0


def test_right_needs_the_question_language_and_only_gold_documents_cited():
    en_row = dict(ROW, lang="en")
    good = cite("d1", 0, 58)
    assert result(ROW, "Kim ngạch đạt 236,6 tỷ USD [1]", citations=[good]).scores["right"] == 1.0
    assert result(en_row, "Two-way trade reached 236.6 billion USD [1]", citations=[good]).scores["right"] == 1.0
    # A Vietnamese quote answers an English question correctly, but not in its language.
    quoted = result(en_row, "Kim ngạch đạt 236,6 tỷ USD [1]", citations=[good]).scores
    assert (quoted["correct"], quoted["right"]) == (1.0, 0.0)
    assert result(en_row, "236.6 billion USD [1]", citations=[good]).scores["right"] == 1.0
    # Names and numbers alone are in either language; "tỷ" is a Vietnamese word.
    assert in_language("Phạm Minh Chính [1]", "en") and in_language("Phạm Minh Chính [1]", "vi")
    assert not in_language("236,6 tỷ USD [1]", "en")
    # The article's words in quotes are not the reply's own: a rendered number beside its quote answers in English,
    # a labelled quote does not; a Vietnamese quote still answers a Vietnamese question.
    assert result(en_row, "236.6 billion USD (“236,6 tỷ USD”) [1]", citations=[good]).scores["right"] == 1.0
    labelled = result(en_row, "From the article (in Vietnamese): “Kim ngạch đạt 236,6 tỷ USD” [1]", citations=[good])
    assert (labelled.scores["correct"], labelled.scores["right"]) == (1.0, 0.0)
    two = dict(en_row, answers=["hai", "two"])
    assert result(two, "From the article (in Vietnamese): “hai” [1]", citations=[good]).scores["right"] == 0.0
    assert result(two, "two (“hai”) [1]", citations=[good]).scores["right"] == 1.0
    assert result(ROW, "hai bên — “Kim ngạch thương mại hai chiều đạt 236,6 tỷ USD.” [1]",
                  citations=[good]).scores["right"] == 1.0
    # Words that show neither language count as either; small accented words are not names.
    assert in_language("hai — “Ứng viên trải qua hai vòng thi.” [1]", "vi") and in_language("maximum [1]", "vi")
    assert not in_language("đương đầu [1]", "en")
    # Uncited, or one citation outside the gold documents.
    assert result(ROW, "Kim ngạch đạt 236,6 tỷ USD", citations=[]).scores["right"] == 0.0
    assert result(ROW, "Kim ngạch đạt 236,6 tỷ USD [1] [2]",
                  citations=[good, cite("d2", 0, 10, n=2)]).scores["right"] == 0.0
    assert summarize([result(ROW, "Kim ngạch đạt 236,6 tỷ USD [1]", citations=[good]),
                      result(ROW, "không rõ", citations=[good])])["all"]["right"] == 0.5


def test_refusals_and_false_answers():
    results = [
        result(ROW, "Tôi không tìm thấy thông tin này trong các bài viết.", refused=True),  # false refusal
        result(UNANSWERABLE, "I could not find this in the articles.", refused=True),  # right refusal
        result(dict(UNANSWERABLE, id="q3"), "Japan gave 5 billion [1]", citations=[cite("d2", 0, 10)]),  # false answer
    ]
    s = summarize(results)["all"]
    assert s["refusal_precision"] == 0.5
    assert s["refusal_recall"] == 0.5
    assert s["false_refusals"] == 1.0
    assert s["false_answers"] == 0.5
    assert s["correct"] == 0.0  # a refused answerable question is not correct
    assert s["citation_precision"] is None  # no citation on an answerable question


def test_the_refusal_curve_ranks_by_the_decisions_probability_and_marks_the_run(tmp_path):
    from rag.evaluation.report import refusal_curve, write_refusal_curve

    floor = result(dict(UNANSWERABLE, id="u1"), "x", refused=True)  # refused before the decision: first
    decided = result(dict(UNANSWERABLE, id="u2"), "x", refused=True)
    missed = result(dict(UNANSWERABLE, id="u3"), "Japan [1]")
    kept = result(ROW, "236,6 tỷ USD [1]")
    decided.refusal_probability, missed.refusal_probability, kept.refusal_probability = 0.9, 0.2, 0.4
    recall, precision, point = refusal_curve([kept, missed, decided, floor])
    # ranked: floor, decided (0.9), kept (0.4), missed (0.2)
    assert recall == [1 / 3, 2 / 3, 2 / 3, 1.0] and precision == [1.0, 1.0, 2 / 3, 0.75]
    assert point == (2 / 3, 1.0)
    assert write_refusal_curve(tmp_path / "r.png", [kept, missed, decided, floor]).stat().st_size > 1000
    assert refusal_curve([kept]) is None  # no unanswerable question: no curve


def test_retrieval_metrics_and_languages():
    passages = [{"doc_id": "d2", "text": "Một bài khác"}, {"doc_id": "d1", "text": DOC}]
    r = result(ROW, "236,6 tỷ USD [1]", passages=passages, lang="en")
    s = summarize([r])
    assert s["all"]["hit@1"] == 0.0 and s["all"]["hit@5"] == 1.0 and s["all"]["mrr@10"] == 0.5
    assert s["all"]["passage_hit@1"] == 0.0 and s["all"]["passage_hit@5"] == 1.0
    assert s["all"]["language_detection"] == 0.0
    assert set(s) == {"all", "vi"}
    assert s["all"]["total_ms_p50"] == 7.0


def test_comparison_says_better_or_worse_per_metric():
    before = {"all": {"hit@1": 0.80, "false_refusals": 0.10, "total_ms_p50": 100.0, "questions": 10}}
    now = {"all": {"hit@1": 0.90, "false_refusals": 0.20, "total_ms_p50": 102.0, "questions": 12}}
    c = compare(now, before)["all"]
    assert c["hit@1"]["verdict"] == "better"
    assert c["false_refusals"]["verdict"] == "worse"
    assert c["total_ms_p50"]["verdict"] == "same"  # within 5%: noise
    assert "questions" not in c


def test_schema_check_names_the_line(tmp_path):
    good = dict(ROW)
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(UNANSWERABLE) + "\n")
    assert [r["id"] for r in load_qa(path)] == ["q1", "q2"]
    for bad, message in [
        ({**good, "lang": "fr"}, "'lang'"),
        ({k: v for k, v in good.items() if k != "answers"}, "missing key 'answers'"),
        ({**good, "answers": "236,6"}, "'answers' must be list"),
        ({**good, "extra": 1}, "unknown key"),
        ({**UNANSWERABLE, "answers": ["x"]}, "unanswerable"),
    ]:
        path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n")
        with pytest.raises(QASetError, match=f":2: .*{message}"):
            load_qa(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(QASetError, match="duplicate id"):
        load_qa(path)
    with pytest.raises(QASetError, match="does not exist"):
        load_qa(tmp_path / "nope.jsonl")


def test_a_run_writes_its_reports_and_compares_with_the_last_run_of_the_same_set(tmp_path, settings):
    from rag.assistant import Assistant
    from rag.evaluation.runner import evaluate

    from ..fakes import FakeEmbedder, FakeSpanModel

    qa = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a", "question": "Kim ngạch thương mại hai chiều năm 2024 đạt bao nhiêu?", "lang": "vi",
         "answers": ["236,6 tỷ USD"], "answerable": True, "gold_doc_ids": ["002_6ea3e025f96589fc"],
         "gold_passages": ["kim ngạch thương mại hai chiều năm 2024 đạt 236,6 tỷ USD"]},
        {"id": "b", "question": "What is the recipe for chocolate cake?", "lang": "en", "answers": [],
         "answerable": False, "gold_doc_ids": [], "gold_passages": []},
    ]
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    # the reader answers the cake question wrongly: the stricter run below refuses it
    assistant = Assistant(settings, embedder=FakeEmbedder(), span_model=FakeSpanModel({"chocolate": 5.0}))
    first = evaluate(assistant, qa, out)
    assert first["comparison"] == {} and first["metrics"]["all"]["questions"] == 2
    for name in ("report.json", "results.jsonl", "report.md", "chart.png"):
        assert (out / name).stat().st_size > 0
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert {"passages", "answer", "citations", "scores"} <= set(lines[0])
    assert lines[0]["passages"][0]["doc_id"] and lines[0]["passages"][0]["chunk_id"]

    floors_alone = dataclasses.replace(settings.reader, floor_margin=None)  # the reader cannot overrule them
    stricter = Assistant(settings.replace(answer_min_score_vi=0.99, answer_min_score_en=0.99, reader=floors_alone),
                         embedder=FakeEmbedder(), span_model=FakeSpanModel())  # refuses everything
    second = evaluate(stricter, qa, out)
    assert second["comparison"]["all"]["refusal_recall"]["verdict"] == "better"
    assert second["comparison"]["all"]["false_refusals"]["verdict"] == "worse"
    assert (out / "report.prev.json").is_file()
    assert "▼" in (out / "report.md").read_text() and "Against the previous run" in (out / "report.md").read_text()
    third = evaluate(stricter, qa, out, limit=1)  # another set of questions
    assert third["comparison"] == {}


def test_an_eval_replaces_its_own_index_only_when_allowed(tmp_path, settings):
    from rag.assistant import Assistant
    from rag.errors import IndexMismatchError
    from rag.evaluation.runner import evaluate

    from ..fakes import FakeEmbedder, FakeSpanModel

    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps(UNANSWERABLE) + "\n", encoding="utf-8")
    Assistant(settings, embedder=FakeEmbedder(checksum="old-model"), span_model=FakeSpanModel()).build_index()
    with pytest.raises(IndexMismatchError, match="rebuild"):
        evaluate(Assistant(settings, embedder=FakeEmbedder(), span_model=FakeSpanModel()), qa, tmp_path / "r")
    report = evaluate(Assistant(settings, embedder=FakeEmbedder(), span_model=FakeSpanModel()), qa, tmp_path / "r",
                      rebuild_on_mismatch=True)
    assert report["metrics"]["all"]["questions"] == 1


def test_each_question_is_retrieved_once_and_the_answer_reads_its_first_k(tmp_path, settings):
    from rag.assistant import Assistant
    from rag.evaluation.runner import evaluate

    from ..fakes import FakeEmbedder, FakeSpanModel

    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps(UNANSWERABLE) + "\n", encoding="utf-8")
    assistant = Assistant(settings, embedder=FakeEmbedder(), span_model=FakeSpanModel())
    calls = []
    retrieve = assistant.retrieve
    assistant.retrieve = lambda q, k=None: calls.append(k) or retrieve(q, k=k)
    report = evaluate(assistant, qa, tmp_path / "r")
    assert calls == [10]
    (line,) = (tmp_path / "r" / "results.jsonl").read_text().splitlines()
    assert len(json.loads(line)["passages"]) == min(10, assistant.index_data().manifest["counts"]["chunks"])
    # Every setting is in the report, the tuned numbers too.
    s = report["meta"]["settings"]
    assert s["citations"]["min_similarity"] == settings.citations.min_similarity
    assert s["reader"]["sentences"] == settings.reader.sentences
    assert s["lexical"] == {"k1": 1.2, "b": 0.75} and "openai_api_key" not in s["generator"]


def test_the_run_plan_names_the_report_and_keeps_the_default_index_out_of_it(tmp_path):
    from rag.evaluation.runner import plan_run
    from rag.settings import ROOT, Settings

    default = Settings()
    g = default.generator.replace(backend="local", model="0.5b", mode="reader")
    plan = plan_run(default.replace(generator=g), Path("eval/qa.jsonl"))
    assert plan.out == ROOT / "eval" / "runs" / "seeds-qa-local-0.5b" and not plan.private_index
    generating = plan_run(default.replace(generator=g.replace(mode="generate")), Path("eval/qa.jsonl"))
    assert generating.out.name == "seeds-qa-local-0.5b-generate"
    assert plan.settings.index_dir == default.index_dir
    other = default.replace(corpus_dir=tmp_path / "xquad", generator=default.generator.replace(backend="extractive"))
    plan = plan_run(other, Path("dev/qa.jsonl"), sample=100)
    assert plan.out.name == "xquad-qa-sample100-extractive" and plan.private_index
    assert plan.settings.index_dir == plan.out / "index"
    assert plan.settings.pg_store == "default-eval-xquad-qa-sample100-extractive"  # never the user's index
    assert plan_run(default, Path("eval/qa.jsonl")).settings.pg_store == default.pg_store
    assert not plan_run(other, Path("qa.jsonl"), index_given=True).private_index


def test_an_eval_stops_with_one_line_when_another_process_runs_the_model(tmp_path, settings):
    """Every answer that needs the model would fail alike: the run stops at the first, with the slot's message,
    instead of recording the same error for each question (a failure of one answer is recorded and the run goes on)."""
    from rag.assistant import Assistant
    from rag.errors import GeneratorError, ModelBusyError
    from rag.evaluation.runner import run_questions

    from ..fakes import FakeEmbedder, FakeSpanModel

    assistant = Assistant(settings, embedder=FakeEmbedder(), span_model=FakeSpanModel())
    rows = [dict(UNANSWERABLE, id=f"q{i}") for i in range(3)]
    failures = iter([GeneratorError("the model failed once")])
    asked = []

    def answer_stream(result, timings=None, started=None):
        asked.append(result.question)
        raise next(failures, ModelBusyError("the local model already runs on this machine (pid 1: rag serve)"))

    assistant.answer_stream = answer_stream
    with pytest.raises(ModelBusyError, match="already runs on this machine"):
        run_questions(assistant, rows)
    assert len(asked) == 2
