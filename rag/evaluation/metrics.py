"""Evaluation metrics: retrieval (document and passage level) and answer, citation and refusal metrics.

Definitions (so that the figures mean one thing):
- answer correct: the question is answerable, the reply is not a refusal, and one gold answer appears in
  the reply after normalising case, spacing, diacritics and number formats (236,6 = 236.6; 300.000 = 300,000).
- right: a gold answer in the words of the reply that answer in the question's language (its own words, and the
  article's words it quotes where they are in that language: "1519 (“năm 1519”)" answers an English question,
  "From the article (in Vietnamese): “năm 1519”" does not), its own words in that language (names and numbers
  left out of that judgement: "Phạm Minh Chính [1]" answers an English question), and at least one citation,
  every one of them in a gold document.
- token F1: the best SQuAD-style token F1 between the normalised reply and a gold answer.
- citation precision: of all citations given for answerable questions, the share that support the answer:
  the cited passage (quote) overlaps a gold passage in a gold document, or contains a gold answer.
- citation recall: of the answerable questions answered (not refused), the share with a supporting citation.
- refusal precision / recall: over all refusals / over the unanswerable questions; false refusals: the
  share of answerable questions refused; false answers: the share of unanswerable questions answered.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from rag.evaluation.schema import QuestionResult
from rag.text import QUOTED, detect_language, normalize, without_names_and_numbers

# --- retrieval -------------------------------------------------------------------------------------------

def distinct(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def hit_at_k(ranked_doc_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 when a gold document is among the first k distinct documents."""
    gold = set(gold)
    return float(any(d in gold for d in distinct(ranked_doc_ids)[:k]))


def mrr_at_k(ranked_doc_ids: Sequence[str], gold: Iterable[str], k: int = 10) -> float:
    gold = set(gold)
    for i, d in enumerate(distinct(ranked_doc_ids)[:k], start=1):
        if d in gold:
            return 1.0 / i
    return 0.0


def passage_hit_at_k(ranked_texts: Sequence[str], gold_passages: Iterable[str], k: int) -> float:
    """1.0 when one of the first k passages contains a gold passage."""
    gold = [g for g in gold_passages if g]
    return float(any(g in t for t in ranked_texts[:k] for g in gold))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


# --- answers ---------------------------------------------------------------------------------------------

def answer_correct(reply: str, answers: Iterable[str]) -> bool:
    r = f" {normalize(reply)} "
    return any(f" {normalize(a)} " in r for a in answers if normalize(a))


_MARKER = re.compile(r"\[\d+\]")


def own_words(reply: str) -> str:
    """The reply's own words: without its citation markers and the article's words it quotes (“…”)."""
    return QUOTED.sub(" ", _MARKER.sub(" ", reply))


def answering_words(reply: str, lang: str) -> str:
    """The words of the reply that answer in `lang`: its own words, and the article's words it quotes where those
    are in `lang` too (a Vietnamese quote does not answer an English question, nor does a quote whose words show
    neither language, such as “hai”; "1519 (“năm 1519”)" does)."""
    quotes = [q for q in QUOTED.findall(reply) if detect_language(q.strip("“”\"«»"), undecided=None) == lang]
    return " ".join([own_words(reply), *quotes])


def in_language(reply: str, lang: str) -> bool:
    """Whether the reply's own words are in `lang`, judged on those other than names and numbers; a reply that is
    only names and numbers, or whose words show neither language ("hai", "maximum"), is in either."""
    found = detect_language(without_names_and_numbers(own_words(reply)), undecided=None)
    return found is None or found == lang


def token_f1(reply: str, answers: Iterable[str]) -> float:
    pred = normalize(reply).split()
    best = 0.0
    for a in answers:
        gold = normalize(a).split()
        if not pred or not gold:
            continue
        common: dict[str, int] = {}
        for t in gold:
            common[t] = common.get(t, 0) + 1
        overlap = 0
        for t in pred:
            if common.get(t, 0) > 0:
                overlap += 1
                common[t] -= 1
        if overlap:
            p, r = overlap / len(pred), overlap / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def citation_supports(citation: dict, row: dict, doc_texts: dict[str, str]) -> bool:
    """A citation supports the answer when it quotes a gold document where a gold passage lies, or a gold answer."""
    doc_id = citation.get("doc_id")
    quote = citation.get("quote", "")
    if doc_id not in row.get("gold_doc_ids", []):
        return False
    text = doc_texts.get(doc_id, "")
    start, end = citation.get("start", -1), citation.get("end", -1)
    for g in row.get("gold_passages", []):
        for m in re.finditer(re.escape(g), text):
            if m.start() < end and start < m.end():
                return True
    return answer_correct(quote, row.get("answers", []))


# --- a run -----------------------------------------------------------------------------------------------

