"""Thumbs up / down on answers, appended to a local JSON Lines file (one object a line)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .session import ChatTurn

_LOCK = threading.Lock()


def default_feedback_path(index_dir: Path) -> Path:
    """$RAG_FEEDBACK, else feedback.jsonl in the index folder (beside the index versions; not pruned by builds)."""
    value = os.environ.get("RAG_FEEDBACK")
    return Path(value) if value else Path(index_dir) / "feedback.jsonl"


class FeedbackLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def record(self, turn: ChatTurn, rating: str) -> dict:
        """Append one rating ("up", "down" or "cleared") of `turn`'s answer; returns what was written."""
        answer = turn.answer
        row = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "rating": rating,
            "question": turn.question,
            "standalone_question": turn.standalone or turn.question,
            "answer": turn.shown_text,
            "refused": answer.refused if answer else None,
            "error": turn.error,
            "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "quote": c.quote}
                          for c in (answer.citations if answer else ())],
            "backend": turn.backend,
            "model": turn.model,
            "k": turn.k,
            "best_score": None if turn.best_score is None else round(turn.best_score, 4),
            "timings": {k: round(v, 1) for k, v in (answer.timings if answer else {}).items()},
            "index_version": turn.index_version,
        }
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with _LOCK:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        return row
