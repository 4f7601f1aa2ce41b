import json

import pytest

from rag.errors import RagError
from ui.feedback import FeedbackLog, default_feedback_path
from ui.session import AssistantPool, ChatEngine, ChatTurn

from ..fakes import FakeChatModel, echo_first_passage, FakeSpanModel

DATE_Q = "Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra vào ngày nào?"
MEETING_Q = "Các nước ASEAN đề nghị Nhật Bản hỗ trợ gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?"


@pytest.fixture
def pool(settings, fake_embedder):
    pool = AssistantPool(settings, embedder=fake_embedder, span_model=FakeSpanModel(), chat_model=FakeChatModel(reply=echo_first_passage))
    pool.main.build_index()
    return pool


@pytest.fixture
def engine(pool):
    return ChatEngine(pool)


def ask(engine, question, history=(), **kw):
    events = list(engine.ask(question, list(history), **kw))
    return [e.kind for e in events], events[-1].turn, events


def test_pool_makes_one_assistant_per_generator_setting_sharing_the_index(pool):
    assert pool.get() is pool.main and pool.get("extractive", None, "auto") is pool.main
    local = pool.get("local", "0.5b", "en")
    assert local is pool.get("local", "0.5b", "en") and local is not pool.get("local", "0.5b", "vi")
    assert local.settings.generator.model == "0.5b" and local.embedder is pool.main.embedder
    assert local.index_data() is pool.main.index_data()
    assert local.span_model() is pool.main.span_model()  # one reader per server, whatever the tab's settings
    with pytest.raises(RagError, match="unknown backend"):
        pool.get("gpt-9")


def test_an_extractive_answer_is_its_sentences_then_done_with_citations(engine):
    kinds, turn, _ = ask(engine, DATE_Q)
    assert kinds == ["preview", "done"]
    assert turn.answer.citations and "10/7/2025" in turn.answer.text
    assert turn.backend == "extractive" and turn.rewrite_method == "none" and turn.standalone == DATE_Q
    assert turn.index_version.startswith("v-") and turn.best_score > 0.5 and not turn.low_relevance


def test_a_follow_up_is_rewritten_before_retrieval(engine):
    _, first, _ = ask(engine, MEETING_Q)
    kinds, turn, _ = ask(engine, "Còn Nhật Bản cam kết gì?", [first])
    assert kinds == ["rewritten", "preview", "done"]
    assert turn.standalone == "Nhật Bản cam kết gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?"
    assert turn.answer.question == turn.standalone and turn.rewrite_method == "rule"


def test_failed_turns_are_left_out_of_the_history(engine):
    _, first, _ = ask(engine, MEETING_Q)
    failed = ChatTurn("?", error="the question is empty")
    kinds, turn, _ = ask(engine, "Còn Nhật Bản cam kết gì?", [first, failed])
    assert turn.standalone.endswith("lần thứ 28?")


def test_a_model_backend_streams_the_answer(engine, pool):
    kinds, turn, events = ask(engine, DATE_Q, backend="local", model="1.5b", answer_lang="vi", k=3)
    assert kinds[0] == "preview" and kinds[-1] == "done" and kinds.count("text") > 3
    texts = [e.text for e in events if e.kind == "text"]
    assert all(a in b for a, b in zip(texts, texts[1:])) and turn.answer.draft.startswith(texts[-1].strip()[:20])
    assert turn.backend == "local" and turn.model == "1.5b" and turn.k == 3 and turn.answer.citations


def test_a_model_backend_rewrites_follow_ups_with_the_model(settings, fake_embedder):
    def reply(system, user):
        if "Standalone question:" in user:
            return "Nhật Bản cam kết gì tại hội nghị lần thứ 28?"
        return echo_first_passage(system, user)

    pool = AssistantPool(settings, embedder=fake_embedder, span_model=FakeSpanModel(), chat_model=FakeChatModel(reply=reply))
    pool.main.build_index()
    engine = ChatEngine(pool)
    _, first, _ = ask(engine, MEETING_Q, backend="local")
    kinds, turn, _ = ask(engine, "Còn Nhật Bản cam kết gì?", [first], backend="local")
    assert turn.rewrite_method == "model" and turn.standalone == "Nhật Bản cam kết gì tại hội nghị lần thứ 28?"


