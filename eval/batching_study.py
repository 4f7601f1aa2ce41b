"""Could an index build embed its sentences faster in batches? A build embeds each text alone (one text a run,
two single-threaded callers), so that a text's vector never depends on the texts beside it: ONNX Runtime's
dynamic int8 scales a run's activations by the run's largest value. Short sentences cost more per token that way.
This study (1) times the embedding of 100 UIT-ViNewsQA held-out articles' chunks and sentences one text a run
against batches of similar length, and (2) scores retrieval with the sentence vectors embedded in batches, and
with chunk vectors made from those (their normalised mean, so only sentences are embedded), against the stored
ones over the indexes eval/compare_readers.py built (same questions, everything else the same). Results in
eval/batching_study.md.

    python eval/compare_readers.py --retrieve-only --work build/compare-v3   # the indexes, if not there yet
    python eval/batching_study.py [--set seeds ...] [--batch-tokens 512]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.compare_readers import SETS  # noqa: E402
from eval.late_chunking_study import build_texts, cached_indexes, figures  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402
from rag.settings import Settings  # noqa: E402


def embed(embedder, texts: list[str], batch_tokens: int | None) -> np.ndarray:
    """The texts' vectors as a build makes them (None: one text a run), or in batches of `batch_tokens`."""
    if batch_tokens is None:
        return embedder.embed_passages(texts)
    # the embedder's parallel path with batches instead of single texts (rag/models/gemma.py)
    from rag.models import gemma

    saved = gemma.PARALLEL_BATCH_TOKENS
    gemma.PARALLEL_BATCH_TOKENS = batch_tokens
    try:
        return embedder.embed_passages(texts)
    finally:
        gemma.PARALLEL_BATCH_TOKENS = saved


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def timing(embedder, settings: Settings, batch_tokens: int) -> None:
    chunks, sentences = build_texts(settings)
    embed(embedder, sentences[:50], None)  # the session and the tokenizer loaded before timing
    print(f"\n100 articles, {len(chunks)} chunks and {len(sentences)} sentences, embedding s (two callers):\n")
    print("| texts | one text a run | batches of at most %d tokens |\n|---|---|---|" % batch_tokens)
    for label, texts in (("chunks", chunks), ("sentences", sentences)):
        took = []
        for mode in (None, batch_tokens):
            t = time.perf_counter()
            embed(embedder, texts, mode)
            took.append(time.perf_counter() - t)
        print(f"| {label} | {took[0]:.1f} | {took[1]:.1f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", choices=list(SETS), help="default: every set")
    ap.add_argument("--batch-tokens", type=int, default=512)
    args = ap.parse_args(argv)
    base = Settings()
    print("| set | vectors | hit@1 | hit@5 | MRR@10 | best sentence holds the answer |")
    print("|---|---|---|---|---|---|")
    for name, settings, embedder, data, rows in cached_indexes(args.set or list(SETS), base):
        texts = [data.docs[c.doc_id].text[s:e] for c in data.chunks for s, e in c.sentences]
        distinct = list(dict.fromkeys(texts))
        vectors = dict(zip(distinct, embed(embedder, distinct, args.batch_tokens)))
        batched = np.stack([vectors[t] for t in texts])
        cos = (batched * data.sentence_vectors).sum(axis=1)
        print(f"<!-- {name}: batched sentence vectors' cosine to the stored ones {cos.mean():.4f} mean, "
              f"{cos.min():.4f} least -->")
        means = unit(np.add.reduceat(batched, data.sentence_offsets[:-1], axis=0))
        for label, index in (("stored (each text alone)", data),
                             ("sentences in batches", dataclasses.replace(data, sentence_vectors=batched)),
                             ("sentences in batches, chunks their mean",
                              dataclasses.replace(data, sentence_vectors=batched, chunk_vectors=means))):
            h1, h5, mrr, sent = figures(HybridRetriever(index, embedder, settings.retrieval), rows)
            print(f"| {name} ({len(rows)}) | {label} | {h1:.3f} | {h5:.3f} | {mrr:.3f} | {sent:.3f} |", flush=True)
    timing(embedder, base, args.batch_tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
