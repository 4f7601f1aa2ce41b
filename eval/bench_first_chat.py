"""A newcomer's first chat: minutes from `git clone` to answers, as the README's first command gives them.

    python eval/bench_first_chat.py [--out eval/bench_first_chat.md] [--keep]

Clones this repository's committed state into a temporary folder and runs the README's first command there,
`bash scripts/setup.sh && .venv/bin/rag serve`, with a home folder of its own (so no pip cache, no wheel cache, no
model wheels: what a fresh machine downloads and builds, it downloads and builds here too). Then, through the
server's HTTP API as a browser's chat does: the time until the server answers a Vietnamese seed question, an
English question asked at once (while the local model may still be setting up in the background), the time
until that set-up is done (llama.cpp compiled, the GGUF files assembled), and an English answer after it, which
needs the local model. Times are from the
start of the clone; each answer's reply is recorded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_load import endpoint, free_port, last_reply, wait_up  # noqa: E402
from common import commit, cpu_name  # noqa: E402

VI = "Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra ở đâu?"
# Its span is words no rule writes in English: the local model renders them.
EN = "What did Japan commit to the Mekong countries?"


def ask(url: str, question: str) -> tuple[float, str]:
    from gradio_client import Client

    t0 = time.perf_counter()
    client = Client(url, verbose=False)
    reply = last_reply(client.predict(question, "auto", "local", "1.5b", 5, api_name=endpoint(client)))
    return time.perf_counter() - t0, reply


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="markdown report (default: print only)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone (its .venv, models, logs)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds for the whole run")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="first-chat-"))
    home, clone = tmp / "home", tmp / "clone"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "XDG_CACHE", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    log = open(tmp / "setup-and-serve.log", "w")
    proc = subprocess.Popen(["bash", "-c", f"bash scripts/setup.sh && exec .venv/bin/rag serve --port {port}"],
                            cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True, errors="replace")

    def stamp_lines() -> None:  # every line with its second from the start of the clone
        for line in proc.stdout:
            log.write(f"{time.perf_counter() - t0:4.0f} {line}")
            log.flush()

    threading.Thread(target=stamp_lines, daemon=True).start()
    rows: list[tuple[str, float, str]] = []
    try:
        wait_up(url, proc, args.timeout)
        rows.append(("chat page served", time.perf_counter() - t0, ""))
        seconds, reply = ask(url, VI)
        rows.append((f"Vietnamese answer ({seconds:.1f} s)", time.perf_counter() - t0, reply))
        seconds, reply = ask(url, EN)
        rows.append((f"English answer at once ({seconds:.1f} s)", time.perf_counter() - t0, reply))
        status = clone / ".venv" / "local-model.status"
        while time.perf_counter() - t0 < args.timeout:
            text = status.read_text().strip() if status.exists() else ""
            if text == "done" or text.startswith("failed"):
                break
            time.sleep(2)
        rows.append((f"the local model's background set-up: {text}", time.perf_counter() - t0, ""))
        seconds, reply = ask(url, EN)
        rows.append((f"English answer after it ({seconds:.1f} s, model load included)", time.perf_counter() - t0,
                     reply))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [f"# A newcomer's first chat (eval/bench_first_chat.py)", "",
             f"Code {commit()}; {cpu_name()}, {os.cpu_count()} cores; load average before "
             f"{load_before[0]:.2f}; a fresh clone and home folder (no pip, wheel or model cache); "
             f"{time.strftime('%Y-%m-%d')}.", "",
             "| step | minutes from clone | reply |", "|---|---|---|"]
    for what, at, reply in rows:
        lines.append(f"| {what} | {at / 60:.1f} | {' '.join(reply.split())[:160].replace('|', '/')} |")
    lines += ["", "Set-up's own lines, with seconds from the start of the clone:", "", "```"]
    lines += [ln for ln in (tmp / "setup-and-serve.log").read_text(errors="replace").splitlines()
              if ln[5:].startswith(("setup:", "ok ", "warn", "fail"))][:40]
    lines.append("```")
    text = "\n".join(lines) + "\n"
    log.close()
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.keep:
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
