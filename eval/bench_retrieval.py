"""Retrieval benchmark: this project's retrieval and the LangChain peer recipe, side by side in one run.

    python eval/bench_retrieval.py [--embedders embeddinggemma,e5-small] [--corpus DIR] [--qa FILE] [--limit N]
                                   [--out FILE.md] [--json FILE]

Dataset: a folder of .txt paragraphs (doc id = file name without .txt) and a JSON-lines file of questions
(id, question, lang, gold_doc_ids, gold_passages). Systems, per embedder of --embedders (default both): ours
(rag.assistant.Assistant with Settings(embedder=...), so that embedder's tuned retrieval settings), the peer's
dense and ensemble retrievers over the same embedder folder (eval/peer.py: sentence-transformers in float32 with
the model's own prompts); and the peer's BM25 once (it uses no embedder). Metrics per question language, with
rag.evaluation.metrics for every system: hit@1, hit@5, MRR@10 over distinct documents of the first 10 passages,
passage_hit@1, and the wall time of one retrieve call (query embedding included) as p50/p95, after a warm-up.
All systems run in this one process with torch.set_num_threads(2) (ours' ONNX EmbeddingGemma with 2 threads);
each index is built from an empty temp folder after its model is loaded, so load and build times are reported
apart. The systems are called in turn for each question, so machine noise hits them alike. See
../shared/notes/retrieval.md for the peer and its earlier figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from common import code_state, machine, offline  # noqa: E402

offline()

DATA = ROOT.parent / "shared" / "data" / "xquad-vi-dev"
THREADS = 2
K = 10
WARMUP = 5
LANGS = ("vi", "en")
EMBEDDERS = ("embeddinggemma", "e5-small")  # rag.settings.EMBEDDERS; the first is the default
PEER_ORDER = ("e5-small", "embeddinggemma")  # the order the peer's systems are called in


def systems(embedders: list[str]) -> list[dict]:
    """The systems in calling order: ours per embedder, the peer's dense and ensemble per embedder, the peer's BM25.

    Each: key (unique label), system, embedder (None for BM25), kind (ours, or the peer's retriever kind)."""
    out = [{"key": f"ours ({e})", "system": "ours", "embedder": e, "kind": "ours"} for e in EMBEDDERS if e in embedders]
    for e in [e for e in PEER_ORDER if e in embedders]:
        out += [{"key": f"peer {kind} ({e})", "system": f"peer {kind}", "embedder": e, "kind": kind}
                for kind in ("dense", "ensemble")]
    return out + [{"key": "peer BM25", "system": "peer BM25", "embedder": None, "kind": "bm25"}]


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


def run(corpus: Path, qa: Path, limit: int | None, embedders: list[str]) -> dict:
    import numpy as np
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
    systems_ = systems(embedders)
    times: dict[str, dict] = {}
    index: dict[str, dict] = {}
    ours: dict[str, Assistant] = {}
    settings_by: dict[str, dict] = {}
    peers: dict[str, PeerRecipe] = {}

    # This project, per embedder: load the model (and the Vietnamese word segmenter) first, then build from an
    # empty folder.
    for e in [e for e in EMBEDDERS if e in embedders]:
        index_dir = Path(tmp.name) / f"index-{e}"
        index_dir.mkdir()
        settings = Settings(embedder=e).replace(corpus_dir=corpus, index_dir=index_dir, threads=THREADS)
        a = ours[e] = Assistant(settings)
        t = time.perf_counter()
        a.embedder.embed_queries(["khởi động"])
        tokenize("khởi động")
        load_s = time.perf_counter() - t
        torch.set_num_threads(THREADS)
        t = time.perf_counter()
        report = a.build_index()
        times[f"ours ({e})"] = {"load_s": load_s, "build_s": time.perf_counter() - t}
        index[f"ours ({e})"] = {"chunks": report.chunks, "sentences": report.sentences_embedded,
                                "documents": report.documents}
        settings_by[e] = {"model_dir": str(settings.model_dir), "chunking": dataclasses.asdict(settings.chunking),
                          "retrieval": dataclasses.asdict(settings.retrieval)}
        log(f"ours ({e}): load {load_s:.1f} s, build {times[f'ours ({e})']['build_s']:.1f} s")

    # The peer, per embedder: the same model folder with that model's prompts, its own copy of the model,
    # sentence-transformers in float32, built in memory.
    for e in [e for e in PEER_ORDER if e in embedders]:
        t = time.perf_counter()
        p = peers[e] = PeerRecipe.for_embedder(e, ROOT / "models")
        p.embeddings.embed_query("khởi động")
        load_s = time.perf_counter() - t
        torch.set_num_threads(THREADS)
        t = time.perf_counter()
        n = p.build(corpus)
        times[f"peer ({e})"] = {"load_s": load_s, "build_s": time.perf_counter() - t}
        index[f"peer ({e})"] = {"chunks": n, "model_dir": str(p.model_dir), "prompts": [p.query_prompt, p.passage_prompt]}
        log(f"peer ({e}): load {load_s:.1f} s, build {times[f'peer ({e})']['build_s']:.1f} s")
    assert torch.get_num_threads() == THREADS, torch.get_num_threads()
    bm25_peer = next(iter(peers.values()))  # BM25 over the same chunks in every peer: any one will do

    def call(s: dict, question: str):
        if s["kind"] == "ours":
            res = ours[s["embedder"]].retrieve(question, k=K)
            return [(p.doc_id, p.text) for p in res.passages], res.lang
        peer = bm25_peer if s["kind"] == "bm25" else peers[s["embedder"]]
        return peer.retrieve(question, K, s["kind"]), None

    # Warm-up (not scored): loads our indexes from disk, fills caches and the allocator, on every system.
    for q in [q for lang in LANGS for q in [q for q in questions if q["lang"] == lang][:WARMUP]]:
        for s in systems_:
            call(s, q["question"])

    rows: dict[str, list[dict]] = {s["key"]: [] for s in systems_}
    lang_agree = {s["key"]: {lang: 0 for lang in LANGS} for s in systems_ if s["kind"] == "ours"}
    t_run = time.perf_counter()
    for i, q in enumerate(questions, 1):
        for s in systems_:
            t = time.perf_counter()
            hits, detected = call(s, q["question"])
            ms = (time.perf_counter() - t) * 1000
            rows[s["key"]].append({"lang": q["lang"], "ms": ms, "docs": [d for d, _ in hits],
                                   "texts": [x for _, x in hits], "gold_docs": q["gold_doc_ids"],
                                   "gold_passages": q["gold_passages"]})
            if detected is not None:
                lang_agree[s["key"]][q["lang"]] += detected == q["lang"]
        if i % 200 == 0:
            log(f"{i}/{len(questions)} questions, {time.perf_counter() - t_run:.0f} s")
    queries_s = time.perf_counter() - t_run
    tmp.cleanup()

    results = {key: {lang: score([r for r in rows[key] if r["lang"] == lang]) for lang in LANGS} for key in rows}
    # Paired latency: per question, each of ours' time over each peer system's time on the same question a moment
    # apart, which cancels most of the load that other processes put on the machine.
    for o in [s["key"] for s in systems_ if s["kind"] == "ours"]:
        for lang in LANGS:
            results[o][lang]["paired_ratio_median"] = {}
            for s in [s["key"] for s in systems_ if s["kind"] != "ours"]:
                pairs = [a["ms"] / b["ms"] for a, b in zip(rows[o], rows[s]) if a["lang"] == lang and b["ms"] > 0]
                results[o][lang]["paired_ratio_median"][s] = float(np.median(pairs)) if pairs else float("nan")
    n_lang = {lang: sum(1 for q in questions if q["lang"] == lang) for lang in LANGS}
    return {
        "dataset": {"corpus": str(corpus), "qa": str(qa), "questions": n_lang, "limit": limit, "k": K},
        "embedders": embedders,
        "systems": systems_,
        "index": index,
        "times": {"systems": times, "queries_s": queries_s},
        "code": code,
        "ours_settings": settings_by,
        "language_detection": {key: {lang: v[lang] / n_lang[lang] if n_lang[lang] else None for lang in LANGS}
                               for key, v in lang_agree.items()},
        "results": results,
        "machine": {**machine(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
    }


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def best_peer(out: dict, lang: str, key: str, lower: bool = False) -> tuple[str, float]:
    res = out["results"]
    cells = [(s["key"], res[s["key"]][lang][key]) for s in out["systems"] if s["kind"] != "ours"]
    return (min if lower else max)(cells, key=lambda c: c[1])


def prose(key: str) -> str:
    """A system key in a sentence: "peer dense (e5-small)" -> "peer dense on e5-small"."""
    return key.replace(" (", " on ").rstrip(")")


def embedder_cell(e: str | None) -> str:
    return e if e else "none (whitespace tokens)"


def render(out: dict, elapsed: float) -> str:
    res = out["results"]
    ours_keys = [s["key"] for s in out["systems"] if s["kind"] == "ours"]
    lines = ["| system | embedder | question | n | hit@1 | hit@5 | MRR@10 | passage_hit@1 | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in out["systems"]:
        for lang in LANGS:
            r = res[s["key"]][lang]
            if not r["n"]:
                continue
            lines.append(f"| {s['system']} | {embedder_cell(s['embedder'])} | {lang} | {r['n']} | {r['hit@1']:.3f} | "
                         f"{r['hit@5']:.3f} | {r['mrr@10']:.3f} | {r['passage_hit@1']:.3f} | {r['p50_ms']:.1f} | "
                         f"{r['p95_ms']:.1f} |")
    t, ix = out["times"]["systems"], out["index"]
    lines += ["", "Index build from an empty folder (model already loaded) and model load (first question embedded):", "",
              "| system | embedder | model load s | index build s | texts embedded |", "|---|---|---|---|---|"]
    for key in t:
        system, e = key.split(" (")
        what = (f"{ix[key]['chunks']} chunks + {ix[key]['sentences']} sentences" if system == "ours"
                else f"{ix[key]['chunks']} chunks; FAISS + BM25")
        lines.append(f"| {system} | {e.rstrip(')')} | {t[key]['load_s']:.1f} | {t[key]['build_s']:.1f} | {what} |")
    ratios, best = [], []
    for lang in LANGS:
        if not res[ours_keys[0]][lang]["n"]:
            continue
        for key, label in (("hit@1", "hit@1"), ("mrr@10", "MRR@10"), ("passage_hit@1", "passage_hit@1")):
            s, v = best_peer(out, lang, key)
            best.append(f"{lang} {label}: " + ", ".join(f"{prose(o)} {res[o][lang][key]:.3f} ({res[o][lang][key] - v:+.3f})"
                                                        for o in ours_keys) + f" vs best peer {v:.3f} ({prose(s)})")
        # Speed against the best-quality peer cell for this language (by MRR@10) and against the fastest peer.
        s_best, _ = best_peer(out, lang, "mrr@10")
        s_fast, fast = best_peer(out, lang, "p50_ms", lower=True)
        for o in ours_keys:
            p50 = res[o][lang]["p50_ms"]
            ratios.append(f"{lang}: {prose(o)} / {prose(s_best)} p50 = {p50 / res[s_best][lang]['p50_ms']:.2f} "
                          f"({p50:.1f} / {res[s_best][lang]['p50_ms']:.1f} ms), median of the per-question "
                          f"ratios {res[o][lang]['paired_ratio_median'][s_best]:.2f}; "
                          f"over the fastest peer ({prose(s_fast)}) {p50 / fast:.2f}")
    lines += ["", "Against the best peer cell per language, over every peer system and embedder (one configuration "
              "of ours per embedder for both languages; embeddinggemma is the default):", ""]
    lines += [f"- {b}" for b in best]
    lines += ["", "Latency ratios (our p50 / best peer p50, best = highest MRR@10 in that language):", ""]
    lines += [f"- {r}" for r in ratios]
    det = out["language_detection"]
    lines += ["", "Our question-language detection agreed with the dataset's label: "
              + "; ".join(f"{prose(key)} " + ", ".join(f"{lang} {v:.3f}" for lang, v in d.items() if v is not None)
                          for key, d in det.items()) + "."]
    lines += ["", f"Ours: code {out['code']}."]
    for e, st in out["ours_settings"].items():
        lines += ["", f"Ours ({e}) settings: {json.dumps(st, ensure_ascii=False)}."]
    peer_lines = [f"peer ({e}): {ix[f'peer ({e})']['model_dir']}, prompts {json.dumps(ix[f'peer ({e})']['prompts'])}"
                  for e in PEER_ORDER if f"peer ({e})" in ix]
    lines += ["", "Peer: " + "; ".join(peer_lines) + "."]
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
              f"warm-up {WARMUP}+{WARMUP} questions not scored; queries took {out['times']['queries_s']:.0f} s, "
              f"whole run {elapsed:.0f} s."]
    return "\n".join(lines) + "\n"


def parse_embedders(text: str) -> list[str]:
    names = [x for x in text.replace(",", " ").split() if x]
    bad = [x for x in names if x not in EMBEDDERS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"embedders {text!r}: a comma-separated list of {', '.join(EMBEDDERS)}")
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus")
    ap.add_argument("--qa", type=Path, default=DATA / "qa.jsonl")
    ap.add_argument("--embedders", type=parse_embedders, default=list(EMBEDDERS),
                    help=f"comma-separated, of {', '.join(EMBEDDERS)} (default: both)")
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each language")
    ap.add_argument("--out", type=Path, help="also write the markdown report here")
    ap.add_argument("--json", type=Path, help="write the raw figures as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.corpus, args.qa, args.limit, args.embedders)
    elapsed = time.perf_counter() - t0
    out["times"]["total_s"] = elapsed
    text = render(out, elapsed)
    flags = ("" if args.embedders == list(EMBEDDERS) else f" --embedders {','.join(args.embedders)}") + \
        (f" --limit {args.limit}" if args.limit else "")
    head = (f"# Retrieval benchmark: ours vs the LangChain peer recipe\n\n"
            f"`python eval/bench_retrieval.py{flags}` "
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
