"""Grid over RetrievalSettings on one dataset: hit@1 and passage_hit@1 per language, for tuning fusion numbers.

The index is built once per dataset and embedder into --work (incrementally: a second run embeds nothing),
and the questions' vectors are embedded once per (language, prompt) and cached there too, so a grid of
twenty settings costs a few seconds each. Only answerable questions count.

    python eval/tune_retrieval.py xquad-vi-dev --embedder embeddinggemma \\
        --grid '[{"rrf_k": 5}, {"rrf_k": 10, "sentence_weight": 0.5}]'

A grid entry is RetrievalSettings fields over the embedder's tuned defaults (rag/settings.py TUNED), plus
optional "prompt_vi" / "prompt_en" (None: the embedder's query prompt). `seeds` is the project's corpus with
eval/qa.jsonl; any other name is a folder of ../shared/data with corpus/ and qa.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.evaluation.metrics import hit_at_k, passage_hit_at_k  # noqa: E402
from rag.indexing.builder import Indexer  # noqa: E402
from rag.indexing.store import IndexStore  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.models.embedders import make_embedder  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402
from rag.settings import Settings  # noqa: E402


def dataset_paths(name: str) -> tuple[Path, Path]:
    if name == "seeds":
        return ROOT / "seeds", ROOT / "eval" / "qa.jsonl"
    folder = ROOT.parent / "shared" / "data" / name
    return folder / "corpus", folder / "qa.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="seeds, xquad-vi-dev, viquad2-dev, ...")
    ap.add_argument("--embedder", default=None, help="default: the settings' (RAG_EMBEDDER or embeddinggemma)")
    ap.add_argument("--grid", default="[{}]", help="JSON list of RetrievalSettings overrides")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-tune"), help="index and question-vector cache")
    args = ap.parse_args(argv)

    settings = Settings() if args.embedder is None else Settings(embedder=args.embedder)
    embedder = make_embedder(settings)
    corpus_dir, qa = dataset_paths(args.dataset)
    questions = [q for q in map(json.loads, qa.read_text(encoding="utf-8").splitlines()) if q.get("answerable", True)]
    store = IndexStore(args.work / f"{args.dataset}-{settings.embedder}")
    t = time.perf_counter()
    Indexer(store, embedder, settings.chunking).update(load_corpus(corpus_dir))
    print(f"index ready in {time.perf_counter() - t:.0f} s", flush=True)
    data = store.load()
    cache_file = args.work / f"{args.dataset}-{settings.embedder}-{embedder.checksum[:12]}-single-questions.pkl"
    cache = pickle.loads(cache_file.read_bytes()) if cache_file.exists() else {}

    def vectors(lang: str, prompt: str | None):
        if (lang, prompt) not in cache:
            # One question per call, as `rag ask` embeds it: EmbeddingGemma's int8 graph scales its activations
            # per call, so a question's vector in a batch differs a little from its vector alone.
            cache[(lang, prompt)] = np.stack([embedder.embed_queries([q["question"]], prompt=prompt)[0]
                                              for q in questions if q["lang"] == lang])
            cache_file.write_bytes(pickle.dumps(cache))
        return cache[(lang, prompt)]

    for entry in json.loads(args.grid):
        entry = dict(entry)
        prompts = {"vi": entry.pop("prompt_vi", None), "en": entry.pop("prompt_en", None)}
        rs = dataclasses.replace(settings.retrieval, k=10, query_prompt_vi=prompts["vi"], query_prompt_en=prompts["en"],
                                 **entry)
        retriever = HybridRetriever(data, embedder, rs)
        cells = []
        for lang in ("vi", "en"):
            sub = [q for q in questions if q["lang"] == lang]
            if not sub:
                continue
            hit = passage = 0.0
            for q, v in zip(sub, vectors(lang, prompts[lang])):
                res = retriever.retrieve(q["question"], k=10, lang=lang, qvec=v)
                hit += hit_at_k([p.doc_id for p in res.passages], q["gold_doc_ids"], 1)
                passage += passage_hit_at_k([p.text for p in res.passages], q["gold_passages"], 1)
            cells.append(f"{lang} hit@1 {hit / len(sub):.3f} passage@1 {passage / len(sub):.3f} (n={len(sub)})")
        print(json.dumps(entry, ensure_ascii=False), json.dumps(prompts, ensure_ascii=False), " | ".join(cells),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
