"""The UI in a real browser: questions in both languages, citation cards and the source view, a follow-up,
planted markup shown as text, upload / rebuild / delete, a refused upload, feedback, two tabs at once."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from .conftest import PLANTED_NAME, shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

VI_Q = "Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra vào ngày nào?"
EN_Q = "Who co-chaired the 16th Mekong-Japan Foreign Ministers' Meeting?"
MEETING_Q = "Các nước ASEAN đề nghị Nhật Bản hỗ trợ gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?"
GLOSS_Q = "AZEC là gì?"  # its answer's words are no date, amount or name: the model renders them in English
MEKONG_TITLE = "Các nước Mekong - Nhật Bản thúc đẩy hợp tác kinh tế số, hạ tầng và phát triển bền vững"
SUMMIT_TITLE = "Thủ tướng Phạm Minh Chính dự Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28"

NEW_ARTICLE = """Cảng Lạch Huyện đón tàu container 24.000 TEU

15/11/2025

Ngày 15/11/2025, cảng Lạch Huyện ở Hải Phòng lần đầu đón tàu container sức chở 24.000 TEU, loại tàu lớn nhất \
từng cập cảng miền Bắc. Con tàu dài 400 mét, chở hàng từ châu Âu về Việt Nam.
Ban quản lý cảng cho biết bến số 3 và số 4 đã được nạo vét đến độ sâu 16 mét để đón loại tàu này.

