"""Where the reader's inputs and outputs live: the training data (outside the project), the base model's folder
(set-up builds it), and the shipped weights (in the repository)."""

from __future__ import annotations

import os
from pathlib import Path

from rag.settings import ROOT

WEIGHTS_DIR = ROOT / "rag" / "reader" / "weights"
WEIGHTS_FILE = WEIGHTS_DIR / "reader.safetensors"
MANIFEST_FILE = WEIGHTS_DIR / "manifest.json"
# Held-out questions and paragraphs (xquad-vi-dev, CC BY-SA 4.0) whose readings the manifest records: the test
# that the shipped weights reproduce them reads this file, so it runs on a bare clone.
SAMPLE_FILE = ROOT / "tests" / "reader" / "weights_sample.jsonl"


def data_dir() -> Path:
    """$RAG_DATA_DIR, or the shared data folder beside the checkout."""
    return Path(os.environ.get("RAG_DATA_DIR") or ROOT.parent / "shared" / "data")


def e5_folder() -> Path:
    """The multilingual-e5-small folder set-up builds ($RAG_E5_DIR to point elsewhere)."""
    return Path(os.environ.get("RAG_E5_DIR") or ROOT / "models" / "e5-small")


def e5_tokenizer() -> Path:
    return e5_folder() / "tokenizer.json"
