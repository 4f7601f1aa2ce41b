"""The local model in a worker process of its own.

llama.cpp is native code: a crash in it (SIGSEGV from a CPU kernel, an abort, the kernel's OOM killer) would
end whatever process it runs in. So the model runs in a child process (`python -m rag.models.worker`), which
loads the GGUF once and keeps it, with llama.cpp's KV cache: the fixed prompt prefix is read once per worker, not
per question. Answers asked at the same time are written together (rag/models/batched.py: one forward pass writes
the next token of each). The parent talks to it over pipes, one JSON object a line, each request with an id:

    parent -> worker  {"id": n, "messages": [...], "max_tokens": n, "temperature": t, "stop": [...] | null,
                       "refusal_text": "...", "refusal_threshold": p | null}
                      {"cancel": n}: nobody reads that answer any more
    worker -> parent  {"ready": true} once loaded, or {"error": "..."} if the model cannot load;
                      then per request {"id": n, "text": "...", "refusal_probability": p?} pieces and
                      {"id": n, "done": true, "evaluated_tokens": k} (k: tokens llama.cpp had to read for it, the
                      prompt tokens not in its KV cache plus the generated ones), or {"id": n, "error": "..."}.

A thread in the parent hands each message to the answer it belongs to. When the worker dies, every answer in
progress fails with WorkerCrashedError, a one-line message that names the signal and says what to do; the next
request starts a new worker. Only the child imports llama_cpp.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import queue
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

    Any number of threads may stream answers at once: the worker writes them together, a few at a time
    (rag/models/batched.py). `command` replaces the worker's command line (tests pass a fake worker)."""

    def __init__(self, model_path: str | Path, n_ctx: int, threads: int, timeout_s: float = 300.0,
                 command: list[str] | None = None, processes: int = 0, parallel: int = 4) -> None:
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.threads = threads
        self.timeout_s = timeout_s  # the worker silent this long while an answer waits: it is stopped
        self.processes = processes  # model processes this machine allows (rag/models/slots.py; 0: any)
        self.needs_llama = command is None  # the real worker imports llama_cpp; a test's fake one does not
        self.command = command or [sys.executable, "-m", "rag.models.worker", self.model_path, str(n_ctx),
                                   str(threads), str(parallel)]
        self.lock = threading.Lock()  # starting and stopping the process, writing to it
        self.starts = 0
        self.last_done: dict = {}  # the last "done" message of any answer (evaluated_tokens)
        self._proc: subprocess.Popen | None = None
        self._buffer = b""
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[subprocess.Popen, queue.SimpleQueue]] = {}  # id -> its process, its inbox
        self._heard = 0.0  # when the worker last said anything
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
        reply = self._read_ready()
        if "error" in reply:
            self._stop()
            raise GeneratorError(reply["error"])
        self._heard = time.monotonic()
        threading.Thread(target=self._dispatch, args=(self._proc, self._buffer), daemon=True).start()

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                self._stderr.append(text)

    def _read_ready(self) -> dict:
        """The worker's first message, once its model is loaded; a worker that died or hung is a one-line error."""
        proc = self._proc
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self._stop()
                raise WorkerCrashedError(self._hung_message())
            data = os.read(fd, 65536)
            if not data:
                code = proc.wait()
                self._proc = None
                raise WorkerCrashedError(self._crash_message(code, "while loading"))
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _hung_message(self) -> str:
        return (f"the local model gave no answer within {self.timeout_s:.0f} s and was stopped; the next question "
                "starts it again; run `rag doctor` to check the model and its llama.cpp build")

    def _crash_message(self, code: int, what: str) -> str:
        return (f"the local model crashed ({describe_exit(code)}{self._last_words(code)}) {what}; the next question "
                "starts it again; run `rag doctor` to check the llama.cpp build and the model file")

    def _dispatch(self, proc: subprocess.Popen, buffer: bytes) -> None:
        """Hand each of the worker's messages to the answer it belongs to; when the worker ends, every answer
        still waiting on it gets the crash as its error."""
        fd = proc.stdout.fileno()
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                self._heard = time.monotonic()
                waiting = self._waiting.get(message.get("id"))
                if waiting is not None:
                    waiting[1].put(message)
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
        code = proc.wait()
        with self.lock:
            if self._proc is proc:
                self._proc = None
            ended = [inbox for owner, inbox in self._waiting.values() if owner is proc]
        if ended:
            error = WorkerCrashedError(self._crash_message(code, "while answering"))
            for inbox in ended:
                inbox.put(error)

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
        rid = next(self._ids)
        request = {"id": rid, "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                   "stop": stop, "refusal_text": refusal_text, "refusal_threshold": refusal_threshold}
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self.lock:
            self._ensure_started()
            proc = self._proc
            self._waiting[rid] = (proc, inbox)
            self._send(proc, request)
        asked = time.monotonic()
        done = False
        try:
            while True:
                try:
                    message = inbox.get(timeout=min(1.0, self.timeout_s))
                except queue.Empty:
                    if time.monotonic() - max(self._heard, asked) > self.timeout_s:
                        done = True
                        self._kill(proc)
                        raise WorkerCrashedError(self._hung_message())
                    continue
                if isinstance(message, WorkerCrashedError):  # one error for every answer: each raises its own
                    done = True
                    raise WorkerCrashedError(str(message))
                if message.get("done"):
                    done = True
                    self.last_done = {k: v for k, v in message.items() if k != "id"}
                    return
                if "error" in message:
                    done = True
                    raise GeneratorError(message["error"])
                yield {k: v for k, v in message.items() if k != "id"}
        finally:
            self._waiting.pop(rid, None)
            if not done:  # nobody reads the rest: the worker stops writing it
                with self.lock:
                    if self._proc is proc:
                        self._send(proc, {"cancel": rid})

    def _send(self, proc: subprocess.Popen, message: dict) -> None:
        try:
            proc.stdin.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker died just now: its messages' end says how

    def _kill(self, proc: subprocess.Popen) -> None:
        with self.lock:
            if self._proc is proc:
                self._proc = None
        if proc.poll() is None:
            proc.kill()
            proc.wait()

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


def shared_worker(model_path: str | Path, n_ctx: int, threads: int, processes: int, parallel: int) -> LlamaWorker:
    """One worker per (file, context, threads, answers at once) per process: every chat model on the same file
    shares it."""
    key = (str(Path(model_path).resolve()), n_ctx, threads, parallel)
    with _WORKERS_LOCK:
        if key not in _WORKERS:
            _WORKERS[key] = LlamaWorker(model_path, n_ctx, threads, processes=processes, parallel=parallel)
        return _WORKERS[key]


def shared_workers() -> list[LlamaWorker]:
    """The shared workers of this process (the benchmark reads their memory)."""
    with _WORKERS_LOCK:
        return list(_WORKERS.values())


# ---- the worker process ------------------------------------------------------------------------------------


def _load(model_path: str, n_ctx: int, threads: int, parallel: int):
    """The model, ready to write answers together (rag/models/batched.py)."""
    try:
        from llama_cpp import Llama

        from rag.models.batched import BatchedDecoder
    except ImportError as exc:
        raise GeneratorError(f"llama-cpp-python is not installed ({exc}): run `bash scripts/setup.sh`") from exc
    try:
        llama = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512,
                      verbose=False)
        return BatchedDecoder(llama, parallel)
    except (ValueError, RuntimeError, OSError) as exc:
        raise GeneratorError(f"llama.cpp could not load {model_path} ({exc}): check that it is a GGUF chat "
                             f"model, or use --model {' / '.join(MODELS)}") from exc


