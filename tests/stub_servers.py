"""Small local HTTP servers that speak the OpenAI chat-completions and Ollama chat APIs, for backend tests."""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator


def _handler(reply: Callable[[str, str], str], seen: list[dict]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"{}")

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            msgs = body.get("messages", [])
            system = "\n".join(m["content"] for m in msgs[:-1])
            user = msgs[-1]["content"] if msgs else ""
            pieces = re.findall(r"\S+\s*", reply(system, user))
            if self.path.endswith("/chat/completions"):
                self._openai(body, pieces)
            elif self.path == "/api/chat":
                self._ollama(body, pieces)
            else:
                self.send_error(404)

        def _openai(self, body: dict, pieces: list[str]) -> None:
            base = {"id": "stub-1", "created": 0, "model": body.get("model", "stub")}
            if not body.get("stream"):
                msg = {**base, "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": "".join(pieces)}}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                data = json.dumps(msg).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, p in enumerate(pieces + [None]):
                delta = {"role": "assistant", "content": p} if p is not None else {}
                chunk = {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None if p is not None else "stop"}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _ollama(self, body: dict, pieces: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            for p in pieces:
                line = {"model": body.get("model"), "created_at": "2026-11-24T00:00:00Z",
                        "message": {"role": "assistant", "content": p}, "done": False}
                self.wfile.write((json.dumps(line) + "\n").encode())
                self.wfile.flush()
            end = {"model": body.get("model"), "created_at": "2026-11-24T00:00:00Z",
                   "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                   "total_duration": 1, "prompt_eval_count": 1, "eval_count": len(pieces)}
            self.wfile.write((json.dumps(end) + "\n").encode())
            self.wfile.flush()

    return Handler


@contextmanager
def chat_server(reply: Callable[[str, str], str]) -> Iterator[tuple[str, list[dict]]]:
    """A server on 127.0.0.1 answering with `reply(system, user)`; yields its base URL and the requests it saw."""
    seen: list[dict] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(reply, seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
