"""The Gradio app: a Chat tab (streamed answers, citation cards, the cited article, settings, feedback) and a
Corpus tab (documents, upload, delete, incremental rebuild with progress, index status).

The logic lives in ui/session.py (chat), rag/ingest/library.py (corpus) and ui/render.py (escaped HTML); this module
only lays out the page and wires events. `serve()` binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr  # noqa: E402

from rag.errors import RagError  # noqa: E402
from rag.indexing.store import open_store  # noqa: E402
from rag.ingest.library import Library, LibraryDocument  # noqa: E402
from rag.models.backends import BACKENDS  # noqa: E402
from rag.models.gguf import MODELS  # noqa: E402
from rag.settings import ANSWER_LANGS, Settings  # noqa: E402

from . import render  # noqa: E402
from .feedback import FeedbackLog, default_feedback_path  # noqa: E402
from .session import AssistantPool, ChatEngine, ChatTurn  # noqa: E402

log = logging.getLogger("rag.ui")

EXAMPLES = (
    "Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra vào ngày nào?",
    "Kim ngạch thương mại hai chiều ASEAN - Nhật Bản năm 2024 đạt bao nhiêu?",
    "Các nước ASEAN đề nghị Nhật Bản hỗ trợ gì tại Hội nghị Cấp cao ASEAN - Nhật Bản lần thứ 28?",
    "Who co-chaired the 16th Mekong-Japan Foreign Ministers' Meeting?",
    "How much did ASEAN-Japan two-way trade reach in 2024?",
)
LANG_CHOICES = [("Tự động · Auto", "auto"), ("Tiếng Việt", "vi"), ("English", "en")]
MODEL_CHOICES = list(MODELS)  # the local models set-up assembles
STATE_LABELS = {"indexed": "✓ đã lập chỉ mục · indexed", "new": "mới · new (rebuild to index)",
                "changed": "đã sửa · changed (rebuild)", "unreadable": "✗ bị bỏ qua · skipped"}

CSS = """
#cards .cite-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin: 0 0 8px 0; cursor: pointer; background: var(--background-fill-secondary); }
#cards .cite-card:hover, #cards .cite-card:focus { border-color: var(--color-accent); outline: none; }
.cite-head { font-weight: 600; } .cite-n { color: var(--color-accent); }
.cite-meta { font-size: 0.85em; opacity: 0.75; margin: 2px 0 4px 0; }
.cite-passage { font-size: 0.92em; line-height: 1.45; white-space: pre-wrap; }
mark { background: #ffe58a; color: inherit; padding: 0 1px; border-radius: 2px; }
#source .source-view { max-height: 60vh; overflow-y: auto; border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 8px 12px; }
#source .source-view.empty, #cards .cite-cards.empty { opacity: 0.7; font-size: 0.92em; }
#source mark.focus { background: #ffd24d; }
.rag-warning { background: #fff4e0; border: 1px solid #f0b35a; color: #6b4100; border-radius: 6px;
  padding: 6px 10px; margin-bottom: 8px; }
.rag-msg { padding: 4px 0; } .rag-error { color: #b42318; font-weight: 600; } .rag-ok { color: #1a7f37; }
.source-note { font-style: italic; margin: 4px 0; }
#docs table, #docs th, #docs td, #docs span { font-family: var(--font) !important; }
"""

# Cards: a click (or Enter) on a card, or on an [n] marker in the chat, asks the server for that source.
CARDS_JS = """
const fire = (turn, n) => trigger('click', {turn: turn, n: n});
window.__ragShowCitation = fire;
const cardOf = (e) => e.target && e.target.closest ? e.target.closest('.cite-card') : null;
element.addEventListener('click', (e) => { const c = cardOf(e); if (c) fire(Number(c.dataset.turn), Number(c.dataset.n)); });
element.addEventListener('keydown', (e) => {
  const c = cardOf(e);
  if (c && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); fire(Number(c.dataset.turn), Number(c.dataset.n)); }
});
if (!window.__ragMarkerHook) {
  window.__ragMarkerHook = true;
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a[href*="#cite-"]') : null;
    if (!a) return;
    const m = (a.getAttribute('href') || '').match(/#cite-(\\d+)-(\\d+)$/);
    if (!m) return;
    e.preventDefault();
    e.stopPropagation();
    window.__ragShowCitation(Number(m[1]), Number(m[2]));
  }, true);
}
"""
# The source view scrolls to the highlighted passage whenever it changes.
SOURCE_JS = """
watch('value', () => {
  const m = element.querySelector('mark.focus');
  if (m) m.scrollIntoView({block: 'center'});
});
"""


@dataclass(frozen=True)
class UIConfig:
    feedback_path: Path | None = None  # default: $RAG_FEEDBACK or <index>/feedback.jsonl
    examples: tuple[str, ...] = EXAMPLES
    max_upload_bytes: int | None = None  # default: Settings.max_file_bytes
    auth: tuple[str, str] | None = field(default=None, repr=False)


def auth_from_env() -> tuple[str, str] | None:
    """(user, password) from RAG_UI_USER and RAG_UI_PASSWORD; both or neither must be set."""
    user, password = os.environ.get("RAG_UI_USER"), os.environ.get("RAG_UI_PASSWORD")
    if bool(user) != bool(password):
        raise RagError("set both RAG_UI_USER and RAG_UI_PASSWORD for a login, or neither for none")
    return (user, password) if user else None


# Where a running build reports its steps (set per request, so several tabs do not mix their progress bars).
_progress_sink: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("progress_sink",
                                                                                             default=None)


def _notify(message: str) -> None:
    sink = _progress_sink.get()
    if sink is not None:
        sink(message)
    else:
        log.info(message)


# ---- chat -------------------------------------------------------------------------------------------------

def _assistant_markdown(turn: ChatTurn, index: int, streamed: str | None = None) -> str:
    lines = []
    if turn.standalone and turn.standalone != turn.question:
        lines.append(f"*↪ Câu hỏi đầy đủ · Standalone question: {render.md_text(turn.standalone)}*")
    if turn.error:
        lines.append(f"⚠ {render.md_text(turn.error)}")
    elif turn.answer is None:
        if turn.preview:  # the quote at once; the model's checked answer replaces it
            lines.append(render.md_text(turn.preview))
            lines.append(f"*{render.md_text(streamed)} ▌*" if streamed else
                         "*▌ đang viết câu trả lời · writing the answer…*")
        else:
            lines.append(f"{render.md_text(streamed)} ▌" if streamed else "*…*")
    else:
        a = turn.answer
        lines.append(render.answer_markdown(a.text, index, a.citations))
        if turn.low_relevance and not a.refused:
            lines.append("⚠ *Độ liên quan thấp · Low relevance: the passages found are only weakly related to the "
                         "question; check the sources*")
        backend = a.backend + (f" {turn.model}" if turn.model else "")
        lines.append(f"*{render.md_text(backend)} · {render.md_text(render.timings_text(a.timings))}*")
    return "\n\n".join(lines)


def _messages(turns: list[ChatTurn], streamed: str | None = None) -> list[dict]:
    out = []
    for i, t in enumerate(turns):
        out.append({"role": "user", "content": render.md_text(t.question)})
        last = i == len(turns) - 1
        out.append({"role": "assistant", "content": _assistant_markdown(t, i, streamed if last else None)})
    return out


def _cards(turn: ChatTurn | None, index: int) -> str:
    if turn is None:
        return render.cards_html(None, 0)
    notice = ""
    if turn.error:
        return render.cards_html(None, index)
    if turn.answer is not None and turn.answer.refused:
        notice = render.warning_html("Không tìm thấy đoạn nào đủ liên quan · No passage is close enough to the "
                                     "question" + (f" (best {turn.best_score:.2f})" if turn.best_score else ""))
    elif turn.low_relevance:
        notice = render.warning_html("Độ liên quan thấp · Low relevance" +
                                     (f" (best {turn.best_score:.2f})" if turn.best_score else "") +
                                     ": check the sources")
    return render.cards_html(turn.answer, index, notice)


# ---- corpus -----------------------------------------------------------------------------------------------

def _rows(docs: list[LibraryDocument]) -> list[list[str]]:
    return [[d.title or d.doc_id, d.date or "", d.source or "", "" if d.chunks is None else str(d.chunks),
             STATE_LABELS.get(d.state, d.state) + (f": {d.problem}" if d.problem else ""), d.file] for d in docs]


def _status_html(library: Library) -> str:
    s = library.status()
    if not s.exists:
        return render.message_html(f"Chưa có chỉ mục · No index yet: {s.pending} document(s) waiting; "
                                   "press Rebuild index", "info")
    pending = (f" · {s.pending} thay đổi chưa lập chỉ mục · {s.pending} change(s) not indexed yet: rebuild"
               if s.pending else " · up to date")
    return render.message_html(f"Model {s.model} · {s.documents} documents · {s.chunks} chunks · "
                               f"{s.sentences} sentences · last build {s.built_at}{pending}", "info")


def build_app(pool: AssistantPool, library: Library, feedback: FeedbackLog,
              config: UIConfig = UIConfig()) -> gr.Blocks:
    """The page. `pool` answers, `library` manages the corpus folder, `feedback` stores ratings."""
    engine = ChatEngine(pool, log_error=lambda exc: log.error("answering failed", exc_info=exc))
    settings = pool.settings
    g = settings.generator

    def respond(question: str, turns: list[ChatTurn], lang: str, backend: str, model: str, k: float):
        if not question or not question.strip():
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = list(turns or [])
        for event in engine.ask(question, history, backend=backend, model=model, answer_lang=lang, k=int(k)):
            shown = history + [event.turn]
            if event.kind in ("done", "error"):
                yield _messages(shown), shown, _cards(event.turn, len(shown) - 1), ""
            else:
                yield _messages(shown, event.text), gr.skip(), render.cards_html(None, 0), ""

    def show_citation(turns: list[ChatTurn], evt: gr.EventData):
        data = evt._data or {}
        try:
            index, n = int(data.get("turn", -1)), int(data.get("n", -1))
        except (TypeError, ValueError):
            return gr.skip()
        if not 0 <= index < len(turns or []):
            return gr.skip()
        return engine.source(turns[index], n)

    def rate(turns: list[ChatTurn], like: gr.LikeData):
        index = like.index if isinstance(like.index, int) else like.index[0]
        turn_index = index // 2
        if not 0 <= turn_index < len(turns or []):
            return
        liked = like.liked
        rating = "up" if liked is True or liked == "Like" else "down" if liked is False or liked == "Dislike" \
            else "cleared" if liked in (None, "") else str(liked)
        feedback.record(turns[turn_index], rating)
        gr.Info("Đã lưu phản hồi · Feedback saved")

    def clear():
        return [], [], render.cards_html(None, 0), render.source_placeholder(), ""

    def corpus_view():
        docs = library.documents()
        return (_status_html(library), _rows(docs),
                gr.update(choices=[(f"{d.title or d.doc_id} ({d.file})", d.doc_id) for d in docs], value=None))

    def upload(files, replace: bool):
        paths = files if isinstance(files, list) else [files] if files else []
        results = []
        for p in paths:
            path = Path(p if isinstance(p, (str, Path)) else getattr(p, "name", p))
            try:
                added = library.add_file(path, name=path.name, replace=bool(replace))
                what = "thay · replaced" if added.replaced else "đã thêm · added"
                results.append(render.message_html(f"✓ {path.name}: {what} as {added.path.name} "
                                                   f"({added.title or added.doc_id}); press Rebuild index to "
                                                   "search it", "ok"))
            except RagError as exc:
                results.append(render.message_html(f"✗ {exc}", "error"))
            except OSError as exc:
                results.append(render.message_html(f"✗ {path.name}: it could not be read ({exc.strerror})",
                                                   "error"))
        return ("".join(results), None, *corpus_view())

    def delete(doc_id: str | None):
        if not doc_id:
            return (render.message_html("Chọn một bài để xóa · Choose a document to delete", "info"),
                    *corpus_view())
        try:
            path = library.delete(doc_id)
            msg = render.message_html(f"✓ {path.name} deleted; press Rebuild index to drop it from answers", "ok")
        except RagError as exc:
            msg = render.message_html(f"✗ {exc}", "error")
        return (msg, *corpus_view())

    def rebuild(progress=gr.Progress(track_tqdm=True)):
        progress(0.05, desc="Đọc tài liệu · Reading the corpus")
        token = _progress_sink.set(lambda msg: progress(0.3, desc=msg))
        try:
            report = pool.main.build_index(show_bar=True)
            pool.main.index_data()  # load it now, so the next question does not wait
            skipped = f"; skipped: {'; '.join(report.skipped)}" if report.skipped else ""
            msg = render.message_html(
                f"✓ Index {report.version}: {report.documents} documents ({report.added} added, {report.changed} "
                f"changed, {report.removed} removed, {report.unchanged} unchanged), {report.chunks} chunks, "
                f"{report.chunks_embedded} chunks embedded in {report.seconds:.1f} s{skipped}", "ok")
        except RagError as exc:
            msg = render.message_html(f"✗ {exc}", "error")
        finally:
            _progress_sink.reset(token)
        return (msg, *corpus_view())

    with gr.Blocks(title="Hỏi đáp tin tức · News QA", analytics_enabled=False) as demo:
        turns = gr.State([])
        with gr.Tab("Hỏi đáp · Chat", id="chat-tab"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Hỏi đáp · Chat", height=540, latex_delimiters=[], elem_id="chat",
                                         feedback_options=("Like", "Dislike"), buttons=["copy"])
                    with gr.Row():
                        question = gr.Textbox(show_label=False, placeholder="Đặt câu hỏi… · Ask a question…",
                                              scale=5, max_lines=4, elem_id="question", autofocus=True)
                        send = gr.Button("Gửi · Send", variant="primary", scale=1, elem_id="send")
                    examples = gr.Dataset(components=["textbox"], samples=[[q] for q in config.examples],
                                          label="Ví dụ · Examples", elem_id="examples",
                                          samples_per_page=len(config.examples) or 1)
                    clear_btn = gr.Button("Xóa hội thoại · Clear chat", size="sm", elem_id="clear")
                    with gr.Accordion("Cài đặt · Settings", open=False, elem_id="settings"):
                        lang = gr.Radio(LANG_CHOICES, value=g.answer_lang if g.answer_lang in ANSWER_LANGS else "auto",
                                        label="Ngôn ngữ trả lời · Answer language", elem_id="answer-lang",
                                        info="Cho các mô hình · for model backends (extractive answers quote "
                                             "the articles as written)")
                        backend = gr.Dropdown(list(BACKENDS), value=g.backend, label="Backend", elem_id="backend")
                        model = gr.Dropdown(MODEL_CHOICES, value=g.model, allow_custom_value=True,
                                            label="Mô hình · Model", elem_id="model",
                                            info="local: 1.5b, 0.5b or the path of a .gguf file (openai and ollama "
                                                 "take theirs from RAG_OPENAI_MODEL / RAG_OLLAMA_MODEL)")
                        k = gr.Slider(1, 20, step=1, value=settings.retrieval.k,
                                      label="Số đoạn văn · Passages (k)", elem_id="k")
                with gr.Column(scale=2):
                    cards = gr.HTML(render.cards_html(None, 0), label="Trích dẫn · Citations", elem_id="cards",
                                    js_on_load=CARDS_JS)
                    source = gr.HTML(render.source_placeholder(), label="Nguồn · Source", elem_id="source",
                                     js_on_load=SOURCE_JS)
        with gr.Tab("Tài liệu · Corpus", id="corpus-tab"):
            index_status = gr.HTML(elem_id="index-status")
            with gr.Row():
                files = gr.File(label="Thêm bài · Upload articles (.txt, .md, .html)", file_count="multiple",
                                elem_id="upload")
                with gr.Column():
                    replace = gr.Checkbox(False, label="Thay bài trùng tên · Replace a document with the same name",
                                          elem_id="replace")
                    upload_result = gr.HTML(elem_id="upload-result")
            with gr.Row():
                rebuild_btn = gr.Button("Cập nhật chỉ mục · Rebuild index", variant="primary", elem_id="rebuild")
                refresh_btn = gr.Button("Làm mới · Refresh", elem_id="refresh")
            build_result = gr.HTML(elem_id="build-result", min_height=64)  # room for the progress bar
            with gr.Row(equal_height=True):
                to_delete = gr.Dropdown([], label="Xóa bài · Delete a document", elem_id="delete-choice", scale=3)
                delete_btn = gr.Button("Xóa · Delete", variant="stop", elem_id="delete", scale=1)
            delete_result = gr.HTML(elem_id="delete-result")
            docs = gr.Dataframe(headers=["Tiêu đề · Title", "Ngày · Date", "Nguồn · Source", "Chunks",
                                         "Trạng thái · State", "Tệp · File"], datatype="str", interactive=False,
                                wrap=True, elem_id="docs",
                                column_widths=["34%", "10%", "15%", "7%", "16%", "18%"])

        ask_inputs = [question, turns, lang, backend, model, k]
        ask_outputs = [chatbot, turns, cards, question]
        send.click(respond, ask_inputs, ask_outputs, concurrency_id="answer")
        question.submit(respond, ask_inputs, ask_outputs, concurrency_id="answer")
        examples.click(lambda sample: sample[0] if sample else "", examples, question, queue=False) \
            .then(respond, ask_inputs, ask_outputs, concurrency_id="answer")
        cards.click(show_citation, [turns], source, concurrency_limit=4)
        chatbot.like(rate, [turns], None)
        clear_btn.click(clear, None, [chatbot, turns, cards, source, question], queue=False)
        chatbot.clear(clear, None, [chatbot, turns, cards, source, question], queue=False)  # its own bin icon

        corpus_outputs = [index_status, docs, to_delete]
        demo.load(corpus_view, None, corpus_outputs)
        refresh_btn.click(corpus_view, None, corpus_outputs)
        files.upload(upload, [files, replace], [upload_result, files, *corpus_outputs], concurrency_id="corpus",
                     show_progress_on=upload_result)
        delete_btn.click(delete, to_delete, [delete_result, *corpus_outputs], concurrency_id="corpus",
                         show_progress_on=delete_result,
                         js="(d) => (d && confirm('Xóa · Delete ' + d + '?')) ? d : null")
        rebuild_btn.click(rebuild, None, [build_result, *corpus_outputs], concurrency_id="corpus",
                          show_progress_on=build_result)
    return demo


def theme() -> gr.Theme:
    """The default look with local fonts: the default theme would fetch its font from Google, offline here."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def make_app(settings: Settings, embedder=None, chat_model=None, config: UIConfig = UIConfig()):
    """The app and its parts for `settings` (tests pass a fake or shared embedder and chat model)."""
    pool = AssistantPool(settings, embedder=embedder, notify=_notify, chat_model=chat_model)
    library = Library(settings.corpus_dir, open_store(settings),
                      config.max_upload_bytes or settings.max_file_bytes)
    feedback = FeedbackLog(config.feedback_path or default_feedback_path(settings.index_dir))
    return build_app(pool, library, feedback, config), pool


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, auth: tuple[str, str] | None = None,
           max_file_bytes: int = Settings.max_file_bytes, block: bool = True, quiet: bool = False):
    """Start serving `demo` with its queue (one model for every tab; answers wait their turn)."""
    demo.queue(default_concurrency_limit=1)
    return demo.launch(server_name=host, server_port=port, auth=auth, max_file_size=2 * max_file_bytes,
                       prevent_thread_lock=not block, quiet=quiet, show_error=False, ssr_mode=False,
                       theme=theme(), css=CSS, footer_links=[], mcp_server=False)


def _warm_generator(assistant) -> None:
    try:
        assistant.warm_up_generator()
    except Exception as exc:  # noqa: BLE001 - the first question will show the same error to the user
        log.warning("the answer model is not ready: %s", exc)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, config: UIConfig | None = None) -> None:
    """`rag serve`: load the index (building it if there is none), then serve until interrupted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)  # index build steps and errors; the libraries' own INFO lines stay quiet
    log.setLevel(logging.INFO)
    config = config or UIConfig(auth=auth_from_env())
    demo, pool = make_app(settings, config=config)
    pool.main.warm_up()  # load the index and the embedding model before the first question
    # A local model loads and reads its fixed prompt prefix in the background while the page opens.
    threading.Thread(target=_warm_generator, args=(pool.main,), daemon=True).start()
    if host not in ("127.0.0.1", "localhost", "::1") and config.auth is None:
        log.warning("serving on %s without a login: anyone who can reach this address can read the articles "
                    "(set RAG_UI_USER and RAG_UI_PASSWORD)", host)
    launch(demo, host=host, port=port, auth=config.auth, max_file_bytes=settings.max_file_bytes)
