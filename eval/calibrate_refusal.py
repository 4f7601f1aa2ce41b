"""Calibrate the refusal decision (rag/answer/refusal.py) on the dev sets: fit its weights, pick its thresholds.

Data: viquad2-dev (Vietnamese; 89 of 501 questions unanswerable, each a real question with one detail changed)
and xquad-vi-dev (all answerable; the aligned Vietnamese and English questions), never eval/qa.jsonl, which
stays the test. Each question is retrieved as `rag ask` retrieves it (indexes and results cached in --work);
questions the floors already refuse are left out of the fit, as the decision only sees the rest.

The weights: logistic regression (numpy, L2, features standardised, then folded back to raw-feature weights).
The thresholds: per language, the lowest probability that refuses at most --false-refusals of the dev sets'
answerable questions of that language. Printed: the RefusalSettings to put in rag/settings.py TUNED, viquad2-dev's
refusal recall and false refusals (in the fit and 2-fold cross-validated), and a precision-recall chart.

    python eval/calibrate_refusal.py --false-refusals 0.05 --png eval/calibrate_refusal.png
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rag.answer.answerability import RefusalRule  # noqa: E402
from rag.answer.reader import Reader  # noqa: E402
from rag.answer.refusal import FEATURES, refusal_features  # noqa: E402
from rag.assistant import Assistant  # noqa: E402
from rag.settings import Settings  # noqa: E402

DATASETS = ("viquad2-dev", "xquad-vi-dev")


def retrieved(name: str, work: Path, settings: Settings) -> list[tuple[dict, object]]:
    """(QA row, RetrievalResult) per question of a dataset, cached per embedder and retrieval settings."""
    folder = ROOT.parent / "shared" / "data" / name
    key = hashlib.sha256(json.dumps(settings.to_json()["retrieval"], sort_keys=True, default=str).encode()).hexdigest()[:10]
    cache = work / f"{name}-{settings.embedder}-{key}-results.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    s = settings.replace(corpus_dir=folder / "corpus", index_dir=work / f"{name}-{settings.embedder}")
    assistant = Assistant(s, notify=lambda m: print(m, flush=True))
    t = time.perf_counter()
    assistant.warm_up()
    print(f"{name}: index ready in {time.perf_counter() - t:.0f} s", flush=True)
    rows = [json.loads(line) for line in (folder / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for row in rows:
        result = assistant.retrieve(row["question"])
        out.append((row, result))
    cache.write_bytes(pickle.dumps(out))
    return out


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method on standardised features; weights and bias for the raw features."""
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1.0
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg)
        w -= np.linalg.solve(hess, grad)
    weights = w[:-1] / std
    return weights, float(w[-1] - (mean / std) @ w[:-1])


def probabilities(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ weights + bias)))


def roc_auc(score: np.ndarray, y: np.ndarray) -> float:
    """The chance that an unanswerable question scores above an answerable one (ties count half)."""
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


