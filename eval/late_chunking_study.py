"""Could an index build skip embedding its sentences? For 100 UIT-ViNewsQA articles the sentences take 57% of the
embedding time (their chunks 43%: many short texts cost more per token). "Late chunking": each sentence's vector
pooled from its chunk's own pass through EmbeddingGemma (the mean of the encoder's last token states over the
sentence's tokens, through the Dense layers, normalised), so only chunks are embedded. Compared with the embedded
sentence vectors over the indexes eval/compare_readers.py built for each set (same questions, same chunk vectors,
same everything else): document hit@1, hit@5, MRR@10 of the answerable questions, and how often the best
sentence (the one the answer quotes first) holds a gold answer. Also times the two ways of embedding 100
articles. Results in eval/late_chunking_study.md.

    python eval/compare_readers.py --retrieve-only --work build/compare-v3   # the indexes, if not there yet
    python eval/late_chunking_study.py [--set seeds --set xquad-vi-dev-heldout]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.compare_readers import SETS  # noqa: E402
from rag.assistant import Assistant  # noqa: E402
from rag.evaluation.metrics import hit_at_k, mrr_at_k  # noqa: E402
from rag.evaluation.schema import load_qa  # noqa: E402
from rag.indexing.builder import chunk_embed_text  # noqa: E402
from rag.models.gemma import PROMPTS, _batches  # noqa: E402
from rag.models.onnx_export import _dense  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402
from rag.settings import Settings  # noqa: E402

GEMMA = ROOT / "models" / "embeddinggemma"


class TokenStates:
    """The int8 graph with one more output, the last token states before pooling."""

    def __init__(self) -> None:
        import onnx
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = onnx.load(str(GEMMA / "onnx" / "model-int8.onnx"))
        pooled = next(n for n in model.graph.node if n.op_type == "ReduceSum" and
                      any(m.op_type == "Mul" and m.output[0] == n.input[0] for m in model.graph.node))
        mul = next(m for m in model.graph.node if m.output[0] == pooled.input[0])
        model.graph.output.append(onnx.helper.make_tensor_value_info(mul.input[0], onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.dense = _dense(GEMMA)
        self.tokenizer = Tokenizer.from_file(str(GEMMA / "tokenizer.json"))

    def run(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, list]]:
        """Per text: its pooled vector, its token states and the tokens' character offsets (prompt included)."""
        enc = self.tokenizer.encode_batch([PROMPTS["passage"] + t for t in texts])
        out: list = [None] * len(texts)
        for batch in _batches([e.ids for e in enc], 512):
            width = max(len(enc[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), np.int64)
            mask = np.zeros((len(batch), width), np.int64)
            for r, i in enumerate(batch):
                ids[r, :len(enc[i].ids)] = enc[i].ids
                mask[r, :len(enc[i].ids)] = 1
            vecs, states = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            for r, i in enumerate(batch):
                out[i] = (vecs[r], states[r, :len(enc[i].ids)], enc[i].offsets)
        return out

    def pool(self, states: np.ndarray, offsets: list, start: int, end: int) -> np.ndarray:
        """The vector of the characters start..end of the prompted text, from its token states."""
        rows = [t for t, (a, b) in enumerate(offsets) if b > start and a < end and b > a]
        v = states[rows].mean(axis=0) @ self.dense
        return v / max(float(np.linalg.norm(v)), 1e-12)


def embed_text(doc, c) -> tuple[str, int]:
    """The stored chunk's text as the index embeds it and where its own text starts in it."""
    text = doc.text[c.start:c.end]
    full = chunk_embed_text(doc, SimpleNamespace(text=text))
    return full, len(full) - len(text)


def late_vectors(model: TokenStates, data) -> np.ndarray:
    texts, starts = zip(*(embed_text(data.docs[c.doc_id], c) for c in data.chunks))
    done = model.run(list(texts))
    rows = []
    shift = len(PROMPTS["passage"])
    for c, at, (_, states, offsets) in zip(data.chunks, starts, done):
        for s_start, s_end in c.sentences:
            a = shift + at + s_start - c.start
            rows.append(model.pool(states, offsets, a, a + (s_end - s_start)))
    return np.asarray(rows, dtype=np.float32)


def figures(retriever: HybridRetriever, rows: list[dict]) -> tuple[float, float, float, float]:
    h1 = h5 = mrr = sent = 0.0
    for r in rows:
        result = retriever.retrieve(r["question"], k=10)
        docs = [p.doc_id for p in result.passages]
        h1 += hit_at_k(docs, r["gold_doc_ids"], 1)
        h5 += hit_at_k(docs, r["gold_doc_ids"], 5)
        mrr += mrr_at_k(docs, r["gold_doc_ids"], 10)
        best = result.supports[0].text.lower() if result.supports else ""
        sent += any(a.lower() in best for a in r.get("answers") or [])
    n = len(rows)
    return h1 / n, h5 / n, mrr / n, sent / n


def cached_indexes(names: list[str], base: Settings):
    """Per set: its name, settings, embedder (one for all sets), the index eval/compare_readers.py built for it
    (build/compare-v3) and its answerable questions."""
    embedder = None
    for name in names:
        qa, corpus = SETS[name]
        settings = base.replace(corpus_dir=corpus, index_dir=ROOT / "build" / "compare-v3" / f"index-{name}")
        assistant = Assistant(settings, embedder=embedder)
        embedder = assistant.embedder
        yield name, settings, embedder, assistant.index_data(), [r for r in load_qa(qa) if r["answerable"]]


def build_texts(settings: Settings, articles: int = 100) -> tuple[list[str], list[str]]:
    """What an index build embeds for the first `articles` UIT-ViNewsQA held-out articles: the chunks' texts and
    the distinct sentences."""
    import shutil

    from rag.ingest.chunking import chunk_document
    from rag.ingest.corpus import load_corpus

    folder = Path(tempfile.mkdtemp())
    for f in sorted(SETS["vinewsqa-dev-heldout"][1].iterdir())[:articles]:
        shutil.copy(f, folder / f.name)
    chunks, sentences = [], []
    for doc in load_corpus(folder).documents:
        for c in chunk_document(doc, settings.chunking):
            chunks.append(chunk_embed_text(doc, c))
            sentences += [doc.text[s.start:s.end] for s in c.sentences]
    shutil.rmtree(folder)
    return chunks, list(dict.fromkeys(sentences))


def timing(model: TokenStates, embedder, settings: Settings) -> None:
    """Embedding 100 UIT-ViNewsQA held-out articles: chunks and sentences (as an index build does) against
    chunks alone with their token states."""
    chunks, sentences = build_texts(settings)
    t = time.perf_counter()
    embedder.embed_passages(chunks + sentences)
    both = time.perf_counter() - t
    t = time.perf_counter()
    model.run(chunks)
    late = time.perf_counter() - t
    print(f"\n100 articles, {len(chunks)} chunks and {len(sentences)} sentences: chunks and sentences embedded "
          f"{both:.1f} s; chunks alone with their token states (2 threads, one session) {late:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", choices=list(SETS), help="default: every set")
    args = ap.parse_args(argv)
    base = Settings()
    model = TokenStates()
    print("| set | sentence vectors | hit@1 | hit@5 | MRR@10 | best sentence holds the answer |")
    print("|---|---|---|---|---|---|")
    for name, settings, embedder, data, rows in cached_indexes(args.set or list(SETS), base):
        late = dataclasses.replace(data, sentence_vectors=late_vectors(model, data))
        for label, index in (("embedded", data), ("pooled from the chunk's pass", late)):
            h1, h5, mrr, sent = figures(HybridRetriever(index, embedder, settings.retrieval), rows)
            print(f"| {name} ({len(rows)}) | {label} | {h1:.3f} | {h5:.3f} | {mrr:.3f} | {sent:.3f} |", flush=True)
    timing(model, embedder, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
