"""A synthetic corpus shaped like a real one, for eval/bench_synth.py: chunk and sentence texts recombined from
real sentences, their vectors normalised mixes of real embeddings plus small noise, as an IndexData's parts.
"""

from __future__ import annotations

import hashlib


def normalise(x):
    import numpy as np

    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


NOISE = 0.012  # per dimension: a noise vector of norm ~0.24 before normalisation


def synth_corpus(base, n_chunks: int, seed: int, real_chunks=None):
    """A synthetic IndexData of n_chunks chunks (5 a document, 4-5 sentences a chunk, one sentence of overlap).

    base: (sentence texts, their real vectors, their pyvi tokens). A synthetic sentence splices the words of
    two real sentences (first part of one, last part of the other); its vector is the normalised mix of the two
    real vectors and a third (weights ~0.65/0.25/0.10) plus Gaussian noise; its tokens are the matching parts
    of the real sentences' tokens. A chunk vector is the normalised mean of its sentence vectors plus noise.
    """
    import numpy as np

    from rag.indexing.store import ChunkRecord, DocRecord

    texts, vecs, toks = base
    rng = np.random.default_rng(seed)
    nb, dim = vecs.shape
    per_doc = 5
    n_docs = (n_chunks + per_doc - 1) // per_doc
    # Sentence count per chunk: 4-5 rows; the first row of every chunk but a document's first is the overlap.
    rows_per_chunk = rng.integers(4, 6, size=n_chunks)
    first_of_doc = (np.arange(n_chunks) % per_doc) == 0
    new_per_chunk = rows_per_chunk - (~first_of_doc)
    n_sent = int(new_per_chunk.sum())
    p = rng.integers(0, nb, n_sent)
    s = (p + rng.integers(1, nb, n_sent)) % nb
    r = rng.integers(0, nb, n_sent)
    w = rng.dirichlet([6.5, 2.5, 1.0], n_sent).astype(np.float32)
    cut = rng.uniform(0.4, 0.75, n_sent)
    svec = np.empty((n_sent, dim), np.float32)
    for a in range(0, n_sent, 50_000):
        b = min(n_sent, a + 50_000)
        m = (w[a:b, :1] * vecs[p[a:b]] + w[a:b, 1:2] * vecs[s[a:b]] + w[a:b, 2:3] * vecs[r[a:b]]
             + rng.normal(0, NOISE, (b - a, dim)).astype(np.float32))
        svec[a:b] = normalise(m)
    words = [t.split() for t in texts]
    stext, stok = [], []
    for i in range(n_sent):
        wp, ws = words[p[i]], words[s[i]]
        kp, ks = max(1, int(len(wp) * cut[i])), int(len(ws) * cut[i])
        stext.append(" ".join(wp[:kp] + ws[ks:]))
        tp, ts = toks[p[i]], toks[s[i]]
        stok.append(tp[: max(1, int(len(tp) * cut[i]))] + ts[int(len(ts) * cut[i]):])

    docs, chunks, chunk_rows, sent_rows, chunk_texts, keys = {}, [], [], [], [], []
    chunk_tokens: list[list[str]] = []
    nxt = 0
    for d in range(n_docs):
        doc_id = f"syn_{d:06d}"
        lo, hi = d * per_doc, min(n_chunks, (d + 1) * per_doc)
        # The document's sentences: the chunks' new sentences in order.
        order = list(range(nxt, nxt + int(new_per_chunk[lo:hi].sum())))
        nxt += len(order)
        spans, pos, parts = [], 0, []
        for i in order:
            spans.append((pos, pos + len(stext[i])))
            parts.append(stext[i])
            pos += len(stext[i]) + 1
        text = " ".join(parts)
        h = hashlib.sha256(text.encode()).hexdigest()
        docs[doc_id] = DocRecord(doc_id, f"{doc_id}.txt", None, None, None, h, text, (("body", 0, len(text)),))
        k = 0
        for ci, c in enumerate(range(lo, hi)):
            if ci == 0:
                idx = list(range(k, k + int(rows_per_chunk[c])))
            else:
                idx = list(range(k - 1, k - 1 + int(rows_per_chunk[c])))
            idx = [i for i in idx if i < len(order)]
            k = idx[-1] + 1
            sent_ids = [order[i] for i in idx]
            sp = tuple(spans[i] for i in idx)
            start, end = sp[0][0], sp[-1][1]
            ctext = text[start:end]
            chunk_tokens.append([t for i in sent_ids for t in stok[i]])
            key = hashlib.sha256(ctext.encode()).hexdigest()[:32]
            chunks.append(ChunkRecord(f"{doc_id}-{ci}", doc_id, start, end, "body", sp, key))
            chunk_rows.append(sent_ids)
            chunk_texts.append(ctext)
            sent_rows.extend(sent_ids)
    sent_rows = np.asarray(sent_rows, dtype=np.int64)
    keys = [hashlib.sha256(stext[i].encode()).hexdigest()[:32] for i in sent_rows]
    # A chunk vector: the normalised mix of 2-3 real chunk vectors plus noise, like a sentence vector from
    # real sentence vectors (the mean of random sentences would be a vector of no topic at all).
    base_c = real_chunks if real_chunks is not None else vecs
    nc = len(chunks)
    cp, cs, cr = rng.integers(0, len(base_c), nc), rng.integers(0, len(base_c), nc), rng.integers(0, len(base_c), nc)
    cw = rng.dirichlet([6.5, 2.5, 1.0], nc).astype(np.float32)
    chunk_vectors = normalise(cw[:, :1] * base_c[cp] + cw[:, 1:2] * base_c[cs] + cw[:, 2:3] * base_c[cr]
                              + rng.normal(0, NOISE, (nc, dim)).astype(np.float32))
    real_target = structure_stats(real_chunks)["mean_pair_cos"] if real_chunks is not None else None
    chunk_vectors = match_spread(chunk_vectors, real_chunks, real_target)
    sent_target = structure_stats(vecs)["mean_pair_cos"]
    svec_m = match_spread(svec, vecs, sent_target)
    sentence_vectors = svec_m[sent_rows]
    return docs, chunks, chunk_tokens, chunk_texts, np.ascontiguousarray(chunk_vectors, np.float32), \
        np.ascontiguousarray(sentence_vectors, np.float32), keys


