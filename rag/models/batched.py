"""Several answers decoded together by one llama.cpp context (continuous batching), in the worker process.

On a CPU, writing a token is bound by reading the model's weights from memory, so one forward pass that writes
the next token of four answers costs little more than one that writes one answer's. The engine keeps up to
`slots` sequences in one KV cache (unified: a cell can belong to several sequences) and, each step, decodes one
batch holding the next token of every answer being written and as much of the waiting prompts as fits. A new
prompt starts from the longest prefix any sequence has already read (the fixed system prompt and worked
examples), copied in the cache, not read again.

Decoding is greedy at temperature 0, as llama-cpp-python's own completion is (repeat penalty 1.0): the same
prompt gives the same answer, alone or beside others, up to the rounding of batched matrix products. Above 0 it
samples from the top-k / top-p / min-p candidates with a seeded generator.

    engine.submit(rid, request)   # the worker protocol's request (rag/models/worker.py)
    engine.cancel(rid)
    for rid, message in engine.step(): ...   # {"text": ...} pieces, then {"done": True, ...} or {"error": ...}
"""

from __future__ import annotations

import codecs
import ctypes
from dataclasses import dataclass, field

import numpy as np


class RefusalGate:
    """On the first token: the probability of the refusal's first token, and the decision (refuse: only that
    token is allowed; answer: it is banned). No text or no threshold: nothing is decided."""

    def __init__(self, llama, refusal_text: str, threshold: float | None) -> None:
        self.token = llama.tokenize(refusal_text.encode(), add_bos=False, special=False)[0] if refusal_text else None
        self.threshold = threshold
        self.probability: float | None = None

    def __call__(self, scores: np.ndarray) -> None:
        if self.token is None:
            return
        weights = np.exp(scores - float(scores.max()))
        self.probability = float(weights[self.token] / weights.sum())
        if self.threshold is not None:
            if self.probability >= self.threshold:
                keep = scores[self.token]
                scores[:] = -np.inf
                scores[self.token] = keep
            else:
                scores[self.token] = -np.inf


@dataclass
class _Sequence:
    rid: object
    prompt: list[int]
    max_tokens: int
    stop: list[str]
    temperature: float
    gate: RefusalGate
    slot: int = -1
    read: int = 0  # prompt tokens in the cache
    fed: int = 0  # generated tokens in the cache (the last one generated is read in the next step)
    evaluated: int = 0  # tokens llama.cpp read for it: the prompt's uncached part and the generated ones
    generated: list[int] = field(default_factory=list)
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    text: str = ""
    sent: int = 0  # characters of `text` sent
    pieces: int = 0
    rng: np.random.Generator | None = None


def _held(seq: _Sequence) -> list[int]:
    """The tokens `seq` has in the cache."""
    return seq.prompt[:seq.read] + seq.generated[:seq.fed]


def _common(tokens: list[int], prompt: list[int]) -> int:
    """How many leading tokens `tokens` shares with `prompt`, short of the prompt's last (always read again, for its
    logits)."""
    k, limit = 0, min(len(tokens), len(prompt) - 1)
    while k < limit and tokens[k] == prompt[k]:
        k += 1
    return k


