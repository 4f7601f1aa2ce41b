"""The human side of an eval run: report.md with tables and chart.png (metrics by language, latency)."""

from __future__ import annotations

from pathlib import Path

SHOWN = [("hit@1", "retrieval hit@1"), ("hit@5", "retrieval hit@5"), ("mrr@10", "MRR@10"),
         ("passage_hit@1", "passage hit@1"), ("passage_hit@5", "passage hit@5"),
         ("same_language_first", "first passage in the question's language, gold in the other"), ("correct", "answer correct"),
         ("right", "answer right (correct, in the question's language, cited to gold documents)"),
         ("f1", "token F1"), ("citation_precision", "citation precision"), ("citation_recall", "citation recall"),
         ("refusal_precision", "refusal precision"), ("refusal_recall", "refusal recall"),
         ("false_refusals", "false refusals"), ("false_answers", "false answers"),
         ("language_detection", "language detected right"),
         ("retrieve_ms_p50", "retrieval p50 ms"), ("retrieve_ms_p95", "retrieval p95 ms"),
         ("first_token_ms_p50", "first token p50 ms"), ("total_ms_p50", "total p50 ms"),
         ("total_ms_p95", "total p95 ms")]
CHARTED = ["hit@1", "passage_hit@1", "right", "citation_precision", "refusal_recall"]


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def write_markdown(path: Path, report: dict, chart_name: str | None, curve_name: str | None = None) -> None:
    metrics, meta, comparison = report["metrics"], report["meta"], report.get("comparison", {})
    groups = [g for g in ("all", "vi", "en") if g in metrics]
    lines = [f"# Evaluation: {Path(meta['qa']).name}", "",
             f"{meta['questions']} questions on `{meta['corpus']}`, backend `{meta['backend']}`, "
             f"index {meta['index_version']}, {meta['date']}, {meta['seconds']} s.", ""]
    counts = " · ".join(f"{g}: {metrics[g]['questions']} ({metrics[g]['answerable']} answerable, "
                        f"{metrics[g]['unanswerable']} not)" for g in groups)
    lines += [counts, "", "| metric | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for key, label in SHOWN:
        cells = []
        for g in groups:
            cell = _fmt(metrics[g].get(key))
            verdict = comparison.get(g, {}).get(key, {}).get("verdict")
            if verdict in ("better", "worse"):
                cell += " ▲" if verdict == "better" else " ▼"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    if comparison:
        prev = report.get("previous") or {}
        lines += [f"## Against the previous run ({prev.get('date', '?')}, backend `{prev.get('backend', '?')}`)", "",
                  "▲ better, ▼ worse. Changed metrics:", "", "| group | metric | previous | now | |", "|---|---|---|---|---|"]
        changed = [(g, k, v) for g in groups for k, v in comparison.get(g, {}).items() if v["verdict"] != "same"]
        for g, k, v in changed:
            lines.append(f"| {g} | {k} | {_fmt(v['previous'])} | {_fmt(v['current'])} | {v['verdict']} |")
        if not changed:
            lines.append("| – | no metric changed | | | |")
        lines.append("")
    if chart_name:
        lines += [f"![metrics by language and latency]({chart_name})", ""]
    if curve_name:
        lines += ["Refusals: precision against recall as the refusal decision's threshold moves (questions the "
                  "floors refuse come first), and the run's own point:", "",
                  f"![refusal precision-recall]({curve_name})", ""]
    lines += ["Definitions: see the docstring of `rag/evaluation/metrics.py`.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_chart(path: Path, metrics: dict, results) -> Path | None:
    """Grouped bars of the main metrics by language, and the distribution of total latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = [g for g in ("vi", "en") if g in metrics]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(langs), 1)
    for i, g in enumerate(langs):
        values = [metrics[g].get(k) or 0.0 for k in CHARTED]
        left.bar([x + i * width for x in range(len(CHARTED))], values, width, label=g)
    left.set_xticks([x + width * (len(langs) - 1) / 2 for x in range(len(CHARTED))])
    left.set_xticklabels([k.replace("_", " ") for k in CHARTED], rotation=20, ha="right", fontsize=8)
    left.set_ylim(0, 1.05)
    left.set_title("metrics by question language")
    left.legend()
    for g in langs:
        times = [r.timings["total_ms"] for r in results if r.row["lang"] == g and "total_ms" in r.timings]
        if times:
            right.hist(times, bins=30, alpha=0.6, label=g)
    right.set_xlabel("total ms per question")
    right.set_title("latency")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def refusal_curve(results) -> tuple[list[float], list[float], tuple[float, float]] | None:
    """(recall, precision) as the refusal threshold falls, and the run's (recall, precision), by language
    together; None when no answer carried a refusal probability or no question was unanswerable."""
    rows = [r for r in results if r.timings]  # not the questions that failed with an error
    if not any(r.refusal_probability is not None for r in rows) or all(r.row["answerable"] for r in rows):
        return None

    def score(r) -> float:
        if r.refused and r.refusal_probability is None:
            return 2.0  # refused before the decision ran (the floors)
        return r.refusal_probability if r.refusal_probability is not None else -1.0

    ranked = sorted(rows, key=lambda r: -score(r))
    unanswerable = sum(not r.row["answerable"] for r in rows)
    recall, precision, hits = [], [], 0
    for i, r in enumerate(ranked, start=1):
        hits += not r.row["answerable"]
        recall.append(hits / unanswerable)
        precision.append(hits / i)
    refused = [r for r in rows if r.refused]
    point = (sum(not r.row["answerable"] for r in refused) / unanswerable,
             sum(not r.row["answerable"] for r in refused) / len(refused) if refused else 1.0)
    return recall, precision, point


def write_refusal_curve(path: Path, results) -> Path | None:
    """The refusal precision-recall curve with the run's chosen point (PNG)."""
    curve = refusal_curve(results)
    if curve is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recall, precision, (r0, p0) = curve
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision, label="as the threshold moves")
    ax.scatter([r0], [p0], color="red", zorder=3, label=f"this run: recall {r0:.2f}, precision {p0:.2f}")
    ax.set_xlabel("refusal recall")
    ax.set_ylabel("refusal precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("refusals")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
