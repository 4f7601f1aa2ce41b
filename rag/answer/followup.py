"""Follow-up questions made standalone before retrieval: "Còn Nhật Bản cam kết gì?" after a question about a
meeting becomes a question that names the meeting.

A question is treated as a follow-up when it is short and reads as one: it starts with "còn" / "and" /
"what about", ends with "thì sao", or leans on a pronoun such as "họ", "it", "hội nghị đó" without naming a
subject of its own (is_follow_up). A complete question ("Who invested in the Hon Trong wind farm and how much did
it cost?") is used as typed.
With a chat model, the model rewrites it from the last turns (the named templates in rag/answer/prompts.py); its
output is checked (one line, a question, the question's language, not too long) and the rules are the
fallback. Without a model (the extractive backend), the rules: the follow-up gets the setting of the previous
question, its "tại / at ..." phrase when it has one, else its key terms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from rag.answer.prompts import rewrite_messages
from rag.settings import FollowUpSettings
from rag.text import EN_AUXILIARIES, EN_WH_WORDS, VI_ASKING_WORDS, VI_QUESTION_PHRASES, detect_language
from rag.types import NOT_FOUND

_DEFAULT = FollowUpSettings()


@dataclass(frozen=True)
class Turn:
    """An earlier exchange: the question as it was retrieved (already standalone) and the answer shown."""

    question: str
    answer: str


@dataclass(frozen=True)
class Rewrite:
    question: str  # as typed
    standalone: str  # what is retrieved and answered
    method: str  # "none" (used as typed), "rule" or "model"

    @property
    def changed(self) -> bool:
        return self.standalone != self.question


_I = re.I | re.U
# A follow-up opening or closing: "Còn ...", "Thế còn ...", "... thì sao?", "And ...", "What about ...".
_VI_OPENING = re.compile(r"^(?:thế còn|vậy còn|còn về|còn|vậy thì|vậy|thế|và)\s+", _I)
_VI_CLOSING = re.compile(r"\s*,?\s*(?:thì sao|thì thế nào|thì như thế nào|thì ra sao|nữa)\s*(?=[?.!]*$)", _I)
_EN_OPENING = re.compile(r"^(?:and what about|and how about|what about|how about|and|also|so)\s+", _I)
# Words that point back into the conversation.
_VI_POINTERS = re.compile(
    r"(?<!\w)(?:họ|ông ấy|bà ấy|anh ấy|chị ấy|ông ta|bà ta|nó|hai bên|phía đó|nước đó|nước này|"
    r"(?:hội nghị|cuộc họp|sự kiện|thỏa thuận|hiệp định|chương trình|kế hoạch|sáng kiến|việc|điều|vấn đề|"
    r"bài|lần) (?:đó|này|ấy|kia))(?!\w)", _I)
_EN_POINTERS = re.compile(
    r"\b(?:he|she|they|them|his|her|their|its|it|there|"
    r"(?:this|that|these|those) (?:meeting|summit|conference|event|agreement|deal|plan|initiative|country|"
    r"countries|article|one|year))\b", _I)
# Question words, taken out of a previous question before its terms are reused.
_VI_QUESTION_WORDS = re.compile(r"(?<!\w)(?:" + "|".join(VI_QUESTION_PHRASES) + r")(?!\w)", _I)
_EN_QUESTION_WORDS = re.compile(
    r"^(?:(?:" + "|".join(w + (r"(?: many| much)?" if w == "how" else "") for w in EN_WH_WORDS) + r")\s+)?"
    r"(?:(?:" + "|".join(EN_AUXILIARIES) + r")\s+)?", _I)
_VI_ASKS = re.compile(r"(?<!\w)(?:" + "|".join(VI_ASKING_WORDS) + r")(?!\w)", _I)
_EN_ASKS = re.compile(r"\b(?:" + "|".join(EN_WH_WORDS) + r")\b", _I)
# Where the previous question's setting starts: "tại Hội nghị ...", "at the 28th summit".
_VI_SETTING = re.compile(r"(?<!\w)(?:tại|ở|trong|trong khuôn khổ|nhân dịp|bên lề)\s+(?=\S)", _I)
_EN_SETTING = re.compile(r"\b(?:at|during|in|on the sidelines of)\s+(?=\S)", _I)


def _words(text: str) -> int:
    return len(text.split())


# A name: a capitalised word after the first one ("Hon Trong", "Nhật Bản", "ASEAN"), or a word with a digit
# ("2024", "16th").
_NAME = re.compile(r"(?<=\S)\s+(?:[^\W\d_][\w'’-]*)", re.U)


def names_its_subject(question: str) -> bool:
    """Does the question name what it asks about: a capitalised word after its first word (a name, an acronym)
    or a number? "Who invested in the Hon Trong wind farm and how much did it cost?" does ("it" is the wind
    farm); "When was it held?" and "Hội nghị đó diễn ra ở đâu?" do not."""
    q = _strip_end(" ".join(question.split()))
    if any(c.isdigit() for c in q):
        return True
    return any(m.group(0).strip()[:1].isupper() for m in _NAME.finditer(q))


def is_follow_up(question: str, max_words: int = _DEFAULT.max_words) -> bool:
    """Does a short question lean on the conversation? An opening like "Còn" / "What about" or a closing like
    "thì sao" always does; a pronoun ("it", "họ", "hội nghị đó") only in a question that names no subject of
    its own (names_its_subject): a complete question is never rewritten."""
    q = " ".join(question.split())
    if not q or _words(q) > max_words:
        return False
    if _VI_OPENING.search(q) or _VI_CLOSING.search(q) or _EN_OPENING.search(q):
        return True
    return bool(_VI_POINTERS.search(q) or _EN_POINTERS.search(q)) and not names_its_subject(q)


def _strip_end(text: str) -> str:
    return text.strip().rstrip("?.!…").strip(" ,;:–-")


def _body(question: str) -> str:
    """The question without its follow-up opening and closing: "Còn Nhật Bản cam kết gì?" -> "Nhật Bản cam kết gì"."""
    q = _VI_CLOSING.sub("", " ".join(question.split()))
    q = _EN_OPENING.sub("", _VI_OPENING.sub("", q))
    q = _strip_end(q)
    return q[:1].upper() + q[1:]


def _setting(previous: str, lang: str) -> str | None:
    """The previous question's "tại ... / at ..." phrase, without its question words."""
    q = _strip_end(previous)
    m = (_VI_SETTING if lang == "vi" else _EN_SETTING).search(q, 1)
    if not m:
        return None
    phrase = _VI_QUESTION_WORDS.sub(" ", q[m.start():]) if lang == "vi" else q[m.start():]
    phrase = " ".join(phrase.split())
    return phrase if _words(phrase) >= 2 else None


