"""Helpers the eval/ benchmarks share: the machine they ran on, percentiles, the code state (git commit).

Imported as a sibling module (`from common import machine`): a script run as `python eval/x.py` has eval/ on
sys.path; the benchmarks that add paths themselves put eval/ there too. Heavy libraries (numpy, torch, faiss,
onnxruntime) are imported inside the functions that need them, so importing this module costs nothing.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def offline() -> None:
    """No model download from here on (the models are built at set-up), and quiet tokenizers; a value the
    caller's environment already has is kept. Call it before importing transformers or sentence-transformers."""
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name: /proc/cpuinfo's, else lscpu's, else "unknown"."""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def machine(details: bool = False) -> dict:
    """The machine and library versions: CPU, cores, usable cores, Python, torch, faiss, torch's thread count.

    details (bench_system's report): the memory, onnxruntime's version and native bf16 instead of the thread count.
    """
    import faiss
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    head = {"cpu": cpu_name(), "cores": os.cpu_count(), "usable_cores": usable}
    if not details:
        return {**head, "python": platform.python_version(), "torch": torch.__version__, "faiss": faiss.__version__,
                "torch_threads": torch.get_num_threads()}
    import onnxruntime

    mem = "?"
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return {**head, "memory": mem, "python": platform.python_version(), "torch": torch.__version__,
            "faiss": faiss.__version__, "onnxruntime": onnxruntime.__version__,
            "bf16": "avx512_bf16" in _read("/proc/cpuinfo")}


def pct(values, q: float) -> float:
    """The q-th percentile, interpolated linearly between the closest ranks (numpy's default); NaN for none."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def pct_nearest(values: list[float], q: float) -> float | None:
    """The q-th percentile as the value of the nearest rank (no interpolation); None for none."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return ""


def commit() -> str:
    """The short commit of this tree ("" without git)."""
    return _git("rev-parse", "--short", "HEAD").strip()


def code_state() -> str:
    """The commit of this tree, and the files under rag/ that differ from it (a benchmark of a dirty tree)."""
    head = commit() or "unknown"
    dirty = [line[3:] for line in _git("status", "--porcelain", "--", "rag").splitlines()]
    return head + (f" with uncommitted changes to {', '.join(dirty)}" if dirty else "")
