"""One process per machine runs the local model by default (rag/models/slots.py): a second process that would
load it beside a running one says so in one line instead of slowing both."""

import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import GeneratorError
from rag.models.worker import LlamaWorker

FAKE = Path(__file__).with_name("fake_worker.py")
ROOT = Path(__file__).resolve().parents[2]
HOLD = ("import sys; from pathlib import Path; from rag.models.slots import take_slot; "
        "take_slot(1, Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def other_process(tmp_path, monkeypatch):
    """Another process of this machine holding the model's slot (as `rag serve` does once its model loads)."""
    monkeypatch.setenv("RAG_MODEL_LOCK_DIR", str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.stdin.close()
    proc.wait(10)


def worker(processes):
    return LlamaWorker("model.gguf", 512, 1, command=[sys.executable, str(FAKE), "model.gguf", "512", "1", "4"],
                       processes=processes)


def test_a_second_process_is_told_who_runs_the_model(other_process):
    w = worker(1)
    with pytest.raises(GeneratorError) as err:
        w.start()
    message = str(err.value)
    assert "\n" not in message and f"pid {other_process.pid}: -c" in message and "serve" in message
    assert "already runs on this machine" in message and "RAG_LLM_PROCESSES=2" in message
    assert w.pid is None  # no worker was started


def test_a_setting_allows_more_model_processes(other_process):
    w = worker(2)
    try:
        w.start()
        assert w.pid is not None
    finally:
        w.close()


def test_the_slot_is_free_again_when_its_process_ends(other_process):
    other_process.stdin.close()
    other_process.wait(10)
    w = worker(1)
    try:
        w.start()
        assert w.pid is not None
        w.close()
        w.start()  # the process keeps its slot across its own workers
        assert w.pid is not None
    finally:
        w.close()