def test_errors_end_in_a_message_not_a_traceback(engine, pool, monkeypatch):
    kinds, turn, _ = ask(engine, "   ")
    assert kinds == ["error"] and "the question is empty" in turn.error and turn.answer is None

    logged = []
    engine.log_error = logged.append
    monkeypatch.setattr(pool, "get", lambda *a, **k: 1 / 0)
    kinds, turn, _ = ask(engine, DATE_Q)
    assert kinds == ["error"] and turn.error.startswith("unexpected error (ZeroDivisionError")
    assert isinstance(logged[0], ZeroDivisionError)


def test_answers_close_to_the_refusal_line_are_flagged(engine, settings, fake_embedder):
    _, turn, _ = ask(engine, DATE_Q)
    best = turn.best_score
    near = AssistantPool(settings.replace(answer_min_score_vi=best - 0.01), embedder=fake_embedder, span_model=FakeSpanModel())
    _, turn, _ = ask(ChatEngine(near), DATE_Q)
    assert not turn.answer.refused and turn.low_relevance and turn.best_score == pytest.approx(best)
    unsure = FakeSpanModel(margins={"ngày": 1.0})  # under the margin that overrules the floor (floor_margin)
    below = AssistantPool(settings.replace(answer_min_score_vi=best + 0.01), embedder=fake_embedder, span_model=unsure)
    _, turn, _ = ask(ChatEngine(below), DATE_Q)
    assert turn.answer.refused and turn.low_relevance