class BatchedDecoder:
    """Continuous batching over a loaded `llama_cpp.Llama` (its model, vocabulary and chat template); the Llama's
    own single-sequence context is replaced by one holding `slots` sequences in `slots` x n_ctx cells."""

    def __init__(self, llama, slots: int) -> None:
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama_cpp = llama_cpp
        self.llama = llama
        self.n_ctx = llama.n_ctx()  # the most one sequence may hold
        self.n_batch = llama.n_batch
        params = llama.context_params
        params.n_seq_max = slots
        params.kv_unified = True
        params.n_ctx = self.n_ctx * slots
        llama._ctx.close()  # its cache is not used: free it before this one is made
        self.ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, slots)
        self.vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self.n_vocab = llama.n_vocab()
        eos = llama.token_eos()
        self.format = Jinja2ChatFormatter(template=llama.metadata["tokenizer.chat_template"],
                                          eos_token=llama._model.token_get_text(eos),
                                          bos_token=llama._model.token_get_text(llama.token_bos()),
                                          stop_token_ids=[eos])
        self.cached: list[list[int]] = [[] for _ in range(slots)]  # a free slot's tokens in the cache
        self.free = list(range(slots))
        self.waiting: list[_Sequence] = []
        self.active: list[_Sequence] = []

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.active)

    def close(self) -> None:
        if self.batch is not None:
            self.llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        self.ctx.close()

    # ---- requests --------------------------------------------------------------------------------------------

    def submit(self, rid, request: dict) -> None:
        """Queue a request; a prompt longer than a sequence may hold raises ValueError (nothing is queued)."""
        gate = RefusalGate(self.llama, request.get("refusal_text") or "", request.get("refusal_threshold"))
        result = self.format(messages=request["messages"])
        prompt = self.llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        if len(prompt) >= self.n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {self.n_ctx}")
        stop = list(request.get("stop") or [])
        stop += [result.stop] if isinstance(result.stop, str) else list(result.stop or [])
        temperature = float(request.get("temperature") or 0.0)
        self.waiting.append(_Sequence(rid, prompt, min(int(request["max_tokens"]), self.n_ctx - len(prompt)),
                                      [s for s in stop if s], temperature, gate,
                                      rng=np.random.default_rng(0) if temperature > 0 else None))

    def cancel(self, rid) -> None:
        self.waiting = [s for s in self.waiting if s.rid != rid]
        for seq in [s for s in self.active if s.rid == rid]:
            self._finish(seq)

    def fail_all(self, message: str) -> list[tuple[object, dict]]:
        """Every request ends with `message` and the cache is emptied (after a failed decode)."""
        out = [(s.rid, {"error": message}) for s in self.waiting + self.active]
        self.waiting, self.active = [], []
        self.ctx.kv_cache_clear()
        self.cached = [[] for _ in self.cached]
        self.free = list(range(len(self.cached)))
        return out

    # ---- one step ----------------------------------------------------------------------------------------------

    def step(self) -> list[tuple[object, dict]]:
        """Admit waiting requests into free slots, decode one batch, sample; the messages it produced."""
        while self.waiting and self.free:
            self._admit(self.waiting.pop(0))
        rows: list[tuple[_Sequence, int]] = []  # sequences whose logits this batch gives, with their row
        n = 0
        b = self.batch
        for seq in self.active:  # the next token of every answer being written
            if seq.read == len(seq.prompt) and n < self.n_batch:
                n = self._add(n, seq.generated[-1], len(seq.prompt) + seq.fed, seq.slot, True)
                seq.fed += 1
                rows.append((seq, n - 1))
        # Then prompts, as much as fits; first what they share with prompts read before, decided on what is in
        # the cache now (the tokens added below are in it only after this step's decode).
        reading = [seq for seq in self.active if seq.read < len(seq.prompt) and self._share(seq)]
        for seq in reading:
            while seq.read < len(seq.prompt) and n < self.n_batch:
                last = seq.read == len(seq.prompt) - 1
                n = self._add(n, seq.prompt[seq.read], seq.read, seq.slot, last)
                seq.read += 1
                seq.evaluated += 1
                if last:
                    rows.append((seq, n - 1))
        if n == 0:
            return []
        b.n_tokens = n
        code = self.llama_cpp.llama_decode(self.ctx.ctx, b)
        if code == 1 and any(self.cached[s] for s in self.free):  # no room in the cache: forget idle prompts
            for s in self.free:
                self.ctx.kv_cache_seq_rm(s, 0, -1)
                self.cached[s] = []
            code = self.llama_cpp.llama_decode(self.ctx.ctx, b)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        out: list[tuple[object, dict]] = []
        for seq, row in rows:
            logits = np.ctypeslib.as_array(self.llama_cpp.llama_get_logits_ith(self.ctx.ctx, row),
                                           shape=(self.n_vocab,)).copy()
            out += self._next(seq, logits)
        return out

    def _share(self, seq: _Sequence) -> bool:
        """Before `seq` reads on: the part of its prompt that a sequence admitted before it has read is copied from
        that one's cache; False while that sequence is still reading a part they share (then `seq` waits)."""
        for other in self.active:
            if other is seq:
                return True
            k = _common(other.prompt, seq.prompt)
            if k <= seq.read:
                continue
            if other.read < k:
                return False
            self.ctx.kv_cache_seq_cp(other.slot, seq.slot, seq.read, k)
            seq.read = k
        return True

    def _add(self, n: int, token: int, pos: int, slot: int, logits: bool) -> int:
        b = self.batch
        b.token[n] = token
        b.pos[n] = pos
        b.n_seq_id[n] = 1
        b.seq_id[n][0] = slot
        b.logits[n] = logits
        return n + 1

    def _admit(self, seq: _Sequence) -> None:
        """Give `seq` the free slot whose cache shares most of its prompt; a longer prefix held by another slot
        is copied in. The last prompt token is always read again, for its logits."""
        held = list(self.cached)  # free slots: what their last sequence left; the others: what they hold now
        for other in self.active:
            held[other.slot] = _held(other)
        shared = [_common(tokens, seq.prompt) for tokens in held]
        slot = max(self.free, key=lambda s: shared[s])
        self.free.remove(slot)
        keep = shared[slot]
        donor = max(range(len(held)), key=lambda s: shared[s])
        if shared[donor] > keep:
            self.ctx.kv_cache_seq_rm(slot, 0, -1)
            keep = shared[donor]
            self.ctx.kv_cache_seq_cp(donor, slot, 0, keep)
        else:
            self.ctx.kv_cache_seq_rm(slot, keep, -1)
        seq.slot, seq.read = slot, keep
        self.active.append(seq)

    def _next(self, seq: _Sequence, logits: np.ndarray) -> list[tuple[object, dict]]:
        """Choose `seq`'s next token from its logits; the piece of text it completes, and its end."""
        if not seq.generated:
            seq.gate(logits)
        token = self._sample(seq, logits)
        if self.llama_cpp.llama_vocab_is_eog(self.vocab, token):
            return self._end(seq)
        seq.generated.append(token)
        seq.evaluated += 1
        seq.text += seq.decoder.decode(self._piece_bytes(token))
        out = []
        hit = [i for i in (seq.text.find(s, max(0, seq.sent - len(s))) for s in seq.stop) if i >= 0]
        if hit:
            seq.text = seq.text[:min(hit)]
        # Hold back an end that may be the start of a stop string.
        hold = max([k for s in seq.stop for k in range(1, len(s)) if seq.text.endswith(s[:k])], default=0)
        upto = len(seq.text) if hit else len(seq.text) - hold
        if upto > seq.sent:
            out.append((seq.rid, self._piece(seq, seq.text[seq.sent:upto])))
            seq.sent = upto
        if hit or len(seq.generated) >= seq.max_tokens:
            out += self._end(seq)
        return out

    def _piece_bytes(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:max(n, 0)]

    def _piece(self, seq: _Sequence, text: str) -> dict:
        piece = {"text": text}
        if seq.pieces == 0 and seq.gate.probability is not None:
            piece["refusal_probability"] = seq.gate.probability
        seq.pieces += 1
        return piece

    def _end(self, seq: _Sequence) -> list[tuple[object, dict]]:
        out = []
        rest = seq.text[seq.sent:]
        if rest:
            out.append((seq.rid, self._piece(seq, rest)))
        self._finish(seq)
        return out + [(seq.rid, {"done": True, "evaluated_tokens": seq.evaluated})]

    def _finish(self, seq: _Sequence) -> None:
        """`seq` leaves its slot; its prompt stays in the cache for the next prompt that starts the same way."""
        self.active.remove(seq)
        cached = _held(seq)
        self.ctx.kv_cache_seq_rm(seq.slot, len(cached), -1)
        self.cached[seq.slot] = cached
        self.free.append(seq.slot)

    def _sample(self, seq: _Sequence, logits: np.ndarray) -> int:
        if seq.temperature <= 0:
            return int(np.argmax(logits))
        top = np.argsort(logits)[::-1][:40]
        weights = np.exp((logits[top] - logits[top[0]]) / seq.temperature)
        probs = weights / weights.sum()
        keep = (probs >= 0.05 * probs[0]) & (np.cumsum(probs) - probs < 0.95)
        probs = probs[keep] / probs[keep].sum()
        return int(seq.rng.choice(top[keep], p=probs))
