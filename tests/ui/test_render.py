from rag.types import Answer, Citation, Passage
from ui import render

TEXT = "Mở đầu. Câu được trích dẫn ở đây. Câu cuối."
QUOTE = "Câu được trích dẫn ở đây."
Q_START = TEXT.index(QUOTE)
EVIL = "<script>window.__pwned = 1</script> <img src=x onerror=\"window.__pwned = 2\">"


def citation(n=1, title="Bài báo", quote=QUOTE, start=Q_START, doc_id="doc-1", chunk_id="doc-1#0"):
    return Citation(n, doc_id, chunk_id, title, "26/10/2025", quote, start, start + len(quote), "TTXVN")


def passage(text=TEXT, doc_id="doc-1", chunk_id="doc-1#0", title="Bài báo"):
    return Passage(1, doc_id, chunk_id, title, text, 0, len(text), 0.5, "body", "26/10/2025", "TTXVN")


def test_esc_turns_markup_into_text():
    assert render.esc(EVIL) == ("&lt;script&gt;window.__pwned = 1&lt;/script&gt; &lt;img src=x "
                                "onerror=&quot;window.__pwned = 2&quot;&gt;")
    assert render.esc(None) == ""


def test_md_text_disarms_html_and_formatting():
    assert render.md_text("<b>x</b> *a* _b_ [l](u) `c` $m$ |t|") == \
        "&lt;b&gt;x&lt;/b&gt; \\*a\\* \\_b\\_ \\[l\\](u) \\`c\\` \\$m\\$ \\|t\\|"
    assert render.md_text("# h\n- li\n12. n\n===") == "\\# h\n\\- li\n12\\. n\n\\==="
    assert render.md_text("Mekong - Nhật Bản 16.") == "Mekong - Nhật Bản 16."  # plain text stays readable


def test_answer_markdown_links_valid_markers_only():
    md = render.answer_markdown("A <i>fact</i> [1]. Another [2]. Made up [7].", 3, [citation(1), citation(2)])
    assert md == ("A &lt;i&gt;fact&lt;/i&gt; [\\[1\\]](#cite-3-1). Another [\\[2\\]](#cite-3-2). "
                  "Made up \\[7\\].")


def test_card_shows_the_passage_with_the_quote_highlighted():
    html = render.card_html(citation(), [passage()], 2)
    assert 'data-turn="2" data-n="1"' in html
    assert f"Mở đầu. <mark>{QUOTE}</mark> Câu cuối." in html
    assert "26/10/2025 · TTXVN · doc-1" in html


def test_card_cuts_a_long_passage_around_the_quote():
    long_text = "đầu " * 200 + QUOTE + " cuối" * 200
    c = citation(start=long_text.index(QUOTE))
    html = render.card_html(c, [passage(text=long_text)], 0)
    assert html.count("…") == 2 and len(html) < 1200 and f"<mark>{QUOTE}</mark>" in html


def test_card_and_source_escape_document_text():
    text = f"{EVIL} Câu thật."
    c = citation(title=EVIL, quote=text, start=0)
    for html in (render.card_html(c, [passage(text=text, title=EVIL)], 0),
                 render.source_html(EVIL, "1/1/2025", EVIL, "doc-1", text, 0, len(EVIL))):
        assert "<script" not in html and "<img" not in html
        assert "&lt;script&gt;" in html and "onerror=&quot;" in html


def test_card_without_its_passage_shows_the_quote():
    assert f"<mark>{QUOTE}</mark>" in render.card_html(citation(), [], 0)


def test_cards_html_one_card_per_citation_and_notice():
    answer = Answer("q", "vi", f"{QUOTE} [1] x [2]", False, (citation(1), citation(2)), (passage(),), "extractive", {})
    html = render.cards_html(answer, 0, render.warning_html("Low <relevance>"))
    assert html.count('class="cite-card"') == 2 and "Low &lt;relevance&gt;" in html
    assert "No citations" in render.cards_html(Answer("q", "vi", "no", True, (), (), "extractive", {}), 0)


def test_source_html_marks_the_passage_and_keeps_paragraphs():
    text = "Tiêu đề\nĐoạn một. " + QUOTE + "\nĐoạn hai."
    start = text.index(QUOTE)
    html = render.source_html("Tiêu đề", None, None, "doc-1", text, start, start + len(QUOTE))
    assert f'<p>Đoạn một. <mark class="focus">{QUOTE}</mark></p><p>Đoạn hai.</p>' in html
    assert "mark" not in render.source_html("T", None, None, "d", text)


def test_timings_text():
    assert render.timings_text({"retrieve_ms": 12.3, "first_token_ms": 1500.0, "total_ms": 2345.6}) == \
        "retrieval 12 ms · first token 1,500 ms · total 2,346 ms"
    assert render.timings_text({}) == "retrieval – · first token – · total –"


def test_a_pdf_citation_names_its_page_on_the_card_and_in_the_source_view():
    import dataclasses

    card = render.card_html(dataclasses.replace(citation(), page=3), [passage()], 0)
    assert '<div class="cite-meta">26/10/2025 · TTXVN · doc-1 · p. 3</div>' in card
    assert "p. " not in render.card_html(citation(), [passage()], 0)
    assert "doc-1 · p. 2</div>" in render.source_html("T", None, None, "doc-1", TEXT, Q_START, Q_START + 3, page=2)
