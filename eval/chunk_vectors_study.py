"""Could an index build skip embedding its chunks (47% of the tokens it embeds for 500 UIT-ViNewsQA articles)? Retrieval with each chunk's
vector made from its sentences' vectors (their normalised mean), scored with several sentence weights, against
the embedded chunk vectors, over the indexes eval/compare_readers.py built for each set (same questions, same
everything else). Prints document hit@1, hit@5 and MRR@10 of the answerable questions; results in
eval/chunk_vectors_study.md.

    python eval/chunk_vectors_study.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.compare_readers import SETS  # noqa: E402
from rag.assistant import Assistant  # noqa: E402
from rag.evaluation.metrics import hit_at_k, mrr_at_k  # noqa: E402
from rag.evaluation.schema import load_qa  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402
from rag.settings import Settings  # noqa: E402

WEIGHTS = (0.5, 0.75, 0.9, 1.0)


def figures(retriever: HybridRetriever, rows: list[dict]) -> tuple[float, float, float]:
    h1 = h5 = mrr = 0.0
    for r in rows:
        docs = [p.doc_id for p in retriever.retrieve(r["question"], k=10).passages]
        h1 += hit_at_k(docs, r["gold_doc_ids"], 1)
        h5 += hit_at_k(docs, r["gold_doc_ids"], 5)
        mrr += mrr_at_k(docs, r["gold_doc_ids"], 10)
    return h1 / len(rows), h5 / len(rows), mrr / len(rows)


def main() -> int:
    base = Settings()
    embedder = None
    print("| set | chunk vectors | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|---|")
    for name, (qa, corpus) in SETS.items():
        settings = base.replace(corpus_dir=corpus, index_dir=ROOT / "build" / "compare" / f"index-{name}")
        assistant = Assistant(settings, embedder=embedder)
        embedder = assistant.embedder
        data = assistant.index_data()
        sums = np.add.reduceat(data.sentence_vectors, data.sentence_offsets[:-1], axis=0)
        mean = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        from_sentences = dataclasses.replace(data, chunk_vectors=mean)
        rows = [r for r in load_qa(qa) if r["answerable"]]
        variants = [(f"embedded (sentence weight {settings.retrieval.sentence_weight:g})", data,
                     settings.retrieval)]
        variants += [(f"mean of its sentences, sentence weight {w:g}", from_sentences,
                      dataclasses.replace(settings.retrieval, sentence_weight=w)) for w in WEIGHTS]
        for label, index, retrieval in variants:
            h1, h5, mrr = figures(HybridRetriever(index, embedder, retrieval), rows)
            print(f"| {name} ({len(rows)}) | {label} | {h1:.3f} | {h5:.3f} | {mrr:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
