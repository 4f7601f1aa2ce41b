"""The Gradio app: a Chat tab (streamed answers, citation cards, the cited article, settings, feedback) and a
Corpus tab (documents, upload, delete, incremental rebuild with progress, index status).

The logic lives in ui/session.py (chat), ui/gate.py (the model's line), ui/access.py (who may change the
corpus), rag/ingest/library.py (corpus) and ui/render.py (escaped HTML); this module only lays out the page and
wires events. `serve()` binds to 127.0.0.1 unless told otherwise.

Concurrency: a question is answered in the "answer" group, many at once (Settings.answer_threads); only the
calls to the model wait in its line (a few at a time, in order; "busy, try again" past max_waiting), so an answer
that needs no model is never behind one that does. Within a tab, a question sent while an answer is being
written waits, shown as waiting, and is answered next (ui/session.Conversation). Corpus changes run one at a
time ("corpus" group) and only for editors, whether they come from the page or the HTTP API.
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr  # noqa: E402

from gradio.utils import NamedString  # noqa: E402

from rag.errors import RagError  # noqa: E402
from rag.indexing.stores import open_store  # noqa: E402
from rag.ingest.fetch import PageFetcher  # noqa: E402
from rag.ingest.library import Library, LibraryDocument  # noqa: E402
from rag.models.backends import BACKENDS  # noqa: E402
from rag.models.gguf import MODELS  # noqa: E402
from rag.settings import ANSWER_LANGS, Settings  # noqa: E402

from . import render  # noqa: E402
from .access import Access  # noqa: E402
from .feedback import FeedbackLog, default_feedback_path  # noqa: E402
from .session import AssistantPool, ChatEngine, ChatEvent, ChatTurn, Conversation  # noqa: E402

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
.stale .rag-msg { display: none; }
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
# A file chosen or dropped on the upload box hides the previous upload's result until the new one arrives (a file
# the page refuses, e.g. over the size limit, would otherwise leave the last file's message under its error).
UPLOAD_RESULT_JS = """
const mine = (e) => e.target && e.target.closest && e.target.closest('#upload');
for (const kind of ['change', 'drop']) {
  document.addEventListener(kind, (e) => { if (mine(e)) element.classList.add('stale'); }, true);
}
watch('value', () => element.classList.remove('stale'));
"""
# The source view scrolls to the highlighted passage whenever it changes.
SOURCE_JS = """
watch('value', () => {
  const m = element.querySelector('mark.focus');
  if (m) m.scrollIntoView({block: 'center'});
});
"""


UPLOAD_TYPES = [".txt", ".md", ".html", ".pdf", ".docx"]
WAITING = "⏳ *đang chờ · waiting: answered after the question above*"


@dataclass(frozen=True)
class UIConfig:
    feedback_path: Path | None = None  # default: $RAG_FEEDBACK or <index>/feedback.jsonl
    examples: tuple[str, ...] = EXAMPLES
    max_upload_bytes: int | None = None  # default: Settings.max_file_bytes
    access: Access = field(default_factory=Access)  # default: no login, on loopback (everyone edits)


def upload_box(**kwargs) -> gr.File:
    """gr.File that hands the handler the uploaded paths as they are. Gradio's own File leaves an empty temporary
    file in its upload folder for every file and refuses a whole batch for one unknown suffix; here the handler
    refuses that file alone, with a message that says what to upload. The page's picker still filters by type.
    (Set on the instance: a subclass of a Gradio component makes Gradio write a .pyi file beside this module.)"""
    box = gr.File(**kwargs)
    box._process_single_file = lambda f: NamedString(f.path)
    return box


def uploaded_path(name: str | Path, folder: str | Path) -> Path:
    """The path of a file the browser uploaded to this app's upload folder; raises RagError for any other path
    (a file elsewhere on the server, a link), which is then neither read nor copied."""
    path = Path(name)
    root = Path(folder).resolve()
    try:
        inside = root in path.resolve(strict=True).parents
    except OSError:
        inside = False
    if not inside or path.is_symlink() or not path.is_file():
        raise RagError(f"{path.name}: only a file uploaded from your computer through this page can be added "
                       "(the server's own files cannot)")
    return path


def discard_upload(path: Path, folder: str | Path) -> None:
    """Remove an uploaded temporary file and the folder Gradio made for it, whatever came of it."""
    root = Path(folder).resolve()
    try:
        if root in path.resolve().parents and not path.is_symlink():
            path.unlink(missing_ok=True)
            parent = path.resolve().parent
            if parent != root and root in parent.parents:
                parent.rmdir()  # only when empty
    except OSError:
        pass


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


def _chat(conv: Conversation) -> list[dict]:
    """The tab's chat: the answered turns, the one being answered, the questions waiting their turn."""
    shown = list(conv.turns) + ([conv.current] if conv.current is not None else [])
    out = _messages(shown, conv.streamed)
    for q in conv.waiting:
        out += [{"role": "user", "content": render.md_text(q)}, {"role": "assistant", "content": WAITING}]
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
    """The page. `pool` answers, `library` manages the corpus folder, `feedback` stores ratings; `config.access`
    says who may change the corpus."""
    engine = ChatEngine(pool, log_error=lambda exc: log.error("answering failed", exc_info=exc))
    settings = pool.settings
    access = config.access
    g = settings.generator
    models = MODEL_CHOICES + ([g.model] if g.model not in MODEL_CHOICES else [])  # a .gguf chosen at start

    def check_model(model: str | None) -> None:
        """Only the models the page offers: a path named by a caller is neither opened nor looked up."""
        if model and model not in models:
            raise RagError(f"model {model!r}: choose one of {', '.join(models)} (another .gguf file is chosen when "
                           "the server starts: rag serve --model PATH)")

    # ---- chat: one worker per tab answers the tab's questions in order --------------------------------------
    def send_question(question: str, conv: Conversation):
        """Runs at once (no queue): the question joins the tab's line and shows as waiting; the box empties."""
        if not question or not question.strip():
            return gr.skip(), gr.skip()
        conv.add(question)
        return "", _chat(conv)

    def answer_waiting(conv: Conversation, lang: str, backend: str, model: str, k: float):
        """The tab's worker: answers the waiting questions one after the other (a second call while one works
        returns at once; the working one takes its question)."""
        if not conv.claim():
            yield gr.skip(), gr.skip()
            return
        ended = False  # next_question() gave None: the tab's line is free, another worker may already run
        try:
            while (item := conv.next_question()) is not None:
                question, epoch = item
                try:
                    check_model(model)
                    events = engine.ask(question, list(conv.turns), backend=backend, model=model, answer_lang=lang,
                                        k=int(k))
                except RagError as exc:
                    events = iter([_error_event(question, str(exc))])
                for event in events:
                    if event.kind in ("done", "error"):
                        index = conv.finish(event.turn, epoch)
                        cards = _cards(event.turn, index) if index is not None else gr.skip()
                        yield _chat(conv), cards
                    else:
                        conv.show(event.turn, event.text)
                        yield _chat(conv), render.cards_html(None, 0)
            ended = True
        finally:
            if not ended:  # stopped mid-answer (the tab closed, an error): free the line
                conv.release()

    def ask_api(question: str, lang: str = "auto", backend: str = "", model: str = "", k: int = 0) -> str:
        """One question, no conversation: the answer as the chat shows it (Markdown), or the one-line error."""
        try:
            check_model(model)
            turn = None
            for event in engine.ask(question, [], backend=backend or None, model=model or None,
                                    answer_lang=lang or None, k=int(k) or None):
                turn = event.turn
        except RagError as exc:
            return f"⚠ {render.md_text(str(exc))}"
        return _assistant_markdown(turn, 0) if turn is not None else ""

    def show_citation(conv: Conversation, evt: gr.EventData):
        data = evt._data or {}
        try:
            index, n = int(data.get("turn", -1)), int(data.get("n", -1))
        except (TypeError, ValueError):
            return gr.skip()
        turns = conv.turns
        if not 0 <= index < len(turns):
            return gr.skip()
        return engine.source(turns[index], n)

    def rate(conv: Conversation, like: gr.LikeData):
        index = like.index if isinstance(like.index, int) else like.index[0]
        turn_index = index // 2
        if not 0 <= turn_index < len(conv.turns):
            return
        liked = like.liked
        rating = "up" if liked is True or liked == "Like" else "down" if liked is False or liked == "Dislike" \
            else "cleared" if liked in (None, "") else str(liked)
        feedback.record(conv.turns[turn_index], rating)
        gr.Info("Đã lưu phản hồi · Feedback saved")

    def clear(conv: Conversation):
        conv.clear()
        return [], render.cards_html(None, 0), render.source_placeholder(), ""

    # ---- corpus: editors only, from the page and the API alike -------------------------------------------------
    def corpus_view():
        docs = library.documents()
        return (_status_html(library), _rows(docs),
                gr.update(choices=[(f"{d.title or d.doc_id} ({d.file})", d.doc_id) for d in docs], value=None))

    def page_load(request: gr.Request):
        """The corpus view, and the editing controls on or off for this login."""
        editor = access.can_edit(request.username if request else None)
        note = "" if editor else render.message_html(
            "Chỉ đọc · Read-only: " + access.edit_refusal(request.username if request else None), "info")
        status, rows, choices = corpus_view()
        off = gr.update(interactive=editor)
        return status, rows, {**choices, "interactive": editor}, note, off, off, off, off, off, off

    upload_count = iter(range(1, 1 << 62))

    def upload(files, replace: bool, request: gr.Request):
        sent = files if isinstance(files, list) else [files] if files else []
        sent = [Path(p if isinstance(p, (str, Path)) else getattr(p, "name", p)) for p in sent]
        results = []
        try:
            editor = access.can_edit(request.username if request else None)
            if not editor:
                results.append(render.message_html(f"✗ {access.edit_refusal(request.username)}", "error"))
            for path in sent if editor else []:
                try:
                    uploaded = uploaded_path(path, upload_folder)
                    added = library.add_file(uploaded, name=path.name, replace=bool(replace))
                    what = "thay · replaced" if added.replaced else "đã thêm · added"
                    results.append(render.message_html(f"✓ {path.name}: {what} as {added.path.name} "
                                                       f"({added.title or added.doc_id}); press Rebuild index to "
                                                       "search it", "ok"))
                except RagError as exc:
                    results.append(render.message_html(f"✗ {exc}", "error"))
                except OSError as exc:
                    results.append(render.message_html(f"✗ {path.name}: it could not be read ({exc.strerror})",
                                                       "error"))
        finally:
            for path in sent:  # added, refused or not looked at: no temporary copy stays
                discard_upload(path, upload_folder)
        # The counter makes every result new, so the page shows it again after hiding a stale one.
        return (f"<!-- {next(upload_count)} -->" + "".join(results), None, *corpus_view())

    def add_link(url: str | None, replace: bool, request: gr.Request):
        """Fetch a link's page into the corpus (editors only): the link box keeps a refused link, empties on success."""
        if not access.can_edit(request.username if request else None):
            return (render.message_html(f"✗ {access.edit_refusal(request.username)}", "error"), gr.skip(),
                    *corpus_view())
        if not url or not url.strip():
            return (render.message_html("Dán một liên kết · Paste a link (http:// or https://)", "info"), gr.skip(),
                    *corpus_view())
        try:
            added = library.add_url(url.strip(), replace=bool(replace))
        except RagError as exc:
            return render.message_html(f"✗ {exc}", "error"), gr.skip(), *corpus_view()
        what = "thay · replaced" if added.replaced else "đã thêm · added"
        msg = render.message_html(f"✓ {url.strip()}: {what} as {added.path.name} ({added.title or added.doc_id}); "
                                  "press Rebuild index to search it", "ok")
        return msg, "", *corpus_view()

    def delete(doc_id: str | None, request: gr.Request):
        if not access.can_edit(request.username if request else None):
            return (render.message_html(f"✗ {access.edit_refusal(request.username)}", "error"), *corpus_view())
        if not doc_id:
            return (render.message_html("Chọn một bài để xóa · Choose a document to delete", "info"),
                    *corpus_view())
        try:
            path = library.delete(doc_id)
            msg = render.message_html(f"✓ {path.name} deleted; press Rebuild index to drop it from answers", "ok")
        except RagError as exc:
            msg = render.message_html(f"✗ {exc}", "error")
        return (msg, *corpus_view())

    def rebuild(request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        if not access.can_edit(request.username if request else None):
            return (render.message_html(f"✗ {access.edit_refusal(request.username)}", "error"), *corpus_view())
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
        conv = gr.State(Conversation)
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
                        model = gr.Dropdown(models, value=g.model, label="Mô hình · Model", elem_id="model",
                                            info="local: " + " or ".join(models) + " (another .gguf file: rag serve "
                                                 "--model PATH; openai and ollama take theirs from RAG_OPENAI_MODEL "
                                                 "/ RAG_OLLAMA_MODEL)")
                        k = gr.Slider(1, 20, step=1, value=settings.retrieval.k,
                                      label="Số đoạn văn · Passages (k)", elem_id="k")
                with gr.Column(scale=2):
                    cards = gr.HTML(render.cards_html(None, 0), label="Trích dẫn · Citations", elem_id="cards",
                                    js_on_load=CARDS_JS)
                    source = gr.HTML(render.source_placeholder(), label="Nguồn · Source", elem_id="source",
                                     js_on_load=SOURCE_JS)
        with gr.Tab("Tài liệu · Corpus", id="corpus-tab"):
            index_status = gr.HTML(elem_id="index-status")
            edit_note = gr.HTML(elem_id="edit-note")
            # The size as Gradio's own message writes it (MiB, one decimal), with the exact byte count.
            size = f"{library.max_bytes / 2**20:.1f} MB ({library.max_bytes:,} bytes)"
            with gr.Row():
                files = upload_box(label=f"Thêm bài · Upload articles (.txt, .md, .html, .pdf, .docx; up to {size} "
                                         "each)", file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload")
                with gr.Column():
                    with gr.Row(equal_height=True):
                        link = gr.Textbox(label="Thêm bài từ liên kết · Add an article from a link", scale=4,
                                          placeholder="https://…", max_lines=1, elem_id="link")
                        link_btn = gr.Button("Thêm · Add", scale=1, elem_id="add-link")
                    replace = gr.Checkbox(False, label="Thay bài trùng tên · Replace a document with the same name",
                                          elem_id="replace")
                    upload_result = gr.HTML(elem_id="upload-result", js_on_load=UPLOAD_RESULT_JS)
            with gr.Row():
                rebuild_btn = gr.Button("Cập nhật chỉ mục · Rebuild index", variant="primary", elem_id="rebuild")
                refresh_btn = gr.Button("Làm mới · Refresh", elem_id="refresh")
            build_result = gr.HTML(elem_id="build-result", min_height=64)  # room for the progress bar
            with gr.Row(equal_height=True):
                to_delete = gr.Dropdown([], label="Xóa bài · Delete a document", elem_id="delete-choice", scale=3,
                                        allow_custom_value=True)  # the handler checks the name is in the corpus
                delete_btn = gr.Button("Xóa · Delete", variant="stop", elem_id="delete", scale=1)
            delete_result = gr.HTML(elem_id="delete-result")
            docs = gr.Dataframe(headers=["Tiêu đề · Title", "Ngày · Date", "Nguồn · Source", "Chunks",
                                         "Trạng thái · State", "Tệp · File"], datatype="str", interactive=False,
                                wrap=True, elem_id="docs",
                                column_widths=["34%", "10%", "15%", "7%", "16%", "18%"])
        upload_folder = files.GRADIO_CACHE  # where this app's uploads land (GRADIO_TEMP_DIR)

        # A question is taken at once (no queue), then the tab's worker answers it in the "answer" group, where
        # many answers run at once and only model calls wait their turn (ui/gate.py).
        answer = dict(concurrency_id="answer", concurrency_limit=settings.answer_threads,
                      api_visibility="undocumented")
        for trigger in (send.click, question.submit):
            trigger(send_question, [question, conv], [question, chatbot], queue=False, trigger_mode="multiple",
                    api_visibility="undocumented") \
                .then(answer_waiting, [conv, lang, backend, model, k], [chatbot, cards], trigger_mode="multiple",
                      **answer)
        examples.click(lambda sample: sample[0] if sample else "", examples, question, queue=False,
                       trigger_mode="multiple", api_visibility="undocumented") \
            .then(send_question, [question, conv], [question, chatbot], queue=False, api_visibility="undocumented") \
            .then(answer_waiting, [conv, lang, backend, model, k], [chatbot, cards], trigger_mode="multiple",
                  **answer)
        gr.api(ask_api, api_name="ask", concurrency_id="answer", concurrency_limit=settings.answer_threads)
        cards.click(show_citation, [conv], source, concurrency_limit=4, api_visibility="undocumented")
        chatbot.like(rate, [conv], None, api_visibility="undocumented")
        clear_btn.click(clear, [conv], [chatbot, cards, source, question], queue=False, api_visibility="undocumented")
        chatbot.clear(clear, [conv], [chatbot, cards, source, question], queue=False,  # its own bin icon
                      api_visibility="undocumented")

        corpus_outputs = [index_status, docs, to_delete]
        demo.load(page_load, None, [*corpus_outputs, edit_note, files, replace, rebuild_btn, delete_btn, link,
                                    link_btn], api_visibility="undocumented")
        refresh_btn.click(corpus_view, None, corpus_outputs, api_name="corpus")
        files.upload(upload, [files, replace], [upload_result, files, *corpus_outputs], concurrency_id="corpus",
                     show_progress_on=upload_result, api_name="upload")
        link_btn.click(add_link, [link, replace], [upload_result, link, *corpus_outputs], concurrency_id="corpus",
                       show_progress_on=upload_result, api_name="add_link")
        link.submit(add_link, [link, replace], [upload_result, link, *corpus_outputs], concurrency_id="corpus",
                    show_progress_on=upload_result, api_visibility="undocumented")
        delete_btn.click(delete, to_delete, [delete_result, *corpus_outputs], concurrency_id="corpus",
                         show_progress_on=delete_result, api_name="delete",
                         js="(d) => (d && confirm('Xóa · Delete ' + d + '?')) ? d : null")
        rebuild_btn.click(rebuild, None, [build_result, *corpus_outputs], concurrency_id="corpus",
                          show_progress_on=build_result, api_name="rebuild")
    return demo


def _error_event(question: str, message: str) -> ChatEvent:
    return ChatEvent("error", ChatTurn(question, error=message))


def theme() -> gr.Theme:
    """The default look with local fonts: the default theme would fetch its font from Google, offline here."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])



def make_app(settings: Settings, embedder=None, chat_model=None, config: UIConfig = UIConfig()):
    """The app and its parts for `settings` (tests pass a fake or shared embedder and chat model)."""
    pool = AssistantPool(settings, embedder=embedder, notify=_notify, chat_model=chat_model)
    max_bytes = config.max_upload_bytes or settings.max_file_bytes
    library = Library(settings.corpus_dir, open_store(settings), max_bytes, PageFetcher(settings.fetch, max_bytes))
    feedback = FeedbackLog(config.feedback_path or default_feedback_path(settings.index_dir))
    return build_app(pool, library, feedback, config), pool


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, access: Access = Access(),
           max_file_bytes: int = Settings.max_file_bytes, block: bool = True, quiet: bool = False,
           max_queue: int = 64):
    """Start serving `demo` with its queue: at most `max_queue` events wait in Gradio's queue (past it a caller
    is told the queue is full); events run one at a time unless their group says otherwise. Gradio refuses an
    upload over `max_file_bytes` (the corpus's own limit) before it is stored."""
    demo.queue(default_concurrency_limit=1, max_size=max_queue)
    return demo.launch(server_name=host, server_port=port, auth=access.auth, max_file_size=max_file_bytes,
                       prevent_thread_lock=not block, quiet=quiet, show_error=False, ssr_mode=False,
                       theme=theme(), css=CSS, footer_links=[], mcp_server=False)


def _warm_generator(assistant) -> None:
    try:
        assistant.warm_up_generator()
    except Exception as exc:  # noqa: BLE001 - the first question will show the same error to the user
        log.warning("the answer model is not ready: %s", exc)


def private_upload_folder() -> str:
    """A folder of this server's own for uploads (GRADIO_TEMP_DIR unless the user set one), removed at exit."""
    if os.environ.get("GRADIO_TEMP_DIR"):
        return os.environ["GRADIO_TEMP_DIR"]
    folder = tempfile.mkdtemp(prefix="rag-serve-uploads-")  # mode 0700
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, True)
    try:  # SIGTERM (kill, a service manager) stops the server as Ctrl-C does, so the folder is removed too
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: only Ctrl-C and a normal exit clean up
        pass
    return folder


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, open_without_login: bool = False,
          config: UIConfig | None = None) -> None:
    """`rag serve`: check who may do what (a bind beyond loopback without a login is refused unless
    `open_without_login`), load the index (building it if there is none), then serve until interrupted."""
    access = Access.for_server(settings.server, host, open_without_login)  # before anything loads
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)  # index build steps and errors; the libraries' own INFO lines stay quiet
    log.setLevel(logging.INFO)
    private_upload_folder()  # before the app is made: Gradio reads it then
    config = dataclasses.replace(config or UIConfig(), access=access)
    demo, pool = make_app(settings, config=config)
    pool.main.warm_up()  # load the index and the embedding model before the first question
    # A local model loads and reads its fixed prompt prefix in the background while the page opens.
    threading.Thread(target=_warm_generator, args=(pool.main,), daemon=True).start()
    if not access.logins and not access.loopback:
        log.warning("serving on %s without a login (%s): anyone who can reach it can read every article and ask; "
                    "the corpus cannot be changed", host, "--open-to-network-without-login")
    launch(demo, host=host, port=port, access=access, max_file_bytes=settings.max_file_bytes,
           max_queue=settings.answer_threads + settings.server.max_waiting + 24)
