"""Whether llama.cpp's Python binding is installed, or still compiling in the background.

scripts/setup.sh compiles llama-cpp-python for this CPU in the background (scripts/build-llama.sh), so that
the chat answers what needs no language model (Vietnamese questions: the reader alone) minutes before the
binding is ready. The build holds VENV/llama-build.lock while it runs and ends by writing
VENV/llama-build.status ("done" or "failed: ..."); its output is VENV/llama-build.log.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import sys
import time
from pathlib import Path

from rag.errors import GeneratorError, ModelNotReadyError

LOCK = "llama-build.lock"
STATUS = "llama-build.status"
LOG = "llama-build.log"
TYPICAL_MINUTES = 9  # compiling on 2 cores, measured by set-up


def venv() -> Path:
    return Path(sys.prefix)


def installed() -> bool:
    """llama_cpp importable now (the finder's directory caches dropped first: it may have just been installed)."""
    importlib.invalidate_caches()
    return importlib.util.find_spec("llama_cpp") is not None


def building(root: Path | None = None) -> float | None:
    """Seconds since the background build started, while it runs; None when none runs."""
    root = root or venv()
    try:
        with open(root / LOCK, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return max(time.time() - (root / STATUS).stat().st_mtime, 0.0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        pass  # no lock file: no build was ever started here
    return None


def last_failure(root: Path | None = None) -> str | None:
    """What the last background build said when it failed, or None."""
    try:
        status = ((root or venv()) / STATUS).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return status.removeprefix("failed: ") if status.startswith("failed") else None


def not_ready(root: Path | None = None) -> str:
    """One line: why the local model cannot run yet, and what to do (for a binding that is not installed)."""
    root = root or venv()
    since = building(root)
    if since is not None:
        left = max(TYPICAL_MINUTES - since / 60, 1)
        return (f"llama.cpp is still compiling for this CPU (started {since / 60:.0f} min ago, about {left:.0f} min "
                f"left; log: {root / LOG}): answers that need the local model work once it is installed")
    failure = last_failure(root)
    if failure:
        return f"llama.cpp did not build: {failure}; run `bash scripts/setup.sh --wait` to try again"
    return "llama-cpp-python is not installed: run `bash scripts/setup.sh --wait`"


def require() -> None:
    """Raise ModelNotReadyError (compiling) or GeneratorError (missing) unless llama_cpp imports."""
    if installed():
        return
    if building() is not None:
        raise ModelNotReadyError(not_ready())
    raise GeneratorError(not_ready())