def _failed(exc: Exception) -> str:
    return (f"the local model failed while answering ({type(exc).__name__}: {str(exc)[:200]}); try again, or run "
            "`rag doctor`")


def serve(engine, fd: int, send) -> None:
    """Take requests from `fd` and write their answers with `engine` (submit, cancel, step, busy, fail_all), a
    step at a time, reading new requests between steps; until the input closes."""
    crash_word = os.environ.get(CRASH_ENV)
    crashing: dict[object, int] = {}  # tests: requests that end the worker after two pieces, and pieces sent
    buffer = b""
    while True:
        if select.select([fd], [], [], 0 if engine.busy else None)[0]:
            data = os.read(fd, 65536)
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                request = json.loads(line)
                if "cancel" in request:
                    engine.cancel(request["cancel"])
                    crashing.pop(request["cancel"], None)
                    continue
                try:
                    engine.submit(request["id"], request)
                except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker keeps serving
                    send({"id": request["id"], "error": _failed(exc)})
                    continue
                if crash_word and crash_word in str(request["messages"][-1].get("content", "")):
                    crashing[request["id"]] = 0
        if not engine.busy:
            continue
        try:
            messages = engine.step()
        except Exception as exc:  # noqa: BLE001 - every answer in progress is told; the worker keeps serving
            messages = engine.fail_all(_failed(exc))
        for rid, message in messages:
            send(dict(message, id=rid))
            if rid in crashing and "text" in message:
                crashing[rid] += 1
                if crashing[rid] == 2:
                    os.kill(os.getpid(), signal.SIGSEGV)


def worker_main(model_path: str, n_ctx: int, threads: int, parallel: int) -> int:
    # The protocol gets its own copy of stdout; fd 1 goes to stderr, so nothing native writes into the protocol.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)

    def send(message: dict) -> None:
        out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")

    try:
        engine = _load(model_path, n_ctx, threads, parallel)
    except GeneratorError as exc:
        send({"error": str(exc)})
        return 0
    send({"ready": True})
    serve(engine, sys.stdin.fileno(), send)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