def score_question(res: QuestionResult, doc_texts: dict[str, str]) -> dict:
    row = res.row
    s: dict = {}
    if row["answerable"]:
        docs = [p["doc_id"] for p in res.passages]
        texts = [p["text"] for p in res.passages]
        s["hit@1"] = hit_at_k(docs, row["gold_doc_ids"], 1)
        s["hit@5"] = hit_at_k(docs, row["gold_doc_ids"], 5)
        s["mrr@10"] = mrr_at_k(docs, row["gold_doc_ids"], 10)
        s["passage_hit@1"] = passage_hit_at_k(texts, row["gold_passages"], 1)
        s["passage_hit@5"] = passage_hit_at_k(texts, row["gold_passages"], 5)
        gold_lang = detect_language(" ".join(row["gold_passages"])) if row["gold_passages"] else None
        if texts and gold_lang and gold_lang != row["lang"]:
            # The gold passage is in the other language: is the first passage one in the question's language?
            s["same_language_first"] = float(detect_language(texts[0]) == row["lang"])
        s["correct"] = float(not res.refused and answer_correct(res.answer, row["answers"]))
        s["f1"] = 0.0 if res.refused else token_f1(res.answer, row["answers"])
        s["right"] = float(not res.refused and answer_correct(answering_words(res.answer, row["lang"]), row["answers"])
                           and in_language(res.answer, row["lang"]) and bool(res.citations)
                           and all(c.get("doc_id") in row["gold_doc_ids"] for c in res.citations))
        support = [citation_supports(c, row, doc_texts) for c in res.citations]
        s["citations"] = len(support)
        s["citations_supporting"] = sum(support)
    return s


def summarize(results: Sequence[QuestionResult]) -> dict:
    """Metrics overall and per language."""
    groups = {"all": list(results)}
    for lang in ("vi", "en"):
        groups[lang] = [r for r in results if r.row["lang"] == lang]
    return {name: _summary(rs) for name, rs in groups.items() if rs}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summary(results: list[QuestionResult]) -> dict:
    ans = [r for r in results if r.row["answerable"]]
    una = [r for r in results if not r.row["answerable"]]
    answered = [r for r in ans if not r.refused]
    refused = [r for r in results if r.refused]
    n_cit = sum(r.scores.get("citations", 0) for r in ans)
    out = {
        "questions": len(results), "answerable": len(ans), "unanswerable": len(una),
        **{m: _mean([r.scores[m] for r in ans]) for m in
           ("hit@1", "hit@5", "mrr@10", "passage_hit@1", "passage_hit@5", "correct", "right", "f1")},
        # Same-language bias: of the questions whose gold passage is in the other language, the share whose first
        # passage is in the question's language (a passage should win on what it says, not on its language).
        "same_language_first": _mean([r.scores["same_language_first"] for r in ans if "same_language_first" in r.scores]),
        "citation_precision": (sum(r.scores.get("citations_supporting", 0) for r in ans) / n_cit) if n_cit else None,
        "citation_recall": _mean([float(r.scores.get("citations_supporting", 0) > 0) for r in answered]),
        "refusal_precision": (sum(1 for r in refused if not r.row["answerable"]) / len(refused)) if refused else None,
        "refusal_recall": _mean([float(r.refused) for r in una]),
        "false_refusals": _mean([float(r.refused) for r in ans]),
        "false_answers": _mean([float(not r.refused) for r in una]),
        "language_detection": _mean([float(r.lang_detected == r.row["lang"]) for r in results]),
    }
    for t in ("retrieve_ms", "first_token_ms", "total_ms"):
        values = [r.timings[t] for r in results if t in r.timings]
        out[f"{t}_p50"] = percentile(values, 50) if values else None
        out[f"{t}_p95"] = percentile(values, 95) if values else None
    return out


# Which direction is better, for the comparison with the previous report.
LOWER_IS_BETTER = {"same_language_first", "false_refusals", "false_answers", "retrieve_ms_p50", "retrieve_ms_p95", "first_token_ms_p50",
                   "first_token_ms_p95", "total_ms_p50", "total_ms_p95"}
COUNTS = {"questions", "answerable", "unanswerable"}


def compare(current: dict, previous: dict, tolerance: float = 1e-9) -> dict:
    """Per group and metric: previous, current and 'better' / 'worse' / 'same'."""
    out: dict = {}
    for group, metrics in current.items():
        before = previous.get(group, {})
        for name, value in metrics.items():
            old = before.get(name)
            if name in COUNTS or value is None or old is None:
                continue
            if abs(value - old) <= tolerance or (name.endswith("_ms_p50") or name.endswith("_ms_p95")) and \
                    abs(value - old) <= 0.05 * max(abs(old), 1e-9):
                verdict = "same"  # latency within 5% is noise
            else:
                verdict = "better" if (value < old) == (name in LOWER_IS_BETTER) else "worse"
            out.setdefault(group, {})[name] = {"previous": old, "current": value, "verdict": verdict}
    return out