def threshold_at(p_answerable: np.ndarray, rate: float) -> float:
    """The lowest probability that refuses at most `rate` of these answerable questions."""
    ranked = np.sort(p_answerable)[::-1]
    allowed = int(np.floor(rate * len(ranked)))
    return float(ranked[allowed] + 1e-6) if allowed < len(ranked) else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--false-refusals", type=float, default=0.05, help="the rate each language's threshold allows")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-calibrate"))
    ap.add_argument("--png", type=Path, default=None, help="write the precision-recall chart here")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    rule = RefusalRule(settings.answer_floors(False), check_terms=True, weak_margin=0.0)
    reader = Reader(settings.reader)

    table = []  # (dataset, lang, answerable, floor refuses, features)
    for name in DATASETS:
        for row, result in retrieved(name, args.work, settings):
            feats = refusal_features(result, reader.read(result))
            table.append((name, row["lang"], bool(row["answerable"]), not rule.judge(result).answerable,
                          [feats[f] for f in FEATURES]))
    x = np.array([t[4] for t in table])
    y = np.array([0.0 if t[2] else 1.0 for t in table])
    kept = np.array([not t[3] for t in table])
    lang = np.array([t[1] for t in table])
    data = np.array([t[0] for t in table])
    for name in DATASETS:
        sel = data == name
        print(f"{name}: {sel.sum()} questions, {int(y[sel].sum())} unanswerable; the floors refuse "
              f"{(~kept & sel & (y == 1)).sum()} unanswerable, {(~kept & sel & (y == 0)).sum()} answerable")

    # The weights from viquad2-dev alone: fitted on both sets, they learn which set a question comes from (all
    # of xquad-vi-dev is answerable, all English questions are xquad-vi-dev's). xquad-vi-dev sets the thresholds.
    train = kept & (data == "viquad2-dev")
    weights, bias = fit(x[train], y[train], args.l2)
    auc = roc_auc(probabilities(x[train], weights, bias), y[train])
    print(f"viquad2-dev, past the floors: ROC AUC of the decision {auc:.3f} (in the fit)")
    p = probabilities(x, weights, bias)
    thresholds = {lg: threshold_at(p[kept & (lang == lg) & (y == 0)], args.false_refusals) for lg in ("vi", "en")}

    def rates(refused: np.ndarray, sel: np.ndarray) -> tuple[float, float]:
        return float(refused[sel & (y == 1)].mean()), float(refused[sel & (y == 0)].mean())

    refused = ~kept | (p >= np.vectorize(thresholds.get)(lang))
    for name in DATASETS:
        for lg in ("vi", "en"):
            sel = (data == name) & (lang == lg)
            if not sel.any():
                continue
            rr, fr = rates(refused, sel) if (y[sel] == 1).any() else (float("nan"), float(refused[sel].mean()))
            print(f"{name} {lg}: refusal recall {rr:.3f}, false refusals {fr:.3f} (floors and decision, in the fit)")

    # 2-fold cross-validation on viquad2-dev: fit on one half (and all of xquad), measure on the other.
    rng = np.random.default_rng(0)
    vq = np.where(data == "viquad2-dev")[0]
    fold = np.zeros(len(table), dtype=bool)
    fold[rng.permutation(vq)[: len(vq) // 2]] = True
    cv_refused = np.zeros(len(table), dtype=bool)
    for held in (fold, (data == "viquad2-dev") & ~fold):
        w_, b_ = fit(x[train & ~held], y[train & ~held], args.l2)
        p_ = probabilities(x, w_, b_)
        t_ = threshold_at(p_[kept & ~held & (lang == "vi") & (y == 0)], args.false_refusals)
        cv_refused[held] = (~kept | (p_ >= t_))[held]
    rr, fr = rates(cv_refused, data == "viquad2-dev")
    print(f"viquad2-dev vi, 2-fold cross-validated: refusal recall {rr:.3f}, false refusals {fr:.3f}")

    print("\nRefusalSettings for rag/settings.py TUNED:")
    print(json.dumps({"enabled": True, "weights": [round(float(w), 4) for w in weights], "bias": round(bias, 4),
                      "threshold_vi": round(thresholds["vi"], 4), "threshold_en": round(thresholds["en"], 4)}))
    print("features:", ", ".join(f"{f} {w:+.3f}" for f, w in zip(FEATURES, weights)))

    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        sel = data == "viquad2-dev"
        score = np.where(kept, p, 2.0)[sel]  # the floors' refusals come first
        gold = y[sel]
        order = np.argsort(-score)
        tp = np.cumsum(gold[order])
        precision, recall = tp / np.arange(1, len(order) + 1), tp / gold.sum()
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(recall, precision, label="viquad2-dev (floors, then the decision)")
        rr, _ = rates(refused, sel)
        chosen_precision = float(gold[refused[sel]].mean()) if refused[sel].any() else 1.0
        ax.scatter([rr], [chosen_precision], color="red", zorder=3,
                   label=f"chosen: threshold {thresholds['vi']:.2f}")
        ax.set_xlabel("refusal recall")
        ax.set_ylabel("refusal precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