def test_source_view_highlights_the_cited_passage(engine, pool, settings):
    _, turn, _ = ask(engine, DATE_Q)
    c = turn.answer.citations[0]
    html = engine.source(turn, c.n)
    assert f'<mark class="focus">{c.quote}</mark>' in html and c.title in html
    assert "Click a citation" in engine.source(turn, 99)

    # The article changes and the index is rebuilt: the quote is found where it now is, or a note says so.
    path = next(settings.corpus_dir.glob(f"{c.doc_id}.*"))
    path.write_text("Một đoạn mở đầu mới.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    pool.main.build_index()
    assert f'<mark class="focus">{c.quote}</mark>' in engine.source(turn, c.n)
    path.write_text(path.read_text(encoding="utf-8").replace("10/7/2025", "11/7/2025"), encoding="utf-8")
    pool.main.build_index()
    assert "The article changed since this answer" in engine.source(turn, c.n)
    path.unlink()
    pool.main.build_index()
    assert "no longer in the index" in engine.source(turn, c.n)


def test_feedback_is_appended_as_json_lines(engine, tmp_path, monkeypatch):
    _, turn, _ = ask(engine, DATE_Q)
    log = FeedbackLog(tmp_path / "data" / "feedback.jsonl")
    log.record(turn, "up")
    log.record(ChatTurn("q", error="boom"), "down")
    rows = [json.loads(line) for line in log.path.read_text(encoding="utf-8").splitlines()]
    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["question"] == DATE_Q and rows[0]["citations"][0]["doc_id"] == turn.answer.citations[0].doc_id
    assert rows[0]["backend"] == "extractive" and rows[0]["index_version"] == turn.index_version
    assert rows[1]["answer"] == "boom" and rows[1]["citations"] == []

    monkeypatch.delenv("RAG_FEEDBACK", raising=False)
    assert default_feedback_path(tmp_path / "index") == tmp_path / "index" / "feedback.jsonl"
    monkeypatch.setenv("RAG_FEEDBACK", str(tmp_path / "f.jsonl"))
    assert default_feedback_path(tmp_path / "index") == tmp_path / "f.jsonl"


def test_a_tab_answers_its_waiting_questions_in_order_with_one_worker(engine):
    from ui.session import Conversation

    conv = Conversation()
    conv.add(DATE_Q)
    assert conv.claim() and not conv.claim()  # one worker per tab
    question, epoch = conv.next_question()
    conv.add(MEETING_Q)  # sent while the first is answered: waits
    assert conv.current.question == DATE_Q and conv.waiting == [MEETING_Q]
    turn = list(engine.ask(question, conv.turns))[-1].turn
    assert conv.finish(turn, epoch) == 0
    question, epoch = conv.next_question()  # the same worker takes it
    assert question == MEETING_Q and conv.waiting == []
    conv.clear()  # cleared meanwhile: the answer from before the clear is dropped
    assert conv.finish(list(engine.ask(question, []))[-1].turn, epoch) is None and conv.turns == []
    assert conv.next_question() is None and conv.claim() is False  # nothing waits
    conv.add("AZEC là gì?")
    assert conv.claim()
    from copy import deepcopy
    fresh = deepcopy(conv)  # a new tab's state
    assert fresh.turns == [] and fresh.waiting == [] and fresh.claim() is False


WIND_FARM = """Khánh thành Nhà máy điện gió Hòn Trống

20/03/2025

Ngày 20/3/2025, tại tỉnh Quảng Trị, Nhà máy điện gió Hòn Trống được khánh thành sau 18 tháng xây dựng.
Nhà máy do Công ty Cổ phần Năng lượng Sông Hồng làm chủ đầu tư, với tổng vốn đầu tư 2.150 tỷ đồng.
Nhà máy có 12 tua-bin gió, tổng công suất 48 MW, mỗi năm cung cấp khoảng 150 triệu kWh điện.

Nguồn: bài viết thử nghiệm (test data)
"""


@pytest.mark.integration
def test_a_complete_question_after_another_is_answered_as_asked(tmp_path, corpus_dir):
    """A question that follows another, on the real extractive path with the default embedder (EmbeddingGemma)
    and its tuned floors: the English question names its own subject, so it is not rewritten with the previous
    one and its answer is the investor and the cost."""
    from rag.models.gemma import GemmaEmbedder
    from rag.models.gemma_folder import ensure_gemma_folder
    from rag.settings import ROOT, GeneratorSettings, Settings

    folder = ROOT / "models" / "embeddinggemma"
    ensure_gemma_folder(folder)  # fails with what to run when set-up has not built it
    (corpus_dir / "hon_trong.txt").write_text(WIND_FARM, encoding="utf-8")
    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", embedder="embeddinggemma",
                        model_dir=folder, generator=GeneratorSettings(backend="extractive"))
    pool = AssistantPool(settings, embedder=GemmaEmbedder(folder, threads=2))
    pool.main.build_index()
    engine = ChatEngine(pool)
    _, first, _ = ask(engine, "Nhà máy điện gió Hòn Trống được khánh thành ngày nào?")
    assert "20/3/2025" in first.answer.text
    kinds, turn, _ = ask(engine, "Who invested in the Hon Trong wind farm and how much did it cost?", [first])
    assert kinds == ["preview", "done"] and turn.rewrite_method == "none"
    assert turn.standalone == "Who invested in the Hon Trong wind farm and how much did it cost?"
    assert not turn.answer.refused
    # The reader answers one of the two parts by its span; the cited sentence holds both, not the date asked before.
    quote = turn.answer.citations[0].quote
    assert "Công ty Cổ phần Năng lượng Sông Hồng làm chủ đầu tư" in quote and "2.150 tỷ đồng" in quote
    assert "2.150 tỷ đồng" in turn.answer.text and turn.answer.citations[0].doc_id == "hon_trong"


def test_which_questions_are_expected_to_need_the_model(settings, fake_embedder):
    from ui.session import needs_model

    pool = AssistantPool(settings.replace(generator=settings.generator.replace(mode="reader")), embedder=fake_embedder,
                         span_model=FakeSpanModel())
    assert not needs_model(pool.get("extractive"), "Who co-chaired the meeting?")
    reader = pool.get("local")
    assert not needs_model(reader, DATE_Q) and needs_model(reader, "Who co-chaired the meeting?")
    assert needs_model(pool.get("local", None, "en"), DATE_Q)
    generate = AssistantPool(settings, embedder=fake_embedder, span_model=FakeSpanModel()).get("local")  # the fixture's generate mode
    assert needs_model(generate, DATE_Q)


