"""How each part of the retrieval configuration moves hit@1 and MRR@10, per question language.

    python eval/ablation_retrieval.py [--corpus DIR] [--qa FILE] [--out FILE.md]

Builds one index per chunk size (and one in float32) in a temporary folder, embeds every question once
per query prompt, then scores each configuration with rag.evaluation.metrics. The README's table comes from here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "xquad-vi-dev"
K = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DATA / "corpus")
    parser.add_argument("--qa", type=Path, default=DATA / "qa.jsonl")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()

    from rag.evaluation.metrics import hit_at_k, mrr_at_k
    from rag.indexing.builder import Indexer
    from rag.indexing.store import IndexStore
    from rag.ingest.corpus import load_corpus
    from rag.models.embedder import SentenceTransformerEmbedder
    from rag.retrieval.hybrid import HybridRetriever
    from rag.settings import ChunkSettings, RetrievalSettings, Settings

    questions = [json.loads(x) for x in args.qa.read_text(encoding="utf-8").splitlines() if x.strip()]
    by_lang = {lang: [q for q in questions if q["lang"] == lang] for lang in ("vi", "en")}
    corpus = load_corpus(args.corpus)
    model_dir = Settings().model_dir
    embedders = {p: SentenceTransformerEmbedder(model_dir, threads=2, precision=p) for p in ("bf16", "fp32")}
    tmp = tempfile.TemporaryDirectory(prefix="ablation-")
    indexes: dict[tuple[str, int], object] = {}
    vectors: dict[tuple[str, str, str | None], object] = {}

    def index(precision: str, chars: int):
        if (precision, chars) not in indexes:
            store = IndexStore(Path(tmp.name) / f"{precision}-{chars}")
            Indexer(store, embedders[precision], ChunkSettings(max_chars=chars)).update(corpus)
            indexes[precision, chars] = store.load()
        return indexes[precision, chars]

    def qvecs(precision: str, lang: str, prompt: str | None):
        if (precision, lang, prompt) not in vectors:
            texts = [q["question"] for q in by_lang[lang]]
            vectors[precision, lang, prompt] = embedders[precision].embed_queries(texts, prompt=prompt)
        return vectors[precision, lang, prompt]

    final = RetrievalSettings(k=K)
    configs = [
        ("dense chunk vectors only, \"query: \" prompt",
         dataclasses.replace(final, sentence_weight=0.0, lexical_weight_vi=0.0, lexical_weight_en=0.0,
                             query_prompt_en=None), "bf16", 1000),
        ("+ best-sentence similarity (0.5 chunk + 0.5 best sentence)",
         dataclasses.replace(final, lexical_weight_vi=0.0, lexical_weight_en=0.0, query_prompt_en=None), "bf16", 1000),
        ("+ BM25 for Vietnamese questions (RRF weight 0.3)",
         dataclasses.replace(final, lexical_weight_en=0.0, query_prompt_en=None), "bf16", 1000),
        ("+ names and numbers of English questions to BM25 (weight 0.1)",
         dataclasses.replace(final, query_prompt_en=None), "bf16", 1000),
        ("+ English questions without the \"query: \" prompt (the configuration used)", final, "bf16", 1000),
        ("same, chunks of 400 characters", final, "bf16", 400),
        ("same, chunks of 700 characters", final, "bf16", 700),
        ("same, chunks of 1200 characters", final, "bf16", 1200),
        ("same, float32 embeddings instead of bfloat16", final, "fp32", 1000),
        ("same, Vietnamese questions without the prompt too",
         dataclasses.replace(final, query_prompt_vi=""), "bf16", 1000),
    ]
    rows = []
    t0 = time.perf_counter()
    for label, settings, precision, chars in configs:
        data = index(precision, chars)
        retriever = HybridRetriever(data, embedders[precision], settings)
        cells = []
        for lang, qs in by_lang.items():
            prompt = settings.query_prompt_vi if lang == "vi" else settings.query_prompt_en
            h1 = mrr = 0.0
            for q, vec in zip(qs, qvecs(precision, lang, prompt)):
                docs = [p.doc_id for p in retriever.retrieve(q["question"], k=K, lang=lang, qvec=vec).passages]
                h1 += hit_at_k(docs, q["gold_doc_ids"], 1)
                mrr += mrr_at_k(docs, q["gold_doc_ids"], 10)
            cells += [h1 / len(qs), mrr / len(qs)]
        rows.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in cells) + " |")
        print(rows[-1], file=sys.stderr, flush=True)
    tmp.cleanup()
    table = "\n".join(["| configuration | vi hit@1 | vi MRR@10 | en hit@1 | en MRR@10 |", "|---|---|---|---|---|", *rows])
    text = (f"# Retrieval ablation on {args.qa.parent.name}\n\n`python eval/ablation_retrieval.py` "
            f"({len(questions)} questions, {time.perf_counter() - t0:.0f} s)\n\n{table}\n")
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
