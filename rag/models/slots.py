"""How many processes of this machine may run a local model at once (GeneratorSettings.model_processes, 1 by
default; 0: no limit).

Two processes each running llama.cpp on the same cores (`rag eval` beside `rag serve`, two servers) spin their
threads against each other: on 2 cores a 1-minute evaluation took over 20 minutes. So a process takes a slot
before it starts its first model worker: an exclusive lock on one of N files in the machine's temporary folder
($RAG_MODEL_LOCK_DIR to choose another), held until the process ends. With every slot taken, it says which
process holds the model, in one line, instead of crawling. The kernel drops a dead process's lock, so no slot is
ever left stale. Models of one process share its slot (one server may hold several).
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import threading
from pathlib import Path

from rag.errors import ModelBusyError

LOCK_DIR_ENV = "RAG_MODEL_LOCK_DIR"

_lock = threading.Lock()
_held: dict[Path, int] = {}  # lock folder -> the open file whose lock this process holds


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or tempfile.gettempdir())


def _who() -> str:
    return f"pid {os.getpid()}: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])[:100]}" if sys.argv else \
        f"pid {os.getpid()}"


def take_slot(processes: int, folder: Path | None = None) -> None:
    """Hold one of `processes` model slots of this machine for the rest of this process (a no-op when it holds
    one already, or for 0); ModelBusyError, saying who holds them, when every slot is taken."""
    if processes <= 0:
        return
    folder = folder or lock_dir()
    with _lock:
        if folder in _held:
            return
        holders = []
        for i in range(processes):
            path = folder / f"rag-local-model-{i}.lock"
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except PermissionError:  # another user's file: locking needs only reading
                fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holders.append(os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process")
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, _who().encode(), 0)
            except OSError:
                pass  # a read-only lock file: the lock still holds, only its note is missing
            _held[folder] = fd
            return
    raise ModelBusyError(
        f"the local model already runs on this machine ({'; '.join(holders)}), and two would share its CPU cores "
        f"and both crawl: ask that one, or wait until it ends (set RAG_LLM_PROCESSES={processes + 1} where there "
        f"are cores to spare)")
