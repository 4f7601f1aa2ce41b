"""The real worker loop (rag.models.worker.serve) around a fake model, for fast tests.

The fake writes the words of the last message, one piece a word and a step, the answers in progress taking turns
as the real engine's do (rag/models/batched.py); "hang" in it makes it stop answering, "fail" makes it raise
mid-answer, "exit" makes the worker exit with code 3. The model path "missing.gguf" is a load error.
"""

import os
import sys
import time

from rag.errors import GeneratorError
from rag.models import worker as llm_worker


class FakeEngine:
    def __init__(self):
        self.answers = {}  # id -> [words left to write, words read, pieces sent]

    @property
    def busy(self):
        return bool(self.answers)

    def submit(self, rid, request):
        words = request["messages"][-1]["content"].split()
        self.answers[rid] = [words[:request["max_tokens"]], len(words), 0]

    def cancel(self, rid):
        self.answers.pop(rid, None)

    def fail_all(self, message):
        out = [(rid, {"error": message}) for rid in self.answers]
        self.answers.clear()
        return out

    def step(self):
        out = []
        for rid, (words, read, sent) in list(self.answers.items()):
            if not words:
                out.append((rid, {"done": True, "evaluated_tokens": read}))  # "reads the prompt": a token a word
                del self.answers[rid]
                continue
            word = words.pop(0)
            if word == "hang":
                time.sleep(60)
            if word == "fail":
                raise RuntimeError("the fake model failed")
            if word == "exit":
                sys.stderr.write("the fake worker gives up\n")
                sys.stderr.flush()
                os._exit(3)
            out.append((rid, {"text": word if sent == 0 else " " + word}))
            self.answers[rid][2] += 1
        time.sleep(0.01)
        return out


def fake_load(model_path, n_ctx, threads, parallel):
    if model_path.endswith("missing.gguf"):
        raise GeneratorError(f"llama.cpp could not load {model_path} (fake)")
    return FakeEngine()


if __name__ == "__main__":
    llm_worker._load = fake_load
    sys.exit(llm_worker.worker_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
