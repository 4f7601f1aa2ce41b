"""The README's screenshot: `rag serve` with its defaults (local 1.5B model), once it has warmed up, asked one
question in Chromium.

    .venv/bin/python scripts/screenshot.py [--question "..."] [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--question", default="Hội nghị Bộ trưởng Ngoại giao Mekong - Nhật Bản lần thứ 16 diễn ra ở đâu và khi nào?")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    ap.add_argument("--wait", type=float, default=20, help="seconds to let the server warm its model up first")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "rag"), "serve", "--port", str(port)], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            page.goto(url)
            page.wait_for_selector("#question textarea")
            time.sleep(args.wait)
            page.fill("#question textarea", args.question)
            page.press("#question textarea", "Enter")
            page.wait_for_function("""() => { const b = document.querySelectorAll('#chat [data-testid="bot"]');
                                     return b.length && /total \\d/.test(b[b.length - 1].innerText); }""")
            time.sleep(1)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=False)
            browser.close()
        print(args.out)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