_TOKEN = re.compile(r"[\w'’.-]+", re.U)
_EN_JOINERS = {"of", "the", "and", "for", "on", "-"}


def _en_names(question: str) -> str:
    """The names and numbers of an English question, as runs: "the 16th Mekong-Japan Foreign Ministers' Meeting"
    gives "16th Mekong-Japan Foreign Ministers' Meeting"."""
    tokens = _TOKEN.findall(_EN_QUESTION_WORDS.sub("", _strip_end(question)))
    runs: list[list[str]] = []
    current: list[str] = []
    for tok in tokens:
        if tok[:1].isupper() or any(c.isdigit() for c in tok):
            current.append(tok)
        elif current and tok.lower() in _EN_JOINERS:
            current.append(tok)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    while runs and runs[-1] and runs[-1][-1].lower() in _EN_JOINERS:
        runs[-1].pop()
    return ", ".join(" ".join(r).rstrip(" ,") for r in runs if r and not all(t.lower() in _EN_JOINERS for t in r))


def _terms(previous: str, lang: str) -> str:
    """The previous question's key terms, in order: without its question words (Vietnamese), its names and
    numbers (English, where the words around them are mostly question words and verbs)."""
    if lang == "en":
        return _en_names(previous) or " ".join(_EN_QUESTION_WORDS.sub("", _strip_end(previous)).split())
    return " ".join(_VI_QUESTION_WORDS.sub(" ", _strip_end(previous)).split())


def _fold(text: str) -> str:
    """Lower case without diacritics, so that "Hon Trong" matches "Hòn Trống"."""
    t = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in t if not unicodedata.combining(c))


def _subject(previous: str) -> str:
    """What the previous question was about: its setting ("tại ... / at ..."), else its key terms."""
    lang = detect_language(previous)
    return _setting(previous, lang) or _terms(previous, lang)


