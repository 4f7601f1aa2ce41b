"""Run a QA set through the assistant and write report.json, results.jsonl, report.md and chart.png.

The policy of a run lives here too (plan_run): where its report goes, and whether it gets an index of its own.
Each question is retrieved once, with ten passages for the retrieval metrics; the answer reads the first k
of them (RetrievalResult.top), exactly what `rag ask` reads.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rag.errors import IndexMismatchError, ModelBusyError, RagError
from rag.evaluation.metrics import compare, score_question, summarize
from rag.evaluation.report import write_chart, write_markdown, write_refusal_curve
from rag.evaluation.schema import QuestionResult, load_qa
from rag.files import atomic_write
from rag.models.backends import backend, describe
from rag.models.gguf import MODELS
from rag.settings import ROOT, Settings

METRIC_PASSAGES = 10  # the retrieval metrics read this many passages (mrr@10)


@dataclass(frozen=True)
class RunPlan:
    settings: Settings
    out: Path  # the report folder
    private_index: bool  # the run's own index, in the report folder, rebuilt without asking on a mismatch


def plan_run(settings: Settings, qa: Path, sample: int | None = None, out: Path | None = None, held_out: bool = False,
             index_given: bool = False) -> RunPlan:
    """The report folder eval/runs/<corpus>-<qa>[-sampleN]-<backend>[-model]/ (or `out`). A corpus other than
    the default gets its own index beside the report, unless an index was given: the default index is the
    user's, and an eval must never replace it."""
    corpus = settings.corpus_dir.resolve()
    g = settings.generator
    model = (f"-{g.model if g.model in MODELS else Path(g.model).stem}" if backend(g.backend).local else "")
    mode = f"-{g.mode}" if backend(g.backend).generates and g.mode != "reader" else ""
    run_name = (f"{corpus.name}-{Path(qa).stem}" + ("-heldout" if held_out else "") + (f"-sample{sample}" if sample else "")
                + f"-{g.backend}" + model + mode)
    out = out or ROOT / "eval" / "runs" / run_name
    private_index = not index_given and corpus != Settings().corpus_dir.resolve()
    if private_index:  # in PostgreSQL: an index of its own name beside the user's (RAG_PG_STORE)
        settings = settings.replace(index_dir=out / "index", pg_store=f"{settings.pg_store}-eval-{run_name}")
    return RunPlan(settings, out, private_index)


def run_questions(assistant, rows: list[dict], show_bar: bool = False,
                  on_result: Callable[[QuestionResult], None] | None = None) -> list[QuestionResult]:
    """Ask every question; an error on one question is recorded as a refusal with the error, not a crash."""
    from tqdm import tqdm

    assistant.warm_up()
    data = assistant.index_data()
    doc_texts = {d.doc_id: d.text for d in data.docs.values()}
    k = assistant.settings.retrieval.k
    results = []
    for row in tqdm(rows, desc="questions", unit="q", disable=not show_bar):
        try:
            t0 = time.perf_counter()
            retrieved = assistant.retrieve(row["question"], k=max(METRIC_PASSAGES, k))
            timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
            answer = assistant.answer_stream(retrieved.top(k), timings, started=t0).answer()
            res = QuestionResult(row, answer.lang, [p.to_json() for p in retrieved.passages], answer.text,
                                 answer.refused, [c.to_json() for c in answer.citations],
                                 {name: round(v, 2) for name, v in answer.timings.items()}, draft=answer.draft,
                                 refusal_probability=answer.refusal_probability)
        except ModelBusyError:
            raise  # every answer that needs the model would fail alike: stop with the one line that says why
        except RagError as exc:
            res = QuestionResult(row, "", [], f"error: {exc}", True, [], {})
        res.scores = score_question(res, doc_texts)
        results.append(res)
        if on_result:
            on_result(res)
    return results


def write_report(out: Path, results: list[QuestionResult], meta: dict) -> dict:
    """Write the four files into `out`, comparing with the report.json already there (kept as report.prev.json)
    when it was a run of the same QA file on the same corpus."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    previous_path = out / "report.json"
    previous = None
    if previous_path.is_file():
        try:
            previous = json.loads(previous_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
    same_set = previous is not None and "metrics" in previous and all(
        previous.get("meta", {}).get(k) == meta.get(k) for k in ("qa", "corpus", "questions", "sample", "held_out", "backend"))
    comparison = compare(summary, previous["metrics"]) if same_set else {}
    report = {"meta": meta, "metrics": summary, "comparison": comparison,
              "previous": previous.get("meta") if previous else None}
    if previous is not None:
        (out / "report.prev.json").write_text(json.dumps(previous, ensure_ascii=False, indent=1), encoding="utf-8")
    with (out / "results.jsonl").open("w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    chart = write_chart(out / "chart.png", summary, results)
    curve = write_refusal_curve(out / "refusals.png", results)
    write_markdown(out / "report.md", report, chart.name if chart else None, curve.name if curve else None)
    atomic_write(previous_path, json.dumps(report, ensure_ascii=False, indent=1))
    return report


def sample_rows(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """`n` questions drawn at random (a fixed seed: the same sample every run), in file order."""
    import random

    keep = set(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))
    return [r for i, r in enumerate(rows) if i in keep]


def held_out_ids(qa_path: Path) -> set[str]:
    """The questions of a benchmark set (xquad-vi-dev, viquad2-dev: the QA file's folder) on the articles the
    reader was not trained on (rag/training/data.py)."""
    from rag.training.data import BENCH_SETS, dev_question_ids

    folder = Path(qa_path).resolve().parent
    if folder.name not in BENCH_SETS:
        raise RagError(f"--held-out works on the reader's benchmark sets ({', '.join(BENCH_SETS)}), not {qa_path}")
    return dev_question_ids(folder.parent, folder.name)


def evaluate(assistant, qa_path: Path, out: Path, limit: int | None = None,
             show_bar: bool = False, rebuild_on_mismatch: bool = False, sample: int | None = None,
             held_out: bool = False) -> dict:
    rows = load_qa(qa_path)
    if held_out:
        keep = held_out_ids(qa_path)
        rows = [r for r in rows if r["id"] in keep]
    if sample:
        rows = sample_rows(rows, sample)
    if limit:
        rows = rows[:limit]
    t0 = time.perf_counter()
    try:
        index_report = assistant.build_index()
    except IndexMismatchError:
        if not rebuild_on_mismatch:
            raise
        index_report = assistant.build_index(rebuild=True)
    results = run_questions(assistant, rows, show_bar=show_bar)
    manifest = assistant.index_data().manifest
    meta = {
        "qa": str(Path(qa_path).resolve()), "corpus": str(Path(assistant.settings.corpus_dir).resolve()), "index_version": index_report.version,
        "backend": describe(assistant.settings.generator), "questions": len(rows), "sample": sample, "held_out": held_out, "seconds": round(time.perf_counter() - t0, 1),
        "embedding": manifest.get("embedding", {}).get("name"), "chunking": manifest.get("chunking"),
        "lexical": manifest.get("lexical"),
        # Every setting the run used, tuned numbers included (Settings.to_json).
        "settings": assistant.settings.to_json(),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return write_report(out, results, meta)
