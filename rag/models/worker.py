"""The local model in a worker process of its own.

llama.cpp is native code: a crash in it (SIGSEGV from a CPU kernel, an abort, the kernel's OOM killer) would
end whatever process it runs in. So the model runs in a child process (`python -m rag.models.worker`), which
loads the GGUF once and keeps it, with llama.cpp's KV cache of the previous prompt: the fixed prompt prefix
is read once per worker, not per question. The parent talks to it over pipes, one JSON object a line:

    parent -> worker  {"messages": [...], "max_tokens": n, "temperature": t, "stop": [...] | null,
                       "refusal_text": "...", "refusal_threshold": p | null}
    worker -> parent  {"ready": true} once loaded, or {"error": "..."} if the model cannot load;
                      then per request {"text": "...", "refusal_probability": p?} pieces and
                      {"done": true, "evaluated_tokens": n} (n: tokens llama.cpp had to read, the prompt
                      tokens not in its KV cache plus the generated ones), or {"error": "..."}.

When the worker dies, the answer in progress fails with WorkerCrashedError, a one-line message that names the
signal and says what to do; the next request starts a new worker. Only the child imports llama_cpp.
"""

from __future__ import annotations

import collections
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from rag.errors import GeneratorError
from rag.models import local_setup
from rag.models.gguf import MODELS
from rag.models.slots import take_slot

# Tests only: a worker whose request's last message contains this word kills itself with SIGSEGV after
# writing two pieces of its answer, as llama.cpp's crashing kernels do.
CRASH_ENV = "RAG_WORKER_CRASH_ON"


class WorkerCrashedError(GeneratorError):
    """The model's worker process died; the next question starts a new one."""


def describe_exit(code: int) -> str:
    """'signal 11, SIGSEGV' / 'signal 9, SIGKILL: killed, perhaps out of memory' / 'exit code 3'."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        extra = ": killed, perhaps by the kernel for want of memory" if -code == signal.SIGKILL else ""
        return f"signal {-code}, {name}{extra}"
    return f"exit code {code}"


class LlamaWorker:
    """A handle on one worker process for one GGUF file; started on first use, restarted after a crash.

    Requests are serialised: one llama.cpp context serves one answer at a time. `command` replaces the
    worker's command line (tests pass a fake worker)."""

    def __init__(self, model_path: str | Path, n_ctx: int, threads: int, timeout_s: float = 300.0,
                 command: list[str] | None = None, processes: int = 0) -> None:
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.threads = threads
        self.timeout_s = timeout_s
        self.processes = processes  # model processes this machine allows (rag/models/slots.py; 0: any)
        self.needs_llama = command is None  # the real worker imports llama_cpp; a test's fake one does not
        self.command = command or [sys.executable, "-m", "rag.models.worker", self.model_path, str(n_ctx),
                                   str(threads)]
        self.lock = threading.Lock()
        self.starts = 0
        self.last_done: dict = {}  # the worker's last "done" message (evaluated_tokens)
        self._proc: subprocess.Popen | None = None
        self._buffer = b""
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)  # the worker's last lines
        self._stderr_reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def peak_memory_mb(self) -> float | None:
        """The running worker's peak resident memory (VmHWM), or None."""
        pid = self.pid
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines() if pid else ():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def start(self) -> None:
        """Start the worker and wait until its model is loaded (a no-op while one is running)."""
        with self.lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self.needs_llama:
            local_setup.require()  # still being set up in the background, or not installed: one line
        take_slot(self.processes)
        root = str(Path(__file__).resolve().parents[2])  # the project folder, above rag/
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self._buffer = b""
        self._stderr.clear()
        self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.starts += 1
        self._stderr_reader = threading.Thread(target=self._read_stderr, args=(self._proc,), daemon=True)
        self._stderr_reader.start()
        reply = self._read(loading=True)
        if "error" in reply:
            self._stop()
            raise GeneratorError(reply["error"])

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                self._stderr.append(text)

    def _read(self, loading: bool = False) -> dict:
        """The worker's next message; a worker that died or hung is a one-line error."""
        proc = self._proc
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self._stop()
                raise WorkerCrashedError(
                    f"the local model gave no answer within {self.timeout_s:.0f} s and was stopped; the next "
                    "question starts it again; run `rag doctor` to check the model and its llama.cpp build")
            data = os.read(fd, 65536)
            if not data:
                code = proc.wait()
                self._proc = None
                what = "while loading" if loading else "while answering"
                raise WorkerCrashedError(
                    f"the local model crashed ({describe_exit(code)}{self._last_words(code)}) {what}; the next "
                    "question starts it again; run `rag doctor` to check the llama.cpp build and the model file")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _last_words(self, code: int) -> str:
        """For a worker that exited by itself, the last line it wrote to stderr (a Python error, say)."""
        if code < 0 or self._stderr_reader is None:
            return ""
        self._stderr_reader.join(timeout=2)
        return f": {self._stderr[-1][:200]}" if self._stderr else ""

    def stream(self, messages: list[dict], max_tokens: int, temperature: float = 0.0,
               stop: list[str] | None = None, refusal_text: str = "", refusal_threshold: float | None = None
               ) -> Iterator[dict]:
        """The answer's pieces: {"text": ..., "refusal_probability"?: ...}."""
        request = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "stop": stop,
                   "refusal_text": refusal_text, "refusal_threshold": refusal_threshold}
        with self.lock:
            self._ensure_started()
            try:
                self._proc.stdin.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass  # the worker died just now: reading says how
            done = False
            try:
                while True:
                    reply = self._read()
                    if reply.get("done"):
                        done = True
                        self.last_done = reply
                        return
                    if "error" in reply:
                        done = True
                        raise GeneratorError(reply["error"])
                    yield reply
            finally:
                if not done and self._proc is not None:
                    self._drain()

    def _drain(self) -> None:
        """Read the rest of an answer nobody wants any more, so the next request starts clean."""
        try:
            while not self._read().get("done"):
                pass
        except GeneratorError:
            pass

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """End the worker (it also ends by itself when this process goes: its input closes)."""
        with self.lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()