def has_its_subject(question: str, previous: str) -> bool:
    """Does `question` already name every name (a capitalised word or a number) of the previous question's
    subject? "And how much did the Hon Trong wind farm cost?" after "Nhà máy điện gió Hòn Trống được khánh thành
    ngày nào?" does: nothing of the previous question is added to it."""
    first, _, rest = _strip_end(previous).partition(" ")
    subject = set(_TOKEN.findall(_fold(_subject(previous))))
    names = {_fold(w) for w in _TOKEN.findall(rest) if w[:1].isupper() or any(c.isdigit() for c in w)}
    names &= subject
    return bool(names) and names <= set(_TOKEN.findall(_fold(question)))


def _asks(body: str) -> bool:
    return bool((_VI_ASKS if detect_language(body) == "vi" else _EN_ASKS).search(body))


def rule_rewrite(question: str, history: Sequence[Turn], max_words: int = _DEFAULT.max_words) -> str:
    """The standalone question by the rules; the question itself when it does not read as a follow-up."""
    if not history or not is_follow_up(question, max_words):
        return " ".join(question.split())
    previous = history[-1].question
    body = _body(question)
    if not body:
        return previous
    if not _asks(body):  # "Còn Nhật Bản thì sao?": the previous question, about this
        return f"{_strip_end(previous)} ({body})?"
    if has_its_subject(body, previous):
        return f"{body}?"
    setting = _setting(previous, detect_language(previous))
    if setting and setting.lower() not in body.lower():
        return f"{body} {setting}?"
    terms = _terms(previous, detect_language(previous))
    return f"{body} ({terms})?" if terms and terms.lower() not in body.lower() else f"{body}?"


class FollowUpRewriter:
    """Makes a question standalone from the conversation, with a chat model when one is given."""

    def __init__(self, chat_model=None, settings: FollowUpSettings = _DEFAULT) -> None:
        """`chat_model`: a LangChain chat model, or None for the rules only. The model is asked only about
        questions that read as follow-ups (is_follow_up): on a CPU each call costs seconds, and a local model's
        cached answer prompt is processed again after it."""
        self.chat_model = chat_model
        self.settings = settings

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        q = " ".join(question.split())
        if not history or not is_follow_up(q, self.settings.max_words):
            return Rewrite(q, q, "none")
        body = _body(q)
        if body and _asks(body) and has_its_subject(body, history[-1].question):
            return Rewrite(q, q, "none")  # "And how much did the Hon Trong wind farm cost?": complete as it is
        if self.chat_model is not None:
            standalone = self._ask_model(q, history)
            if standalone is not None and standalone != q:  # a follow-up repeated as it is: the rules do better
                return Rewrite(q, standalone, "model")
        standalone = rule_rewrite(q, history, self.settings.max_words)
        return Rewrite(q, standalone, "rule" if standalone != q else "none")

    def _ask_model(self, question: str, history: Sequence[Turn]) -> str | None:
        """The model's standalone question, or None when it fails or writes something that is not one."""
        turns = [(t.question, re.sub(r"\s*\[\d+\]", "", t.answer)[: self.settings.max_answer_chars])
                 for t in history[-self.settings.max_turns:]]
        try:
            reply = self.chat_model.invoke(rewrite_messages(question, turns))
        except Exception:  # noqa: BLE001 - rewriting is a help; the answer step reports a broken model
            return None
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        return clean_model_rewrite(text, question, self.settings.max_rewrite_chars)


_LABEL = re.compile(r"^(?:standalone question|câu hỏi độc lập|question|câu hỏi)\s*:\s*", _I)


def clean_model_rewrite(text: str, question: str, max_chars: int = _DEFAULT.max_rewrite_chars) -> str | None:
    """The first line of a model's rewrite, unquoted; None if it is empty, too long, a refusal, not a question
    (when the user asked one), or in another language than the question."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = _LABEL.sub("", lines[0]).strip().strip("\"'“”«»`").strip()
    if not line or NOT_FOUND in line or len(line) > max_chars or len(line) < 3:
        return None
    if not line.endswith("?") and question.rstrip().endswith("?"):  # an answer or a statement, not a question
        return None
    if detect_language(line) != detect_language(question):
        return None
    return line
