"""Load benchmark: N people asking at once through the real HTTP API of a started `rag serve`.

    python eval/bench_load.py [--clients 20] [--time-limit 300] [--out eval/bench_load.md] [-- SERVE ARGS...]

Starts `rag serve` on a free loopback port (default settings unless SERVE ARGS say otherwise, e.g.
`-- --index /tmp/idx`), waits until it answers, asks one warm-up question per language, then waits until the
server is idle (the local model loads and reads its fixed prompt prefix in the background after a start: before
2026-12-06 15:10 UTC that warm-up could still be running when the clients started, and the English answers that
needed the model waited for it), then starts the clients together: half ask Vietnamese questions, half English
(eval/qa.jsonl, answerable ones, in file order), each its own gradio_client session, one question each. Every
client has the same deadline (--time-limit seconds after the start). Per language: p50/p95 of the time from
submit to the final answer; answered, busy (the server's "busy, try again" refusal), errors (any other error
message or exception) and dropped (no final answer by the deadline). The server's peak memory is the largest
sum of the resident memory of the server and its child processes (the llama.cpp worker) sampled every 0.2 s.
A login is used when RAG_UI_USER and RAG_UI_PASSWORD are set (they are passed to the server too).

The clients run on the server's machine and share its cores. `--client gradio` (the default) is one
gradio_client.Client each, as the figures before were taken: on 2 cores they took 1.2 s of CPU for 20 questions
(2026-12-06). `--client http` asks through Gradio's plain HTTP API (POST /gradio_api/call/NAME, then its event
stream) with one httpx client each, a browser's share of work, so the figures are closer to the server's own.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import commit, cpu_name, pct_nearest  # noqa: E402

QA = HERE / "qa.jsonl"
BUSY_MARK = "busy"  # the server's refusal when too many questions wait (ui/session.py's BusyError)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def questions(n: int) -> list[tuple[str, str]]:
    """n questions, alternating Vietnamese and English (n // 2 + n % 2 Vietnamese)."""
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_lang = {lang: [r["question"] for r in rows if r["lang"] == lang and r.get("answerable", True)]
               for lang in ("vi", "en")}
    out = []
    for i in range(n):
        lang = "vi" if i % 2 == 0 else "en"
        pool = by_lang[lang]
        out.append((lang, pool[(i // 2) % len(pool)]))
    return out


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (those still running)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, MB."""
    total = 0.0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except (OSError, ValueError):
            continue
    return total


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) used so far by `pid` and its descendants."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def wait_idle(pid: int, timeout_s: float = 180.0) -> float:
    """Wait until the server and its children used under 0.05 s of CPU in a second (the local model's own
    warm-up, reading its prompt prefix in the background, is over); the seconds waited."""
    t0 = time.perf_counter()
    before = tree_cpu_s(pid)
    while time.perf_counter() - t0 < timeout_s:
        time.sleep(1.0)
        now = tree_cpu_s(pid)
        if now - before < 0.05:
            break
        before = now
    return time.perf_counter() - t0


class MemorySampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            self._done.wait(0.2)

    def stop(self) -> float:
        self._done.set()
        self.join(2)
        return self.peak


def endpoint(client) -> str:
    """The chat's API name: /ask, or /respond before it was named."""
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    for name in ("/ask", "/respond"):
        if name in names:
            return name
    raise SystemExit(f"no /ask or /respond endpoint among {sorted(names)}")


def last_reply(result) -> str:
    """The answer /ask returns (a string), or the last chat message /respond returned."""
    if isinstance(result, str):
        return result
    messages = result[0] if isinstance(result, (list, tuple)) and result else []
    replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    content = replies[-1].get("content") if replies else ""
    if isinstance(content, list):  # Gradio 6 message content: a list of text parts
        content = " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def classify(reply: str) -> str:
    if "total " in reply and not reply.startswith("⚠"):
        return "answered"
    if reply.startswith("⚠") and BUSY_MARK in reply:
        return "busy"
    return "error"


class HttpAsker:
    """One client of Gradio's HTTP API: a question in, the endpoint's reply out (what gradio_client's submit and
    result do, without its threads and polling)."""

    def __init__(self, url: str, auth, api: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=None)
        if auth:
            self.http.post("login", data={"username": auth[0], "password": auth[1]}).raise_for_status()
        self.path = "gradio_api/call" + api

    def ask(self, *data, timeout: float) -> str:
        reply = self.http.post(self.path, json={"data": list(data)}, timeout=timeout)
        reply.raise_for_status()
        event = None
        with self.http.stream("GET", f"{self.path}/{reply.json()['event_id']}", timeout=timeout) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event in ("complete", "error"):
                    payload = json.loads(line[len("data: "):])
                    if event == "error":
                        raise RuntimeError(f"the server's error event: {payload}")
                    return last_reply(payload[0] if isinstance(payload, list) and len(payload) == 1 else payload)
        raise RuntimeError("the event stream ended without an answer")


def run_clients(url: str, auth, api: str, qs: list[tuple[str, str]], deadline_s: float, args) -> list[dict]:
    """Every client asks its question at once through `api` (the chat's endpoint name)."""
    import httpx
    from gradio_client import Client

    results: list[dict] = [{} for _ in qs]
    if args.client == "http":
        askers = [HttpAsker(url, auth, api) for _ in qs]
        ask = [lambda *data, a=a, timeout: a.ask(*data, timeout=timeout) for a in askers]
    else:
        clients = [Client(url, auth=auth, verbose=False) for _ in qs]
        ask = [lambda *data, c=c, timeout: c.submit(*data, api_name=api).result(timeout=timeout) for c in clients]
    start = threading.Barrier(len(qs) + 1)

    def one(i: int) -> None:
        lang, q = qs[i]
        row = results[i]
        row.update(lang=lang, question=q, outcome="dropped", seconds=None, reply="")
        start.wait()
        t0 = time.perf_counter()
        try:
            result = ask[i](q, "auto", args.backend, args.model, args.k,
                            timeout=max(1.0, t_end - time.perf_counter()))
            row["reply"] = last_reply(result)
            row["outcome"] = classify(row["reply"])
            row["seconds"] = time.perf_counter() - t0
        except (TimeoutError, httpx.TimeoutException):
            row["outcome"] = "dropped"
        except Exception as exc:  # noqa: BLE001 - counted and shown
            text = f"{type(exc).__name__}: {exc}"
            row["reply"] = text[:300]
            row["outcome"] = "busy" if BUSY_MARK in text.lower() else "error"
            row["seconds"] = time.perf_counter() - t0

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(qs))]
    for t in threads:
        t.start()
    t_end = time.perf_counter() + deadline_s
    start.wait()
    for t in threads:
        t.join(max(0.0, t_end - time.perf_counter()) + 5)
    return results


def wait_up(url: str, proc: subprocess.Popen, timeout: float) -> None:
    import urllib.request

    t_end = time.time() + timeout
    while time.time() < t_end:
        if proc.poll() is not None:
            raise SystemExit(f"rag serve exited with {proc.returncode} before it answered")
        try:
            urllib.request.urlopen(url + "config", timeout=2)
            return
        except OSError as exc:
            if getattr(exc, "code", None) == 401:  # up, behind its login
                return
            time.sleep(0.5)
    raise SystemExit(f"rag serve did not answer at {url} within {timeout:.0f} s")


def summary(rows: list[dict]) -> dict:
    out = {}
    for lang in ("vi", "en"):
        mine = [r for r in rows if r["lang"] == lang]
        times = [r["seconds"] for r in mine if r["outcome"] == "answered"]
        out[lang] = {"clients": len(mine), "answered": len(times),
                     "busy": sum(r["outcome"] == "busy" for r in mine),
                     "errors": sum(r["outcome"] == "error" for r in mine),
                     "dropped": sum(r["outcome"] == "dropped" for r in mine),
                     "p50_s": pct_nearest(times, 50), "p95_s": pct_nearest(times, 95), "max_s": max(times) if times else None}
    return out


def markdown(report: dict) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    load = " / ".join(f"{x:.1f}" for x in report["load_before"])
    lines = [f"`{report['command']}` · {report['machine']} ({report['cores']} cores) · {report['date']} · "
             f"code {report['code']} · load average before the run {load} (1/5/15 min)", "",
             "| questions | clients | answered | p50 (s) | p95 (s) | max (s) | busy | errors | dropped |",
             "|---|---|---|---|---|---|---|---|---|"]
    names = {"vi": "Vietnamese (no model)", "en": "English (local model)"}
    for lang, s in report["languages"].items():
        lines.append(f"| {names[lang]} | {s['clients']} | {s['answered']} | {fmt(s['p50_s'])} | {fmt(s['p95_s'])} | "
                     f"{fmt(s['max_s'])} | {s['busy']} | {s['errors']} | {s['dropped']} |")
    lines += ["", f"Server peak memory (server and its llama.cpp worker, resident): {report['peak_memory_mb']:,.0f} MB; "
              f"wall time of the run {report['wall_s']:.1f} s (limit {report['time_limit_s']:.0f} s); the clients "
              f"started after the server was idle ({report['idle_wait_s']:.1f} s after the warm-up questions)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds every client may wait")
    parser.add_argument("--backend", default="local")
    parser.add_argument("--model", default="1.5b")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--client", choices=("gradio", "http"), default="gradio",
                        help="gradio_client.Client per client (default), or Gradio's plain HTTP API")
    parser.add_argument("--out", type=Path, default=None, help="markdown table (default: print only)")
    parser.add_argument("--json", type=Path, default=None, help="every client's row")
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("serve_args", nargs="*", help="after --: more `rag serve` arguments")
    args = parser.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    auth = (os.environ["RAG_UI_USER"], os.environ["RAG_UI_PASSWORD"]) \
        if os.environ.get("RAG_UI_USER") and os.environ.get("RAG_UI_PASSWORD") else None
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *args.serve_args]
    log = open(os.environ.get("BENCH_LOAD_LOG", os.devnull), "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(url, proc, args.startup_timeout)
        sampler = MemorySampler(proc.pid)
        sampler.start()
        from gradio_client import Client

        warm = Client(url, auth=auth, verbose=False)
        api = endpoint(warm)
        for q in (questions(2)):
            warm.predict(q[1], "auto", args.backend, args.model, args.k, api_name=api)
        idle_wait = wait_idle(proc.pid)
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        rows = run_clients(url, auth, api, questions(args.clients), args.time_limit, args)
        wall = time.perf_counter() - t0
        peak = sampler.stop()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    extra = (" -- " + " ".join(args.serve_args)) if args.serve_args else ""
    client = " --client http" if args.client == "http" else ""
    report = {"command": f"python eval/bench_load.py --clients {args.clients} --time-limit {args.time_limit:.0f}{client}{extra}",
              "machine": cpu_name(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "code": commit(),
              "idle_wait_s": idle_wait, "load_before": load_before, "languages": summary(rows),
              "peak_memory_mb": peak, "wall_s": wall, "time_limit_s": args.time_limit}
    text = markdown(report)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({**report, "rows": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    bad = sum(s["errors"] + s["dropped"] for s in report["languages"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
