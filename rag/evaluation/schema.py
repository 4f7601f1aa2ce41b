"""The QA set's schema (one JSON object a line, see eval/README.md) and one question's result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError

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
    refusal_probability: float | None = None  # the refusal decision's, when it ran (rag/answer/refusal.py)

    def to_json(self) -> dict:
        return {"id": self.row["id"], "question": self.row["question"], "lang": self.row["lang"],
                "lang_detected": self.lang_detected, "answerable": self.row["answerable"],
                "passages": self.passages, "answer": self.answer, "refused": self.refused,
                "citations": self.citations, "timings": self.timings, "scores": self.scores,
                **({"draft": self.draft} if self.draft else {}),
                **({"refusal_probability": round(self.refusal_probability, 4)}
                   if self.refusal_probability is not None else {})}
