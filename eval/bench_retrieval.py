"""Retrieval benchmark: this project's retrieval and the LangChain peer recipe, side by side in one run.

    python eval/bench_retrieval.py [--corpus DIR] [--qa FILE] [--limit N] [--out FILE.md] [--json FILE]

Dataset: a folder of .txt paragraphs (doc id = file name without .txt) and a JSON-lines file of questions
(id, question, lang, gold_doc_ids, gold_passages). Metrics per question language, with rag.evaluation.metrics for both
systems: hit@1, hit@5, MRR@10 over distinct documents of the first 10 passages, passage_hit@1, and the wall
time of one retrieve call (query embedding included) as p50/p95, after a warm-up. Both systems run in this
one process with torch.set_num_threads(2); each index is built from an empty temp folder after its model
is loaded, so load and build times are reported apart. The systems are called in turn for each question, so
machine noise hits them alike. See ../shared/notes/retrieval.md for the peer and its earlier figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = ROOT.parent / "shared" / "data" / "xquad-vi-dev"
THREADS = 2
K = 10
WARMUP = 5
LANGS = ("vi", "en")
SYSTEMS = ("ours", "peer dense", "peer BM25", "peer ensemble")
PEER_KIND = {"peer dense": "dense", "peer BM25": "bm25", "peer ensemble": "ensemble"}


def load_questions(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # File order (the languages interleaved), so both languages meet the same machine conditions.
    seen = {lang: 0 for lang in LANGS}
    out = []
    for r in rows:
        if r["lang"] in seen and (not limit or seen[r["lang"]] < limit):
            seen[r["lang"]] += 1
            out.append(r)
    return out


def code_state() -> str:
    """The commit of this tree, and the files under rag/ that differ from it (a benchmark of a dirty tree)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "rag").splitlines()]
    return head + (f" with uncommitted changes to {', '.join(dirty)}" if dirty else "")


def machine() -> dict:
    import faiss
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "python": platform.python_version(),
            "torch": torch.__version__, "faiss": faiss.__version__, "torch_threads": torch.get_num_threads()}


def score(system_rows: list[dict]) -> dict:
    from rag.evaluation.metrics import hit_at_k, mrr_at_k, passage_hit_at_k, percentile

    n = len(system_rows)
    if not n:
        return {"n": 0}
    mean = lambda xs: sum(xs) / n  # noqa: E731
    ms = [r["ms"] for r in system_rows]
    return {
        "n": n,
        "hit@1": mean([hit_at_k(r["docs"], r["gold_docs"], 1) for r in system_rows]),
        "hit@5": mean([hit_at_k(r["docs"], r["gold_docs"], 5) for r in system_rows]),
        "mrr@10": mean([mrr_at_k(r["docs"], r["gold_docs"], 10) for r in system_rows]),
        "passage_hit@1": mean([passage_hit_at_k(r["texts"], r["gold_passages"], 1) for r in system_rows]),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
    }


