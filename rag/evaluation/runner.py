"""Run a QA set through the assistant and write report.json, results.jsonl, report.md and chart.png."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from rag.errors import IndexMismatchError, RagError
from rag.evaluation.metrics import compare, score_question, summarize
from rag.evaluation.report import write_chart, write_markdown
from rag.evaluation.schema import QuestionResult, load_qa
from rag.models.chat import describe


def run_questions(assistant, rows: list[dict], show_bar: bool = False,
                  on_result: Callable[[QuestionResult], None] | None = None) -> list[QuestionResult]:
    """Ask every question; an error on one question is recorded as a refusal with the error, not a crash."""
    from tqdm import tqdm

    assistant.warm_up()
    data = assistant.index_data()
    doc_texts = {d.doc_id: d.text for d in data.docs.values()}
    results = []
    for row in tqdm(rows, desc="questions", unit="q", disable=not show_bar):
        try:
            # Ten passages for the retrieval metrics; the answer reads what the product reads (settings.k).
            retrieved = assistant.retrieve(row["question"], k=10)
            answer = assistant.ask(row["question"])
            res = QuestionResult(row, answer.lang, [p.to_json() for p in retrieved.passages], answer.text,
                                 answer.refused, [c.to_json() for c in answer.citations],
                                 {k: round(v, 2) for k, v in answer.timings.items()}, draft=answer.draft)
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
    same_set = previous is not None and all(previous.get("meta", {}).get(k) == meta.get(k)
                                            for k in ("qa", "corpus", "questions", "sample", "backend"))
    comparison = compare(summary, previous["metrics"]) if same_set and "metrics" in previous else {}
    report = {"meta": meta, "metrics": summary, "comparison": comparison,
              "previous": previous.get("meta") if previous else None}
    if previous is not None:
        (out / "report.prev.json").write_text(json.dumps(previous, ensure_ascii=False, indent=1), encoding="utf-8")
    with (out / "results.jsonl").open("w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    chart = write_chart(out / "chart.png", summary, results)
    write_markdown(out / "report.md", report, chart.name if chart else None)
    tmp = out / ".report.json.tmp"
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(previous_path)
    return report


def sample_rows(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """`n` questions drawn at random (a fixed seed: the same sample every run), in file order."""
    import random

    keep = set(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))
    return [r for i, r in enumerate(rows) if i in keep]


def evaluate(assistant, qa_path: Path, out: Path, limit: int | None = None,
             show_bar: bool = False, rebuild_on_mismatch: bool = False, sample: int | None = None) -> dict:
    rows = load_qa(qa_path)
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
        "backend": describe(assistant.settings.generator), "questions": len(rows), "sample": sample, "seconds": round(time.perf_counter() - t0, 1),
        "embedding": manifest.get("embedding", {}).get("name"), "chunking": manifest.get("chunking"),
        "retrieval": asdict(assistant.settings.retrieval),
        "answer_min_score": {"vi": assistant.settings.answer_min_score_vi, "en": assistant.settings.answer_min_score_en},
        "generate_min_score": {"vi": assistant.settings.generate_min_score_vi,
                               "en": assistant.settings.generate_min_score_en},
        "generator": {k: str(v) for k, v in asdict(assistant.settings.generator).items() if "key" not in k},
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return write_report(out, results, meta)