def match_spread(x, real, target):
    """x' = normalise(mean_real + s (x - mean_x)), with s chosen so the mean cosine of random pairs is the target."""
    import numpy as np

    if real is None or target is None:
        return x
    mu_r, mu_x = real.mean(0), x.mean(0)
    rng = np.random.default_rng(1)
    sample = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
    iu = np.triu_indices(len(sample), 1)

    def pair_cos(s):
        y = normalise(mu_r + s * (sample - mu_x))
        return float((y @ y.T)[iu].mean())

    lo, hi = 0.5, 8.0
    for _ in range(25):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pair_cos(mid) > target else (lo, mid)
    s = (lo + hi) / 2
    out = np.empty_like(x)
    for a in range(0, len(x), 50_000):
        out[a:a + 50_000] = normalise(mu_r + s * (x[a:a + 50_000] - mu_x))
    return out


def structure_stats(vectors, rng_seed=0, n=2000) -> dict:
    """Mean cosine of random pairs and mean top-1 neighbour cosine of a sample: is the synthetic data shaped like real?"""
    import numpy as np

    rng = np.random.default_rng(rng_seed)
    idx = rng.choice(len(vectors), min(n, len(vectors)), replace=False)
    x = vectors[idx]
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    iu = np.triu_indices(len(x), 1)
    return {"mean_pair_cos": float(sims[iu].mean()), "mean_nn_cos": float(sims.max(1).mean())}
