"""Where training reads and writes. The answer-time paths (the weights, their manifest, the e5-small folder) are
ReaderSettings' (rag/settings.py), their one home; training writes its weights where ReaderSettings reads them."""

from __future__ import annotations

import os
from pathlib import Path

from rag.settings import ROOT

# Held-out questions and paragraphs (xquad-vi-dev, CC BY-SA 4.0) whose readings the manifest records: the test
# that the shipped weights reproduce them reads this file, so it runs on a bare clone.
SAMPLE_FILE = ROOT / "tests" / "reader" / "weights_sample.jsonl"


def data_dir() -> Path:
    """$RAG_DATA_DIR, or the shared data folder beside the checkout (training data: it stays outside the project)."""
    return Path(os.environ.get("RAG_DATA_DIR") or ROOT.parent / "shared" / "data")
