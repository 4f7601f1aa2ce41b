"""The local model is set up in the background after set-up (scripts/local-model.sh runs under
VENV/local-model.lock): meanwhile it says so in one line, and `rag doctor` warns instead of failing."""

import subprocess
import sys

import pytest

from rag import doctor
from rag.errors import GeneratorError, ModelNotReadyError
from rag.models import local_setup
from rag.models.chat import make_local
from rag.models.gguf import MODELS
from rag.models.worker import LlamaWorker

HOLD = "import fcntl, sys; h = open(sys.argv[1], 'a'); fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"


@pytest.fixture
def venv(tmp_path, monkeypatch):
    """A venv folder of its own, with llama_cpp not importable."""
    monkeypatch.setattr(local_setup, "venv", lambda: tmp_path)
    monkeypatch.setattr(local_setup, "installed", lambda: False)
    return tmp_path


@pytest.fixture
def setting_up(venv):
    """The background set-up running: another process holds the lock, as `flock LOCK local-model.sh` does."""
    (venv / local_setup.STATUS).write_text("compiling llama.cpp\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(venv / local_setup.LOCK)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield venv
    proc.stdin.close()
    proc.wait(10)


def test_the_set_up_is_running_while_another_process_holds_the_lock(setting_up):
    assert local_setup.running() is not None
    line = local_setup.not_ready()
    assert "still being set up (compiling llama.cpp" in line and str(setting_up / local_setup.LOG) in line
    assert "\n" not in line


def test_nothing_runs_without_the_lock_held(venv):
    assert local_setup.running() is None  # no lock file at all
    (venv / local_setup.LOCK).touch()
    assert local_setup.running() is None  # a lock file nobody holds
    assert "not installed" in local_setup.not_ready() and "setup.sh --wait" in local_setup.not_ready()


def test_a_failed_set_up_says_what_went_wrong(venv):
    (venv / local_setup.STATUS).write_text("failed: llama-cpp-python did not compile: see the log\n")
    assert local_setup.not_ready().startswith("the local model's set-up failed: llama-cpp-python did not compile")


def test_the_worker_says_the_model_is_not_ready_before_starting_a_process(setting_up):
    worker = LlamaWorker("model.gguf", 512, 1)
    with pytest.raises(ModelNotReadyError, match="still being set up"):
        list(worker.stream([{"role": "user", "content": "hi"}], max_tokens=1))
    assert worker.starts == 0


def test_without_the_binding_the_worker_says_to_run_set_up(venv):
    with pytest.raises(GeneratorError, match="not installed") as caught:
        LlamaWorker("model.gguf", 512, 1).start()
    assert not isinstance(caught.value, ModelNotReadyError)


def test_the_chat_model_is_made_before_its_files_are_assembled(setting_up, settings, tmp_path):
    g = settings.generator.replace(model="1.5b", models_dir=tmp_path / "no-models-yet")
    chat = make_local(g)
    assert chat.model_path == str(tmp_path / "no-models-yet" / MODELS["1.5b"].file_name)
    with pytest.raises(ModelNotReadyError):
        chat.invoke("hi")


def test_doctor_warns_while_the_local_model_is_set_up(setting_up, settings, tmp_path):
    s = settings.replace(generator=settings.generator.replace(models_dir=tmp_path / "no-models-yet"))
    checks = [doctor._llama_build(s), doctor._local_answer(s), *doctor._gguf_checks(s)]
    assert [c.status for c in checks] == [doctor.WARN] * 4
    assert all("still being set up" in c.detail and "--wait" in c.fix for c in checks)
