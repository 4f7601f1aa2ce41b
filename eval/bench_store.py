"""Store benchmark: the FAISS folder against PostgreSQL with pgvector, on synthetic vectors, in one run.

    python eval/bench_store.py [--sizes 100000,1000000] [--dim 768] [--hnsw-max 100000] [--out eval/bench_store.md]

Per store and size N (chunks; one sentence row per chunk, so 2N vectors are stored):
- build: IndexStore.save / PostgresStore.save of a finished IndexData (the embedding, equal for both, left out);
- update: one document of 1,000 changed (N/1,000 chunks re-embedded by a stand-in embedder), the whole
  incremental `rag index` path (Indexer.update), which writes a new version either way;
- load: a fresh process loading the active version (what a new `rag serve` pays), and its peak memory;
- query p50 and recall@10 against exact search, 200 questions: the loaded index's FAISS search (both stores
  serve from it), and, for PostgreSQL, search in the database: an exact scan (`ORDER BY embedding <#> q`) and,
  up to --hnsw-max, an HNSW index (m 16, ef_construction 64; ef_search 40 and 100) with its build time.

Vectors: 2,000 random cluster centres in `dim` dimensions, points at cosine about 0.8 to their centre,
L2-normalised; questions are fresh points of the same clusters (synthetic: the structure of real embeddings
is not reproduced, only that neighbours are close). PostgreSQL is the pgserver wheel's (rag pg start), local
socket, default settings but maintenance_work_mem 1 GB for the HNSW build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

K = 10
QUESTIONS = 200


def vectors(n: int, dim: int, seed: int, centres: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, len(centres), n)
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, 50_000):
        b = min(n, a + 50_000)
        noise = rng.standard_normal((b - a, dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        x = 0.8 * centres[owner[a:b]] + 0.6 * noise
        out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic_data(n: int, dim: int, docs: int = 1000):
    """An IndexData of n chunks in `docs` documents, one sentence each, with synthetic vectors and tokens."""
    from rag.indexing.lexical import LexicalIndex
    from rag.indexing.store import ChunkRecord, DocRecord, IndexData, expected_manifest
    from rag.settings import ChunkSettings, LexicalSettings

    cv = vectors(n, dim, 2, _centres(dim))
    per = n // docs
    chunks, tokens, doc_records = [], [], {}
    for d in range(docs):
        text = f"tài liệu {d} " * 4
        doc_id = f"doc{d:04d}"
        doc_records[doc_id] = DocRecord(doc_id, f"{doc_id}.txt", f"Bài {d}", None, None, f"{d:064x}", text, ())
        for j in range(per):
            i = d * per + j
            chunks.append(ChunkRecord(f"{doc_id}#{j}", doc_id, 0, 10, "body", ((0, 10),), f"k{i}"))
            tokens.append([f"t{i % 5000}", f"d{d}"])

    class Stand:
        name, checksum, dimension, prompts, precision = "synthetic", "synthetic-1", dim, {}, "fp32"

    manifest = {"format": 3, **expected_manifest(Stand, ChunkSettings(), LexicalSettings()),
                "documents": {d: {"content_hash": r.content_hash} for d, r in doc_records.items()},
                "counts": {"documents": docs, "chunks": len(chunks), "sentences": len(chunks)}}
    lexical = LexicalIndex.build(tokens)
    return IndexData(manifest, doc_records, chunks, cv, cv.copy(), [c.embed_key for c in chunks], lexical,
                     tokens=tokens)


def _centres(dim: int) -> np.ndarray:
    c = np.random.default_rng(0).standard_normal((2000, dim)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def questions(dim: int) -> np.ndarray:
    return vectors(QUESTIONS, dim, 3, _centres(dim))


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return float(np.mean([len(set(f[:K]) & set(e[:K])) / K for f, e in zip(found, exact)]))


def timed(fn, qs) -> tuple[float, list[list[int]]]:
    ms, out = [], []
    for q in qs:
        t = time.perf_counter()
        out.append([int(i) for i in fn(q)])
        ms.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(ms, 50)), out


def open_store(kind: str, where: str, store_name: str):
    from rag.indexing.pgstore import PostgresStore
    from rag.indexing.store import IndexStore

    return IndexStore(Path(where)) if kind == "faiss" else PostgresStore(where, store_name)


def child(action: str, kind: str, where: str, store_name: str, dim: int, n: int) -> dict:
    """In a fresh process (each step's memory is its own): build and save the synthetic index, load it and
    search it, or change one document of 1,000."""
    store = open_store(kind, where, store_name)
    if action == "build":
        data = synthetic_data(n, dim)
        t = time.perf_counter()
        store.save(data)
        return {"build_s": time.perf_counter() - t, "peak_mb": _peak_mb()}
    if action == "update":
        records = list(store.load(search=False).docs.values())  # the corpus as stored (the rest freed here)
        return {"update_s": update_one_document(store, records, dim), "peak_mb": _peak_mb()}
    t = time.perf_counter()
    data = store.load()
    load_s = time.perf_counter() - t
    qs = questions(dim)
    p50, found = timed(lambda q: data.dense.search(q[None, :], K)[1][0], qs)
    return {"load_s": load_s, "query_ms_p50": p50, "found": found, "peak_mb": _peak_mb()}


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    return next(int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))


def run_child(*args) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode:
        sys.exit(f"{args[0]} {args[1]} failed (exit {proc.returncode}{', killed: out of memory?' if proc.returncode == -9 else ''})"
                 f"\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def update_one_document(store, records, dim: int) -> float:
    """Indexer.update with document 0 of 1,000 changed, over a corpus folder matching the stored version."""
    from rag.indexing.builder import Indexer
    from rag.ingest.corpus import Corpus, Document
    from rag.settings import ChunkSettings, LexicalSettings

    class Embedder:  # stands in for the model: the same cost for both stores
        name, checksum, dimension, prompts, precision = "synthetic", "synthetic-1", dim, {}, "fp32"

        def embed_passages(self, texts, progress=False):
            return vectors(len(texts), dim, 9, _centres(dim))

    docs = [Document(r.doc_id, r.path, r.text, r.title, r.date, r.source, (), r.content_hash)
            for r in records]
    changed = docs[0]
    docs[0] = Document(changed.doc_id, changed.path, changed.text + " Một câu mới.", changed.title, None, None, (),
                       "f" * 64)
    t = time.perf_counter()
    Indexer(store, Embedder(), ChunkSettings(), LexicalSettings()).update(Corpus(tuple(docs), ()))
    return time.perf_counter() - t


def bench_size(n: int, dim: int, hnsw_max: int, pg_url: str, tmp: Path, rows: list[dict]) -> None:
    """Appends to `rows` as it goes: a step that fails leaves the rows before it."""
    import faiss

    cv = vectors(n, dim, 2, _centres(dim))  # synthetic_data's chunk vectors, for the exact truth
    exact = faiss.IndexFlatIP(dim)
    exact.add(cv)
    del cv
    qs = questions(dim)
    truth = [[int(i) for i in exact.search(q[None, :], K)[1][0]] for q in qs]
    del exact
    for kind in ("faiss", "postgres"):
        where, name = (str(tmp / f"faiss-{n}"), "") if kind == "faiss" else (pg_url, f"bench-{n}")
        built = run_child("build", kind, where, name, dim, n)
        print(f"{kind} {n}: saved in {built['build_s']:.1f} s", file=sys.stderr, flush=True)
        loaded = run_child("load", kind, where, name, dim, n)
        row = {"store": kind, "n": n, "build_s": built["build_s"], "build_peak_mb": built["peak_mb"],
               "load_s": loaded["load_s"],
               "peak_mb": loaded["peak_mb"], "query_ms_p50": loaded["query_ms_p50"],
               "recall": recall(loaded["found"], truth),
               "search": "FAISS in the process (" + ("exact" if n <= 50_000 else "IVFFlat, 64 probed") + ")"}
        rows.append(row)
        if kind == "postgres":  # before the update: the chunk numbers of this version are the truth's
            rows += bench_in_database(open_store(kind, where, name), n, qs, truth, hnsw_max)
        print(f"{kind} {n}: {row}", file=sys.stderr, flush=True)
        updated = run_child("update", kind, where, name, dim, n)
        row["update_s"], row["update_peak_mb"] = updated["update_s"], updated["peak_mb"]
        print(f"{kind} {n}: update {row['update_s']:.1f} s", file=sys.stderr, flush=True)


def bench_in_database(store, n: int, qs: np.ndarray, truth, hnsw_max: int) -> list[dict]:
    out = []
    with store.connect() as conn:
        version = store.current_version().name
        dim = qs.shape[1]
        where = "store = %s AND version = %s"
        args = (store.name, version)

        def search(q, ef=None):
            return [r[0] for r in conn.execute(
                f"SELECT idx FROM rag_chunks WHERE {where} ORDER BY embedding::vector({dim}) <#> %s::vector({dim}) "
                f"LIMIT {K}", (*args, q)).fetchall()]

        p50, found = timed(search, qs[:50])
        out.append({"store": "postgres", "n": n, "search": "in the database, exact scan", "query_ms_p50": p50,
                    "recall": recall(found, truth[:50])})
        print(f"postgres {n}: exact scan {p50:.1f} ms", file=sys.stderr, flush=True)
        if n > hnsw_max:
            return out
        conn.execute("SET maintenance_work_mem = '1GB'")
        t = time.perf_counter()
        conn.execute(f"CREATE INDEX bench_hnsw ON rag_chunks USING hnsw ((embedding::vector({dim})) vector_ip_ops) "
                     f"WITH (m = 16, ef_construction = 64) WHERE store = '{store.name}' AND version = '{version}'")
        conn.commit()
        build = time.perf_counter() - t
        for ef in (40, 100):
            conn.execute(f"SET hnsw.ef_search = {ef}")
            conn.execute("SET enable_seqscan = off")
            # The partial index's condition written as literals: the planner cannot match it to parameters.
            literal = f"store = '{store.name}' AND version = '{version}'"
            p50, found = timed(lambda q: [r[0] for r in conn.execute(
                f"SELECT idx FROM rag_chunks WHERE {literal} ORDER BY embedding::vector({dim}) <#> %s::vector({dim}) "
                f"LIMIT {K}", (q,)).fetchall()], qs)
            out.append({"store": "postgres", "n": n, "search": f"in the database, HNSW ef_search {ef}",
                        "query_ms_p50": p50, "recall": recall(found, truth), "build_s": build})
            print(f"postgres {n}: HNSW ef {ef}: {p50:.1f} ms, recall {out[-1]['recall']:.3f}", file=sys.stderr, flush=True)
        conn.execute("DROP INDEX bench_hnsw")
        conn.commit()
    return out


def render(rows: list[dict], machine: dict, dim: int) -> str:
    lines = ["# Store benchmark: FAISS folder vs PostgreSQL + pgvector, one run", "",
             f"Machine: {machine}, {time.strftime('%Y-%m-%d')}. Synthetic clustered vectors, {dim} dimensions; "
             "chunks = sentence rows = N. One run of `python eval/bench_system.py --stores "
             f"{','.join(str(n) for n in dict.fromkeys(r['n'] for r in rows))} --store-dim {dim}` "
             "(eval/bench_store.py), both stores in it; each build, update and load in a fresh process, its peak "
             "RSS beside it.", "",
             "| store | N | search | query p50 | recall@10 vs exact | build (save) | update 1 doc of 1,000 | "
             "load in a new process | peak memory: build / update / load |", "|---|---|---|---|---|---|---|---|---|"]

    def f(v, unit="", fmt="{:.1f}"):
        return "–" if v is None else fmt.format(v) + unit

    for r in rows:
        lines.append(f"| {r['store']} | {r['n']:,} | {r['search']} | {f(r.get('query_ms_p50'), ' ms', '{:.2f}')} | "
                     f"{f(r.get('recall'), '', '{:.3f}')} | {f(r.get('build_s'), ' s')} | {f(r.get('update_s'), ' s')} | "
                     f"{f(r.get('load_s'), ' s')} | {' / '.join(f(r.get(k), '', '{:,.0f}') for k in ('build_peak_mb', 'update_peak_mb', 'peak_mb'))} MB |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--hnsw-max", type=int, default=100_000, help="build HNSW in the database up to this size")
    ap.add_argument("--out", type=Path, default=HERE / "bench_store.md")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        action, kind, where, name, dim, n = args.child
        print(json.dumps(child(action, kind, where, name, int(dim), int(n))))
        return 0
    from common import machine

    from rag.indexing import pglocal

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        server = pglocal.start(Path(tmp) / "pgdata", cleanup_mode="stop")
        rows = []
        for n in (int(s) for s in args.sizes.split(",")):
            try:
                bench_size(n, args.dim, args.hnsw_max, server.get_uri(), Path(tmp), rows)
            except SystemExit as exc:  # a step that failed (out of memory, say): the rows so far are kept
                print(exc, file=sys.stderr)
                rows.append({"store": "–", "n": n, "search": "failed: " + str(exc).strip().splitlines()[0][:150]})
        server.cleanup()
    text = render(rows, machine(), args.dim)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