_WORKERS: dict[tuple, LlamaWorker] = {}
_WORKERS_LOCK = threading.Lock()


def shared_worker(model_path: str | Path, n_ctx: int, threads: int, processes: int) -> LlamaWorker:
    """One worker per (file, context, threads) per process: every chat model on the same file shares it."""
    key = (str(Path(model_path).resolve()), n_ctx, threads)
    with _WORKERS_LOCK:
        if key not in _WORKERS:
            _WORKERS[key] = LlamaWorker(model_path, n_ctx, threads, processes=processes)
        return _WORKERS[key]


def shared_workers() -> list[LlamaWorker]:
    """The shared workers of this process (the benchmark reads their memory)."""
    with _WORKERS_LOCK:
        return list(_WORKERS.values())


# ---- the worker process ------------------------------------------------------------------------------------


class _RefusalGate:
    """A llama.cpp logits processor: on the first token, the probability of the refusal's first token, and the
    decision (refuse: only that token is allowed; answer: it is banned)."""

    def __init__(self, llama, refusal_text: str, threshold: float | None) -> None:
        self.token = llama.tokenize(refusal_text.encode(), add_bos=False, special=False)[0] if refusal_text else None
        self.threshold = threshold
        self.probability: float | None = None

    def __call__(self, input_ids, scores):
        import numpy as np

        if self.probability is None and self.token is not None:
            top = float(scores.max())
            weights = np.exp(scores - top)
            self.probability = float(weights[self.token] / weights.sum())
            if self.threshold is not None:
                if self.probability >= self.threshold:
                    keep = scores[self.token]
                    scores[:] = -np.inf
                    scores[self.token] = keep
                else:
                    scores[self.token] = -np.inf
        return scores


def _load(model_path: str, n_ctx: int, threads: int):
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise GeneratorError(f"llama-cpp-python is not installed ({exc}): run `bash scripts/setup.sh`") from exc
    try:
        return Llama(model_path=model_path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512,
                     verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise GeneratorError(f"llama.cpp could not load {model_path} ({exc}): check that it is a GGUF chat "
                             f"model, or use --model {' / '.join(MODELS)}") from exc


def _answer(llama, request: dict, send) -> int:
    """Stream one answer; the number of tokens llama.cpp evaluated for it."""
    gate = _RefusalGate(llama, request.get("refusal_text") or "", request.get("refusal_threshold"))
    crash_word = os.environ.get(CRASH_ENV)
    crash = bool(crash_word) and crash_word in str(request["messages"][-1].get("content", ""))
    evaluated = [0]
    llama_eval = llama.eval

    def counting_eval(tokens):  # llama.cpp reads only what is not in its KV cache: count it
        evaluated[0] += len(tokens)
        return llama_eval(tokens)

    llama.eval = counting_eval
    try:
        _generate(llama, request, gate, send, crash)
    finally:
        llama.eval = llama_eval
    return evaluated[0]


def _generate(llama, request: dict, gate: _RefusalGate, send, crash: bool) -> None:
    pieces = 0
    for part in llama.create_chat_completion(request["messages"], stream=True, stop=request.get("stop"),
                                             max_tokens=request["max_tokens"], temperature=request["temperature"],
                                             seed=0, logits_processor=[gate]):
        text = part["choices"][0]["delta"].get("content")
        if not text:
            continue
        piece = {"text": text}
        if pieces == 0 and gate.probability is not None:
            piece["refusal_probability"] = gate.probability
        send(piece)
        pieces += 1
        if crash and pieces == 2:
            os.kill(os.getpid(), signal.SIGSEGV)


def worker_main(model_path: str, n_ctx: int, threads: int) -> int:
    # The protocol gets its own copy of stdout; fd 1 goes to stderr, so nothing native writes into the protocol.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)

    def send(message: dict) -> None:
        out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")

    try:
        llama = _load(model_path, n_ctx, threads)
    except GeneratorError as exc:
        send({"error": str(exc)})
        return 0
    send({"ready": True})
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            evaluated = _answer(llama, json.loads(line), send)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker keeps serving
            send({"error": f"the local model failed while answering ({type(exc).__name__}: {str(exc)[:200]}); "
                           "try again, or run `rag doctor`"})
            continue
        send({"done": True, "evaluated_tokens": evaluated})
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