def test_a_question_past_the_models_line_is_told_to_try_again(settings, fake_embedder):
    import threading

    from rag.settings import ServerSettings

    started, release = threading.Event(), threading.Event()

    def slow(system, user):
        started.set()
        release.wait(10)
        return echo_first_passage(system, user)

    one_at_once = settings.replace(server=ServerSettings(max_waiting=0), generator=settings.generator.replace(parallel=1))
    pool = AssistantPool(one_at_once, embedder=fake_embedder, chat_model=FakeChatModel(reply=slow),
                         span_model=FakeSpanModel())
    pool.main.build_index()
    engine = ChatEngine(pool)
    first = []
    t = threading.Thread(target=lambda: first.append(ask(engine, DATE_Q, backend="local")))
    t.start()
    assert started.wait(10)
    kinds, turn, _ = ask(engine, MEETING_Q, backend="local")  # the model is busy and no one may wait
    assert kinds[-1] == "error" and turn.error == ("the server is busy: the model has 1 question before yours (at "
                                                   "most 0 may wait); try again in a minute")
    kinds, turn, _ = ask(engine, DATE_Q)  # an answer without the model does not wait for it
    assert kinds == ["preview", "done"] and "10/7/2025" in turn.answer.text
    release.set()
    t.join(10)
    assert first[0][0][-1] == "done"


def test_the_reader_never_waits_behind_the_model(settings, fake_embedder):
    """While the model writes one English answer, a Vietnamese question is read by the trained reader and answered:
    the reader runs in the answer's own thread, only the model's calls wait in its line."""
    import threading

    started, release = threading.Event(), threading.Event()

    def slow(system, user):
        started.set()
        release.wait(10)
        return "the 16th meeting"

    reader = FakeSpanModel()
    pool = AssistantPool(settings.replace(generator=settings.generator.replace(mode="reader")), embedder=fake_embedder,
                         chat_model=FakeChatModel(reply=slow), span_model=reader)
    pool.main.build_index()
    engine = ChatEngine(pool)
    english = []
    question = "What did Phó Thủ tướng Bùi Thanh Sơn propose for Mekong - Nhật Bản?"  # a Vietnamese span: glossed
    t = threading.Thread(target=lambda: english.append(ask(engine, question, backend="local")))
    t.start()
    try:
        assert started.wait(10)  # the English answer is in the model
        kinds, turn, _ = ask(engine, DATE_Q, backend="local")
        assert kinds[-1] == "done" and "10/7/2025" in turn.answer.text and not english
        assert [q for q, _ in reader.calls][-1] == DATE_Q
    finally:
        release.set()
        t.join(10)
    assert english[0][0][-1] == "done"


def test_a_pdf_answer_names_its_file_and_page_on_the_card_and_in_the_source_view(pool, engine, settings):
    from rag.indexing.store import IndexStore
    from rag.ingest.library import Library
    from ui import render

    from ..ingest import documents as D

    library = Library(settings.corpus_dir, IndexStore(settings.index_dir), 5_000_000)
    library.add("le-hoi-sen.pdf", D.article_pdf(two_pages=True))
    pool.main.build_index()
    _, turn, _ = ask(engine, D.TICKETS_Q)
    cited = turn.answer.citations[0]
    assert (cited.doc_id, cited.page) == ("le-hoi-sen", 2) and "30.000 đồng" in cited.quote
    assert "12/06/2025 · le-hoi-sen · p. 2</div>" in render.cards_html(turn.answer, 0)
    assert "le-hoi-sen · p. 2</div>" in engine.source(turn, cited.n)
    library.delete("le-hoi-sen")
    pool.main.build_index()
    _, turn, _ = ask(engine, D.TICKETS_Q)
    assert all(c.doc_id != "le-hoi-sen" for c in turn.answer.citations)
