from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from rag.settings import ChunkSettings, GeneratorSettings, ReaderSettings, Settings

from .fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
MODEL_DIR = Path(os.environ.get("RAG_MODEL_DIR", ROOT / "models" / "e5-small"))
# The session runs the local model in several processes on purpose (`rag ask` subprocesses beside models loaded
# here), so the one-per-machine limit is off; tests/models/test_slots.py checks the limit itself.
os.environ["RAG_LLM_PROCESSES"] = "0"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never reach the network: only loopback connections are allowed."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")) \
                and self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network blocked in tests: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def settings(tmp_path, corpus_dir) -> Settings:
    return Settings(corpus_dir=corpus_dir, index_dir=tmp_path / "index", embedder="e5-small", model_dir=MODEL_DIR,
                    chunking=ChunkSettings(max_chars=400, overlap_sentences=1),
                    answer_min_score_vi=0.3, answer_min_score_en=0.3,  # the fake's bag-of-words cosines are low
                    generate_min_score_vi=0.2, generate_min_score_en=0.2,
                    # tests of generation pass a fake chat model; those of the reader mode say so
                    generator=GeneratorSettings(backend="extractive", mode="generate"),
                    # the fake reader's margins (tests/fakes.FakeSpanModel) answer at 0 and above; it reads the
                    # best 4 sentences, as the fake embedder ranks them roughly
                    reader=ReaderSettings(sentences=4, threshold_vi=0.0, threshold_en=0.0))


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from rag.models.embedder import SentenceTransformerEmbedder

    if not (MODEL_DIR / "checksum.json").is_file():
        pytest.fail(f"the model folder {MODEL_DIR} is missing: run `bash scripts/setup.sh`")
    return SentenceTransformerEmbedder(MODEL_DIR, threads=2)
