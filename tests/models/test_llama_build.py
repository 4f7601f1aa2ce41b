"""llama.cpp compiles in the background after set-up (scripts/build-llama.sh holds VENV/llama-build.lock while it
runs): meanwhile the local model says so in one line, and `rag doctor` warns instead of failing."""

import subprocess
import sys

import pytest

from rag import doctor
from rag.errors import GeneratorError, ModelNotReadyError
from rag.models import llama_build
from rag.models.worker import LlamaWorker

HOLD = "import fcntl, sys; h = open(sys.argv[1], 'a'); fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"


@pytest.fixture
def venv(tmp_path, monkeypatch):
    """A venv folder of its own, with llama_cpp not importable."""
    monkeypatch.setattr(llama_build, "venv", lambda: tmp_path)
    monkeypatch.setattr(llama_build, "installed", lambda: False)
    return tmp_path


@pytest.fixture
def compiling(venv):
    """A background build running: another process holds the lock, as `flock LOCK build-llama.sh` does."""
    (venv / llama_build.STATUS).write_text("building\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(venv / llama_build.LOCK)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield venv
    proc.stdin.close()
    proc.wait(10)


def test_a_build_is_running_while_another_process_holds_the_lock(compiling):
    assert llama_build.building() is not None
    line = llama_build.not_ready()
    assert "still compiling" in line and str(compiling / llama_build.LOG) in line and "\n" not in line


def test_no_build_runs_without_the_lock_held(venv):
    assert llama_build.building() is None  # no lock file at all
    (venv / llama_build.LOCK).touch()
    assert llama_build.building() is None  # a lock file nobody holds
    assert "not installed" in llama_build.not_ready() and "setup.sh --wait" in llama_build.not_ready()


def test_a_failed_build_says_what_went_wrong(venv):
    (venv / llama_build.STATUS).write_text("failed: llama-cpp-python did not compile: see the log\n")
    assert llama_build.last_failure() == "llama-cpp-python did not compile: see the log"
    assert llama_build.not_ready().startswith("llama.cpp did not build: llama-cpp-python did not compile")


def test_the_worker_says_the_model_is_not_ready_before_starting_a_process(compiling):
    worker = LlamaWorker("model.gguf", 512, 1)
    with pytest.raises(ModelNotReadyError, match="still compiling"):
        list(worker.stream([{"role": "user", "content": "hi"}], max_tokens=1))
    assert worker.starts == 0


def test_without_a_build_the_worker_says_to_run_set_up(venv):
    with pytest.raises(GeneratorError, match="not installed") as caught:
        LlamaWorker("model.gguf", 512, 1).start()
    assert not isinstance(caught.value, ModelNotReadyError)


def test_doctor_warns_while_llama_cpp_compiles(compiling, settings):
    check = doctor._llama_build(settings)
    assert check.status == doctor.WARN and "still compiling" in check.detail and "--wait" in check.fix
