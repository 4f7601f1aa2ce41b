"""(question, context) -> model inputs: the question's tokens and a window of the context's, with each context
token's character span, so that a predicted span maps back to the words of the context.

The layout is XLM-R's pair layout, written out here so that training and reading build it the same way:
<s> question </s></s> context window </s>. A context longer than one window is read in overlapping windows
(`stride` tokens shared), as the SQuAD readers do; a window that does not hold the answer is a no-answer
example (its label is position 0, <s>).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class Encoded:
    """A question and one window of its context, tokenised."""

    ids: list[int]
    offsets: list[tuple[int, int] | None]  # a context token's characters in the context; None elsewhere
    context_start: int  # index of the window's first context token
    start: int = 0  # answer's first token (0: no answer in this window)
    end: int = 0


class Featurizer:
    """Tokenises with the base model's tokenizer.json (the `tokenizers` library, loaded on first use)."""

    def __init__(self, tokenizer_file: Path, max_length: int = 256, stride: int = 64) -> None:
        if max_length < MAX_QUESTION_TOKENS + 32:
            raise ValueError(f"max_length {max_length} leaves no room for the context")
        self.tokenizer_file = Path(tokenizer_file)
        self.max_length = max_length
        self.stride = stride
        self._tok = None

    @property
    def tokenizer(self):
        if self._tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.tokenizer_file))
            tok.no_truncation()
            tok.no_padding()
            self._tok = tok
            vocab = tok.get_vocab()
            self.bos, self.eos, self.pad, self.unk = vocab["<s>"], vocab["</s>"], vocab["<pad>"], vocab["<unk>"]
        return self._tok

    def _encode(self, texts: list[str]):
        return self.tokenizer.encode_batch(texts, add_special_tokens=False)

    def windows_batch(self, questions: list[str], contexts: list[str],
                      answers: list[tuple[int, int]] | None = None) -> list[list[Encoded]]:
        q_enc = self._encode(questions)
        c_enc = self._encode(contexts)
        out = []
        for i, (q, c) in enumerate(zip(q_enc, c_enc)):
            a_start, a_end = answers[i] if answers else (-1, -1)
            q_ids = q.ids[:MAX_QUESTION_TOKENS]
            head = [self.bos, *q_ids, self.eos, self.eos]
            room = self.max_length - len(head) - 1
            c_ids, c_off = c.ids, c.offsets
            wins = []
            first = 0
            while True:
                last = min(first + room, len(c_ids))
                ids = head + c_ids[first:last] + [self.eos]
                offsets = [None] * len(head) + [tuple(o) for o in c_off[first:last]] + [None]
                s = e = 0
                if a_start >= 0:
                    toks = [k for k in range(first, last) if c_off[k][0] < a_end and c_off[k][1] > a_start]
                    if toks and c_off[toks[0]][0] <= a_start and c_off[toks[-1]][1] >= a_end:
                        s, e = len(head) + toks[0] - first, len(head) + toks[-1] - first
                wins.append(Encoded(ids, offsets, len(head), s, e))
                if last >= len(c_ids):
                    break
                first = last - self.stride
            out.append(wins)
        return out


def pad_batch(windows: list[Encoded], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(input ids, attention mask) as int64 arrays padded to the longest window."""
    n = max(len(w.ids) for w in windows)
    ids = np.full((len(windows), n), pad, dtype=np.int64)
    mask = np.zeros((len(windows), n), dtype=np.int64)
    for i, w in enumerate(windows):
        ids[i, :len(w.ids)] = w.ids
        mask[i, :len(w.ids)] = 1
    return ids, mask