def run(corpus: Path, qa: Path, limit: int | None, model_dir: Path) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    from peer import PeerRecipe

    from rag.assistant import Assistant
    from rag.indexing.lexical import tokenize
    from rag.settings import Settings

    questions = load_questions(qa, limit)
    code = code_state()
    load_before = os.getloadavg()
    tmp = tempfile.TemporaryDirectory(prefix="bench-retrieval-")
    index_dir = Path(tmp.name) / "index"
    index_dir.mkdir()
    times: dict[str, float] = {}

    # This project: load the model (and the Vietnamese word segmenter) first, then build from an empty folder.
    settings = Settings().replace(corpus_dir=corpus, index_dir=index_dir, model_dir=model_dir, threads=THREADS)
    ours = Assistant(settings)
    t = time.perf_counter()
    ours.embedder.embed_queries(["khởi động"])
    tokenize("khởi động")
    times["ours_load_s"] = time.perf_counter() - t
    torch.set_num_threads(THREADS)
    t = time.perf_counter()
    report = ours.build_index()
    times["ours_build_s"] = time.perf_counter() - t

    # The peer: same model folder, its own copy of the model, built in memory.
    t = time.perf_counter()
    peer = PeerRecipe(model_dir)
    peer.embeddings.embed_query("khởi động")
    times["peer_load_s"] = time.perf_counter() - t
    torch.set_num_threads(THREADS)
    t = time.perf_counter()
    peer_chunks = peer.build(corpus)
    times["peer_build_s"] = time.perf_counter() - t
    assert torch.get_num_threads() == THREADS, torch.get_num_threads()

    def call(system: str, question: str):
        if system == "ours":
            res = ours.retrieve(question, k=K)
            return [(p.doc_id, p.text) for p in res.passages], res.lang
        return peer.retrieve(question, K, PEER_KIND[system]), None

    # Warm-up (not scored): loads our index from disk, fills caches and the allocator, on both systems.
    for q in [q for lang in LANGS for q in [q for q in questions if q["lang"] == lang][:WARMUP]]:
        for system in SYSTEMS:
            call(system, q["question"])

    rows: dict[str, list[dict]] = {s: [] for s in SYSTEMS}
    lang_agree = {lang: 0 for lang in LANGS}
    t_run = time.perf_counter()
    for i, q in enumerate(questions, 1):
        for system in SYSTEMS:
            t = time.perf_counter()
            hits, detected = call(system, q["question"])
            ms = (time.perf_counter() - t) * 1000
            rows[system].append({"lang": q["lang"], "ms": ms, "docs": [d for d, _ in hits],
                                 "texts": [x for _, x in hits], "gold_docs": q["gold_doc_ids"],
                                 "gold_passages": q["gold_passages"]})
            if detected is not None:
                lang_agree[q["lang"]] += detected == q["lang"]
        if i % 200 == 0:
            print(f"  {i}/{len(questions)} questions, {time.perf_counter() - t_run:.0f} s", file=sys.stderr)
    times["queries_s"] = time.perf_counter() - t_run
    tmp.cleanup()

    results = {s: {lang: score([r for r in rows[s] if r["lang"] == lang]) for lang in LANGS} for s in SYSTEMS}
    # Paired latency: per question, our time over each peer's time on the same question a moment apart,
    # which cancels most of the load that other processes put on the machine.
    import numpy as np

    for s in SYSTEMS[1:]:
        for lang in LANGS:
            pairs = [a["ms"] / b["ms"] for a, b in zip(rows["ours"], rows[s]) if a["lang"] == lang and b["ms"] > 0]
            results[s][lang]["paired_ratio_median"] = float(np.median(pairs)) if pairs else float("nan")
    n_lang = {lang: sum(1 for q in questions if q["lang"] == lang) for lang in LANGS}
    return {
        "dataset": {"corpus": str(corpus), "qa": str(qa), "questions": n_lang, "limit": limit, "k": K},
        "index": {"ours_chunks": report.chunks, "ours_sentences": report.sentences_embedded,
                  "peer_chunks": peer_chunks, "documents": report.documents},
        "times": times,
        "code": code,
        "ours_settings": {"chunking": dataclasses.asdict(settings.chunking),
                          "retrieval": dataclasses.asdict(settings.retrieval)},
        "language_detection": {lang: lang_agree[lang] / n_lang[lang] if n_lang[lang] else None for lang in LANGS},
        "results": results,
        "machine": {**machine(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
    }


def best_peer(results: dict, lang: str, key: str, lower: bool = False) -> tuple[str, float]:
    cells = [(s, results[s][lang][key]) for s in SYSTEMS if s != "ours"]
    return (min if lower else max)(cells, key=lambda c: c[1])


def render(out: dict, elapsed: float) -> str:
    res = out["results"]
    lines = ["| system | question | n | hit@1 | hit@5 | MRR@10 | passage_hit@1 | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in SYSTEMS:
        for lang in LANGS:
            r = res[s][lang]
            if not r["n"]:
                continue
            lines.append(f"| {s} | {lang} | {r['n']} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | {r['mrr@10']:.3f} | "
                         f"{r['passage_hit@1']:.3f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |")
    t = out["times"]
    lines += ["", f"Index build (from an empty folder, model already loaded): ours {t['ours_build_s']:.1f} s "
                  f"({out['index']['ours_chunks']} chunks + {out['index']['ours_sentences']} sentences embedded), "
                  f"peer {t['peer_build_s']:.1f} s ({out['index']['peer_chunks']} chunks; FAISS + BM25). "
                  f"Model load: ours {t['ours_load_s']:.1f} s, peer {t['peer_load_s']:.1f} s."]
    ratios, best = [], []
    for lang in LANGS:
        if not res["ours"][lang]["n"]:
            continue
        for key, label in (("hit@1", "hit@1"), ("mrr@10", "MRR@10"), ("passage_hit@1", "passage_hit@1")):
            s, v = best_peer(res, lang, key)
            best.append(f"{lang} {label}: ours {res['ours'][lang][key]:.3f} vs best peer {v:.3f} ({s}, "
                        f"{res['ours'][lang][key] - v:+.3f})")
        # Speed against the best-quality peer cell for this language (by MRR@10) and against the fastest peer.
        s_best, _ = best_peer(res, lang, "mrr@10")
        ours_p50 = res["ours"][lang]["p50_ms"]
        s_fast, fast = best_peer(res, lang, "p50_ms", lower=True)
        ratios.append(f"{lang}: ours/{s_best} p50 = {ours_p50 / res[s_best][lang]['p50_ms']:.2f} "
                      f"({ours_p50:.1f} / {res[s_best][lang]['p50_ms']:.1f} ms), median of the per-question "
                      f"ratios {res[s_best][lang]['paired_ratio_median']:.2f}; "
                      f"ours/fastest peer ({s_fast}) = {ours_p50 / fast:.2f}")
    lines += ["", "Against the best peer cell per language (one configuration of ours for both languages):", ""]
    lines += [f"- {b}" for b in best]
    lines += ["", "Latency ratios (our p50 / best peer p50, best = highest MRR@10 in that language):", ""]
    lines += [f"- {r}" for r in ratios]
    det = out["language_detection"]
    lines += ["", "Our question-language detection agreed with the dataset's label: "
              + ", ".join(f"{lang} {v:.3f}" for lang, v in det.items() if v is not None) + "."]
    lines += ["", f"Ours: code {out['code']}; settings {json.dumps(out['ours_settings'], ensure_ascii=False)}."]
    m = out["machine"]
    d = out["dataset"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), torch threads "
                  f"{m['torch_threads']}; Python {m['python']}, torch {m['torch']}, faiss {m['faiss']}; 1-min load average "
                  f"{m['loadavg_before'][0]:.1f} at the start, {m['loadavg_after'][0]:.1f} at the end"
                  + (f" (above {m['usable_cores']}: other processes shared the CPUs, so the latencies carry their "
                     f"noise)." if max(m['loadavg_before'][0], m['loadavg_after'][0]) > m['usable_cores'] + 0.5
                     else "."),
              f"Run: {sum(d['questions'].values())} questions ({', '.join(f'{n} {l}' for l, n in d['questions'].items())}"
              f"{', limit ' + str(d['limit']) if d['limit'] else ''}), k={d['k']} passages per question, "
              f"warm-up {WARMUP}+{WARMUP} questions not scored; queries took {t['queries_s']:.0f} s, "
              f"whole run {elapsed:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus")
    ap.add_argument("--qa", type=Path, default=DATA / "qa.jsonl")
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models" / "e5-small")
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each language")
    ap.add_argument("--out", type=Path, help="also write the markdown report here")
    ap.add_argument("--json", type=Path, help="write the raw figures as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.corpus, args.qa, args.limit, args.model_dir)
    elapsed = time.perf_counter() - t0
    out["times"]["total_s"] = elapsed
    text = render(out, elapsed)
    head = (f"# Retrieval benchmark: ours vs the LangChain peer recipe\n\n"
            f"`python eval/bench_retrieval.py{' --limit ' + str(args.limit) if args.limit else ''}` "
            f"on `{args.corpus.parent.name}` ({time.strftime('%Y-%m-%d')}). Peer defined in eval/peer.py and "
            f"../shared/notes/retrieval.md.\n\n")
    print(text)
    if args.out:
        args.out.write_text(head + text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
