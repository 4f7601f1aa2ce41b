"""The real worker loop (rag.models.worker.worker_main) around a fake llama.cpp model, for fast tests.

The fake answers with the words of the last message, one piece a word; "hang" in it makes it stop answering,
"fail" makes it raise mid-answer, "exit" makes the worker exit with code 3. The model path "missing.gguf" is a load error.
"""

import os
import sys
import time

from rag.errors import GeneratorError
from rag.models import worker as llm_worker


class FakeLlama:
    def tokenize(self, text, add_bos=False, special=False):
        return [1]

    def eval(self, tokens):
        pass

    def create_chat_completion(self, messages, stream, stop, max_tokens, temperature, seed, logits_processor):
        words = messages[-1]["content"].split()
        self.eval(words)  # "reads the prompt": a token a word
        for i, word in enumerate(words[:max_tokens]):
            if word == "hang":
                time.sleep(60)
            if word == "fail":
                raise RuntimeError("the fake model failed")
            if word == "exit":
                sys.stderr.write("the fake worker gives up\n")
                sys.stderr.flush()
                os._exit(3)
            yield {"choices": [{"delta": {"content": word if i == 0 else " " + word}}]}


def fake_load(model_path, n_ctx, threads):
    if model_path.endswith("missing.gguf"):
        raise GeneratorError(f"llama.cpp could not load {model_path} (fake)")
    return FakeLlama()


if __name__ == "__main__":
    llm_worker._load = fake_load
    sys.exit(llm_worker.worker_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