Nguồn: Báo Hải Phòng
"""
NEW_Q = "Cảng Lạch Huyện lần đầu đón tàu container sức chở bao nhiêu TEU?"

BOT = '#chat [data-testid="bot"]'


def ask(page, question: str, nth: int):
    """Type `question`, send it, and wait for the `nth` answer (1-based) to finish (its timing line)."""
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    return wait_answer(page, nth)


def wait_answer(page, nth: int):
    page.wait_for_function(
        """([sel, n]) => { const b = document.querySelectorAll(sel);
                           return b.length >= n && /total \\d/.test(b[n - 1].innerText); }""",
        arg=[BOT, nth])
    return page.locator(BOT).nth(nth - 1)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_vietnamese_and_english_questions_get_answers_with_citation_cards(page):
    page.locator("#examples").get_by_text(VI_Q[:40]).click()  # an example asks at once (its label is cut short)
    answer = wait_answer(page, 1)
    expect(answer).to_contain_text("10/7/2025")
    expect(answer).to_contain_text("extractive · retrieval")
    cards = page.locator("#cards .cite-card")
    expect(cards.first).to_contain_text(MEKONG_TITLE)
    expect(cards.first.locator(".cite-meta")).to_contain_text("26/07/2025 · Vụ Chính sách Thương mại Đa biên")
    assert cards.count() == answer.locator('a[href*="#cite-"]').count() >= 1
    assert cards.first.locator("mark").inner_text().split()[:4] == ["Ngày", "10/7/2025,", "tại", "Kuala"]
    shot(page, "chat-vietnamese")

    answer = ask(page, EN_Q, 2)
    expect(answer).to_contain_text("Mekong")
    expect(page.locator("#cards .cite-card").first).to_contain_text(MEKONG_TITLE)
    expect(page.locator(BOT)).to_have_count(2)
    shot(page, "chat-english")


def test_a_marker_or_a_card_opens_the_article_with_the_passage_highlighted(page):
    ask(page, VI_Q, 1)
    cards = page.locator("#cards .cite-card")
    expect(cards).to_have_count(1)  # the reader's answer cites the sentence its span is in
    quotes = [cards.first.locator("mark").inner_text()]

    page.locator(BOT).first.locator('a[href="#cite-0-1"]').click()
    expect(page.locator("#source .source-title")).to_have_text(MEKONG_TITLE)
    expect(page.locator("#source mark.focus")).to_have_text(quotes[0])
    assert "#cite" not in page.url  # the marker opened the source, it did not navigate
    expect(page.locator("#source .source-text")).to_contain_text("Hội nghị cũng thống nhất sẽ nối lại")  # whole article

    page.locator("#source .source-title").click()  # away from the card, then the card itself opens it again
    cards.first.click()
    expect(page.locator("#source mark.focus")).to_have_text(quotes[0])
    shot(page, "source-view")


def test_a_follow_up_is_rewritten_and_the_rewrite_shown(page):
    ask(page, MEETING_Q, 1)
    answer = ask(page, "Còn Nhật Bản cam kết gì?", 2)
    expect(answer).to_contain_text("Standalone question: Nhật Bản cam kết gì tại Hội nghị Cấp cao ASEAN - "
                                   "Nhật Bản lần thứ 28?")
    expect(page.locator("#cards .cite-card").first).to_contain_text(SUMMIT_TITLE)
    shot(page, "follow-up")


def test_planted_markup_renders_as_text(page):
    answer = ask(page, "Lễ hội kẹo dẻo Hải Phòng có bao nhiêu gian hàng?", 1)
    expect(answer).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    card = page.locator("#cards .cite-card").first
    expect(card).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    card.click()
    expect(page.locator("#source .source-title")).to_have_text("<script>window.__pwned = 1</script> Lễ hội kẹo dẻo "
                                                               "Hải Phòng")
    expect(page.locator("#source .source-text")).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    shot(page, "planted-markup-chat")
    open_tab(page, "Tài liệu · Corpus")
    expect(page.locator("#docs")).to_contain_text("<script>window.__pwned = 1</script> Lễ hội kẹo dẻo Hải Phòng")
    shot(page, "planted-markup-corpus")
    assert page.locator("#chat script, #cards script, #source script, #docs script").count() == 0
    assert page.locator("#chat .message img, #cards img, #source img, #docs img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_upload_rebuild_answer_from_the_new_article_then_delete_it(page, live, tmp_path):
    article = tmp_path / "Cảng Lạch Huyện.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    open_tab(page, "Tài liệu · Corpus")
    expect(page.locator("#index-status")).to_contain_text("up to date")
    page.set_input_files("#upload input[type=file]", str(article))
    expect(page.locator("#upload-result")).to_contain_text("✓ Cảng Lạch Huyện.txt: đã thêm · added as "
                                                           "Cảng_Lạch_Huyện.txt")
    expect(page.locator("#docs")).to_contain_text("mới · new (rebuild to index)")
    expect(page.locator("#index-status")).to_contain_text("1 change(s) not indexed yet")

    page.click("#rebuild")
    expect(page.locator("#build-result")).to_contain_text("1 added", timeout=120_000)
    expect(page.locator("#index-status")).to_contain_text("4 documents")
    expect(page.locator("#index-status")).to_contain_text("up to date")
    shot(page, "corpus-after-upload-and-rebuild")

    open_tab(page, "Hỏi đáp · Chat")
    answer = ask(page, NEW_Q, 1)  # the running app answers from the new index, no restart
    expect(answer).to_contain_text("24.000 TEU")
    expect(page.locator("#cards .cite-card").first).to_contain_text("Cảng Lạch Huyện đón tàu container 24.000 TEU")
    expect(page.locator("#cards .cite-card").first.locator(".cite-meta")).to_contain_text("Báo Hải Phòng")
    shot(page, "answer-from-uploaded-article")

    open_tab(page, "Tài liệu · Corpus")
    page.locator("#delete-choice input").fill("Cảng Lạch Huyện")
    page.get_by_role("option", name="Cảng Lạch Huyện đón tàu container 24.000 TEU (Cảng_Lạch_Huyện.txt)").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    expect(page.locator("#delete-result")).to_contain_text("✓ Cảng_Lạch_Huyện.txt deleted")
    assert not (live.settings.corpus_dir / "Cảng_Lạch_Huyện.txt").exists()
    page.click("#rebuild")
    expect(page.locator("#build-result")).to_contain_text("1 removed", timeout=120_000)
    expect(page.locator("#index-status")).to_contain_text("3 documents")


@pytest.mark.parametrize("name, kind", [("Lễ hội sen.pdf", "pdf"), ("Lễ hội sen.docx", "docx")])
def test_a_pdf_or_word_article_answers_cited_to_its_file_and_page(page, live, tmp_path, name, kind):
    from tests.ingest.documents import TICKETS_Q, TITLE, article_pdf, docx

    article = tmp_path / name
    article.write_bytes(article_pdf(two_pages=True) if kind == "pdf" else docx())
    stored = name.replace(" ", "_")
    open_tab(page, "Tài liệu · Corpus")
    page.set_input_files("#upload input[type=file]", str(article))
    expect(page.locator("#upload-result")).to_contain_text(f"✓ {name}: đã thêm · added as {stored}")
    page.click("#rebuild")
    expect(page.locator("#build-result")).to_contain_text("1 added", timeout=120_000)

    open_tab(page, "Hỏi đáp · Chat")
    answer = ask(page, TICKETS_Q, 1)
    expect(answer).to_contain_text("30.000 đồng")
    card = page.locator("#cards .cite-card").first
    expect(card).to_contain_text(TITLE)
    meta = card.locator(".cite-meta")
    if kind == "pdf":
        expect(meta).to_contain_text("p. 2")  # the tickets paragraph is on the PDF's second page
    else:
        expect(meta).not_to_contain_text("p. ")
    shot(page, f"answer-from-uploaded-{kind}")

    open_tab(page, "Tài liệu · Corpus")
    page.locator("#delete-choice input").fill("Đồng Tháp")
    page.get_by_role("option", name=f"{TITLE} ({stored})").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    expect(page.locator("#delete-result")).to_contain_text(f"✓ {stored} deleted")
    page.click("#rebuild")
    expect(page.locator("#build-result")).to_contain_text("1 removed", timeout=120_000)
    expect(page.locator("#index-status")).to_contain_text("3 documents")


def test_bad_uploads_show_their_errors_and_change_nothing(page, live):
    before = sorted(p.name for p in live.settings.corpus_dir.iterdir())
    seed = (live.settings.corpus_dir / "000_fbd71147380da296.txt").read_bytes()
    open_tab(page, "Tài liệu · Corpus")
    page.set_input_files("#upload input[type=file]", [
        {"name": "bad.txt", "mimeType": "text/plain", "buffer": b"\x00\x01\x02\x03" * 64},
        {"name": "copy-of-a-seed.txt", "mimeType": "text/plain", "buffer": seed},
        {"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 x"},
        {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ" * 64}])
    result = page.locator("#upload-result")
    expect(result).to_contain_text("✗ bad.txt was not added: it looks binary (NUL bytes); save it as UTF-8 text")
    expect(result).to_contain_text("✗ copy-of-a-seed.txt was not added: the same article is already in the corpus "
                                   "as 000_fbd71147380da296.txt")
    expect(result).to_contain_text("✗ report.pdf was not added: it is a damaged or incomplete PDF")
    # The page itself refuses a type the box does not take (the server says why too: test_server_access.py).
    expect(page.get_by_text("Invalid file type: tool.exe. Only .txt, .md, .html, .pdf, .docx allowed.")).to_be_visible()
    expect(page.locator("#index-status")).to_contain_text("up to date")
    shot(page, "bad-upload")
    assert sorted(p.name for p in live.settings.corpus_dir.iterdir()) == before
    assert PLANTED_NAME in before


def test_thumbs_are_saved_and_clear_empties_the_chat(page, live):
    before = live.feedback.read_text(encoding="utf-8").splitlines() if live.feedback.exists() else []
    ask(page, VI_Q, 1)
    page.locator('#chat button[aria-label="Like"]').last.click()
    expect(page.get_by_text("Đã lưu phản hồi · Feedback saved")).to_be_visible()
    deadline = time.time() + 10
    while time.time() < deadline and len(live.feedback.read_text(encoding="utf-8").splitlines()) == len(before):
        time.sleep(0.1)
    row = json.loads(live.feedback.read_text(encoding="utf-8").splitlines()[-1])
    assert (row["rating"], row["question"], row["backend"]) == ("up", VI_Q, "extractive")
    assert row["citations"] and row["timings"]["total_ms"] > 0

    page.click("#clear")
    expect(page.locator(BOT)).to_have_count(0)
    expect(page.locator("#cards .cite-card")).to_have_count(0)


def choose(page, dropdown: str, option: str) -> None:
    page.click(f"{dropdown} input")
    page.get_by_role("option", name=option, exact=True).click()


def test_a_model_backend_streams_its_answer_in_the_chosen_language(page, live):
    page.click("#settings")  # open the settings
    choose(page, "#backend", "local")
    page.locator("#answer-lang").get_by_text("English").click()
    page.fill("#question textarea", GLOSS_Q)
    page.press("#question textarea", "Enter")
    page.wait_for_function("sel => { const b = document.querySelectorAll(sel); "
                           "return b.length && b[b.length - 1].innerText.includes('▌'); }", arg=BOT)
    shot(page, "model-answer-streaming")
    answer = wait_answer(page, 1)
    expect(answer).to_contain_text("local 1.5b · retrieval")
    expect(answer).not_to_contain_text("▌")
    # The reader's span, in Vietnamese words, is rendered in English by the model.
    assert live.chat.prompts[-1][1].rstrip().endswith("The answer in English:")
    shot(page, "model-answer-done")


def test_two_tabs_ask_at_the_same_time(browser, live):
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        p = context.new_page()
        p.set_default_timeout(60_000)
        p.goto(live.url)
        p.wait_for_selector("#question textarea")
        pages.append(p)
    for p, q in zip(pages, (VI_Q, EN_Q)):
        p.fill("#question textarea", q)
    for p in pages:
        p.press("#question textarea", "Enter")
    for p, text in zip(pages, ("10/7/2025", "Mekong")):
        expect(wait_answer(p, 1)).to_contain_text(text)
        expect(p.locator("#cards .cite-card").first).to_contain_text(MEKONG_TITLE)
    for p in pages:
        p.context.close()


USER = '#chat [data-testid="user"]'


def test_questions_sent_while_an_answer_is_written_wait_and_are_answered_in_turn(page):
    page.click("#settings")
    choose(page, "#backend", "local")  # the slow fake model writes English answers, a word every 0.1 s
    page.locator("#answer-lang").get_by_text("English").click()
    page.fill("#question textarea", GLOSS_Q)
    page.press("#question textarea", "Enter")
    page.wait_for_function("sel => { const b = document.querySelectorAll(sel); "
                           "return b.length && b[b.length - 1].innerText.includes('▌'); }", arg=BOT)
    page.fill("#question textarea", EN_Q)
    page.click("#send")  # by the button, mid-answer
    expect(page.locator(BOT).nth(1)).to_contain_text("waiting")
    page.fill("#question textarea", MEETING_Q)
    page.press("#question textarea", "Enter")  # and by Enter
    expect(page.locator(BOT).nth(2)).to_contain_text("waiting")
    expect(page.locator("#question textarea")).to_have_value("")
    assert "▌" in page.locator(BOT).nth(0).inner_text()  # both were sent before the first answer ended
    shot(page, "questions-waiting")
    first, second, third = wait_answer(page, 1), wait_answer(page, 2), wait_answer(page, 3)
    assert page.locator(USER).all_inner_texts() == [GLOSS_Q, EN_Q, MEETING_Q]
    expect(first).to_contain_text("local 1.5b · retrieval")
    expect(second).to_contain_text("local 1.5b · retrieval")
    expect(third).to_contain_text("local 1.5b · retrieval")
    expect(page.locator(BOT)).to_have_count(3)
    expect(page.locator("#chat")).not_to_contain_text("waiting")


def test_the_upload_box_filters_by_type_and_a_file_over_the_limit_clears_the_last_result(page, live, tmp_path):
    open_tab(page, "Tài liệu · Corpus")
    accept = page.locator("#upload input[type=file]").get_attribute("accept")
    assert {t.strip() for t in accept.split(",")} >= {".txt", ".md", ".html", ".pdf", ".docx"}
    page.set_input_files("#upload input[type=file]", [{"name": "bad.txt", "mimeType": "text/plain",
                                                       "buffer": b"\x00\x01" * 64}])
    expect(page.locator("#upload-result")).to_contain_text("✗ bad.txt was not added")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (live.settings.max_file_bytes + 1))
    page.set_input_files("#upload input[type=file]", str(big))
    expect(page.get_by_text("maximum allowed size of 4.8 Mb")).to_be_visible()
    expect(page.locator("#upload-result .rag-msg")).to_be_hidden()
    expect(page.locator("#upload")).to_contain_text("up to 4.8 MB (5,000,000 bytes) each")
    shot(page, "upload-over-the-limit")
    assert "big.txt" not in [p.name for p in live.settings.corpus_dir.iterdir()]
