"""QA evaluation: the QA-set schema, answer/citation/refusal metrics, and a run over a QA set.

Definitions (so that the figures mean one thing):
- answer correct: the question is answerable, the reply is not a refusal, and one gold answer appears in
  the reply after normalising case, spacing, diacritics and number formats (236,6 = 236.6; 300.000 = 300,000).
- token F1: the best SQuAD-style token F1 between the normalised reply and a gold answer.
- citation precision: of all citations given for answerable questions, the share that support the answer:
  the cited passage (quote) overlaps a gold passage in a gold document, or contains a gold answer.
- citation recall: of the answerable questions answered (not refused), the share with a supporting citation.
- refusal precision / recall: over all refusals / over the unanswerable questions; false refusals: the
  share of answerable questions refused; false answers: the share of unanswerable questions answered.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .errors import RagError
from .metrics import hit_at_k, mrr_at_k, passage_hit_at_k, percentile

SCHEMA = {"id": str, "question": str, "lang": str, "answers": list, "answerable": bool, "gold_doc_ids": list,
          "gold_passages": list}


class QASetError(RagError):
    """A QA file that does not follow the schema."""


def load_qa(path: Path) -> list[dict]:
    """Read a QA JSON-lines file, checking every row against the schema (errors name the line)."""
    path = Path(path)
    if not path.is_file():
        raise QASetError(f"QA file {path} does not exist: pass --qa FILE (JSON lines, see eval/README.md)")
    rows, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QASetError(f"{path}:{n}: not JSON ({exc.msg})") from None
        problems = check_row(row)
        if row.get("id") in seen:
            problems.append(f"duplicate id {row.get('id')!r}")
        if problems:
            raise QASetError(f"{path}:{n}: " + "; ".join(problems))
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise QASetError(f"QA file {path} has no questions")
    return rows


def check_row(row) -> list[str]:
    """What is wrong with one QA row (empty when it follows the schema)."""
    if not isinstance(row, dict):
        return ["a row must be a JSON object"]
    problems = [f"missing key {k!r}" for k in SCHEMA if k not in row]
    problems += [f"unknown key {k!r}" for k in row if k not in SCHEMA]
    for key, kind in SCHEMA.items():
        if key in row and not isinstance(row[key], kind):
            problems.append(f"{key!r} must be {kind.__name__}")
        elif key in row and kind is list and not all(isinstance(x, str) for x in row[key]):
            problems.append(f"{key!r} must be a list of strings")
    if row.get("lang") not in ("vi", "en"):
        problems.append("'lang' must be 'vi' or 'en'")
    if row.get("answerable") is True and not row.get("answers"):
        problems.append("an answerable question needs at least one answer")
    if row.get("answerable") is False and (row.get("answers") or row.get("gold_doc_ids")):
        problems.append("an unanswerable question has no answers and no gold documents")
    return problems


# --- normalisation ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NON_WORD = re.compile(r"[^\w\s]", re.U)


def _canonical_number(m: re.Match) -> str:
    """One spelling per number: '300.000' = '300,000' -> '300000'; '236,6' = '236.6' -> '236.6';
    '1.234,5' = '1,234.5' -> '1234.5'. Groups of exactly three digits after a separator are thousands."""
    parts = re.split(r"[.,]", m.group(0))
    if len(parts) == 1:
        return parts[0]
    if all(len(p) == 3 for p in parts[1:]) and parts[0] != "0" and len(parts[0]) <= 3:
        return "".join(parts)
    return "".join(parts[:-1]) + "." + parts[-1]


def normalize(text: str) -> str:
    """Lower case, no diacritics (đ -> d), canonical numbers, punctuation to spaces, single spaces."""
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")  # đ has no decomposition
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = _NUMBER.sub(_canonical_number, text)
    text = _NON_WORD.sub(lambda m: m.group(0) if m.group(0) == "." else " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return " ".join(text.split())


def answer_correct(reply: str, answers: Iterable[str]) -> bool:
    r = f" {normalize(reply)} "
    return any(f" {normalize(a)} " in r for a in answers if normalize(a))


def token_f1(reply: str, answers: Iterable[str]) -> float:
    pred = normalize(reply).split()
    best = 0.0
    for a in answers:
        gold = normalize(a).split()
        if not pred or not gold:
            continue
        common: dict[str, int] = {}
        for t in gold:
            common[t] = common.get(t, 0) + 1
        overlap = 0
        for t in pred:
            if common.get(t, 0) > 0:
                overlap += 1
                common[t] -= 1
        if overlap:
            p, r = overlap / len(pred), overlap / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def citation_supports(citation: dict, row: dict, doc_texts: dict[str, str]) -> bool:
    """A citation supports the answer when it quotes a gold document where a gold passage lies, or a gold answer."""
    doc_id = citation.get("doc_id")
    quote = citation.get("quote", "")
    if doc_id not in row.get("gold_doc_ids", []):
        return False
    text = doc_texts.get(doc_id, "")
    start, end = citation.get("start", -1), citation.get("end", -1)
    for g in row.get("gold_passages", []):
        for m in re.finditer(re.escape(g), text):
            if m.start() < end and start < m.end():
                return True
    return answer_correct(quote, row.get("answers", []))


# --- a run -----------------------------------------------------------------------------------------------

@dataclass
class QuestionResult:
    row: dict
    lang_detected: str
    passages: list[dict]
    answer: str
    refused: bool
    citations: list[dict]
    timings: dict
    scores: dict = field(default_factory=dict)
    draft: str = ""  # the model's unchecked text, when a model wrote the answer

    def to_json(self) -> dict:
        return {"id": self.row["id"], "question": self.row["question"], "lang": self.row["lang"],
                "lang_detected": self.lang_detected, "answerable": self.row["answerable"],
                "passages": self.passages, "answer": self.answer, "refused": self.refused,
                "citations": self.citations, "timings": self.timings, "scores": self.scores,
                **({"draft": self.draft} if self.draft else {})}


def score_question(res: QuestionResult, doc_texts: dict[str, str]) -> dict:
    row = res.row
    s: dict = {}
    if row["answerable"]:
        docs = [p["doc_id"] for p in res.passages]
        texts = [p["text"] for p in res.passages]
        s["hit@1"] = hit_at_k(docs, row["gold_doc_ids"], 1)
        s["hit@5"] = hit_at_k(docs, row["gold_doc_ids"], 5)
        s["mrr@10"] = mrr_at_k(docs, row["gold_doc_ids"], 10)
        s["passage_hit@1"] = passage_hit_at_k(texts, row["gold_passages"], 1)
        s["passage_hit@5"] = passage_hit_at_k(texts, row["gold_passages"], 5)
        s["correct"] = float(not res.refused and answer_correct(res.answer, row["answers"]))
        s["f1"] = 0.0 if res.refused else token_f1(res.answer, row["answers"])
        support = [citation_supports(c, row, doc_texts) for c in res.citations]
        s["citations"] = len(support)
        s["citations_supporting"] = sum(support)
    return s


def summarize(results: Sequence[QuestionResult]) -> dict:
    """Metrics overall and per language."""
    groups = {"all": list(results)}
    for lang in ("vi", "en"):
        groups[lang] = [r for r in results if r.row["lang"] == lang]
    return {name: _summary(rs) for name, rs in groups.items() if rs}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summary(results: list[QuestionResult]) -> dict:
    ans = [r for r in results if r.row["answerable"]]
    una = [r for r in results if not r.row["answerable"]]
    answered = [r for r in ans if not r.refused]
    refused = [r for r in results if r.refused]
    n_cit = sum(r.scores.get("citations", 0) for r in ans)
    out = {
        "questions": len(results), "answerable": len(ans), "unanswerable": len(una),
        **{m: _mean([r.scores[m] for r in ans]) for m in
           ("hit@1", "hit@5", "mrr@10", "passage_hit@1", "passage_hit@5", "correct", "f1")},
        "citation_precision": (sum(r.scores.get("citations_supporting", 0) for r in ans) / n_cit) if n_cit else None,
        "citation_recall": _mean([float(r.scores.get("citations_supporting", 0) > 0) for r in answered]),
        "refusal_precision": (sum(1 for r in refused if not r.row["answerable"]) / len(refused)) if refused else None,
        "refusal_recall": _mean([float(r.refused) for r in una]),
        "false_refusals": _mean([float(r.refused) for r in ans]),
        "false_answers": _mean([float(not r.refused) for r in una]),
        "language_detection": _mean([float(r.lang_detected == r.row["lang"]) for r in results]),
    }
    for t in ("retrieve_ms", "first_token_ms", "total_ms"):
        values = [r.timings[t] for r in results if t in r.timings]
        out[f"{t}_p50"] = percentile(values, 50) if values else None
        out[f"{t}_p95"] = percentile(values, 95) if values else None
    return out


# Which direction is better, for the comparison with the previous report.
LOWER_IS_BETTER = {"false_refusals", "false_answers", "retrieve_ms_p50", "retrieve_ms_p95", "first_token_ms_p50",
                   "first_token_ms_p95", "total_ms_p50", "total_ms_p95"}
COUNTS = {"questions", "answerable", "unanswerable"}


def compare(current: dict, previous: dict, tolerance: float = 1e-9) -> dict:
    """Per group and metric: previous, current and 'better' / 'worse' / 'same'."""
    out: dict = {}
    for group, metrics in current.items():
        before = previous.get(group, {})
        for name, value in metrics.items():
            old = before.get(name)
            if name in COUNTS or value is None or old is None:
                continue
            if abs(value - old) <= tolerance or (name.endswith("_ms_p50") or name.endswith("_ms_p95")) and \
                    abs(value - old) <= 0.05 * max(abs(old), 1e-9):
                verdict = "same"  # latency within 5% is noise
            else:
                verdict = "better" if (value < old) == (name in LOWER_IS_BETTER) else "worse"
            out.setdefault(group, {})[name] = {"previous": old, "current": value, "verdict": verdict}
    return out
