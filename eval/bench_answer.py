"""Answer benchmark: time to first token, full answer time and peak memory, ours against the peer, both models.

    python eval/bench_answer.py [--questions 20] [--unanswerable 6] [--models 1.5b,0.5b] [--out eval/bench_answer.md]

The same answerable seed questions (eval/qa.jsonl, alternately Vietnamese and English, in file order) go to
each system in a fresh subprocess with 2 threads, one question at a time, after one warm-up question:
- ours: `Assistant.ask_stream` with the local backend (the best sentences, a fixed system prefix whose KV
  cache llama.cpp reuses, worked examples in that prefix, a prompt budget of 6 sentences / 1,500 characters);
- peer: LangChain's canonical "stuff" chain: the peer retriever of eval/peer.py (EnsembleRetriever over
  RecursiveCharacterTextSplitter(1000, 200) chunks, k=4), ChatPromptTemplate "Answer the question based only
  on the following context. If you don't know the answer, just say that you don't know.", the same GGUF
  through the same llama.cpp chat model, streamed.
Both answer the same questions and are scored the same way (quality(): correct, in the question's language,
right, refusals).
Time to first token counts from the question's arrival (retrieval included); peak memory is the subprocess's
VmHWM after all its questions, plus the local model's worker process's. Numbers depend on the machine: the table says which one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from common import code_state, machine, pct  # noqa: E402

# LangChain's stuff-chain prompt with the common instruction for what the context does not answer.
PEER_PROMPT = ("Answer the question based only on the following context. If you don't know the answer, just say "
               "that you don't know.\n{context}\n\nQuestion: {question}")
# A peer reply that says it does not know (in either language) counts as a refusal.
PEER_REFUSAL = re.compile(r"(don't|do not|doesn't|does not) (know|provide|mention|contain|say)|not (mentioned|provided|"
                          r"specified|stated)|no information|không (biết|có thông tin|đề cập|được đề cập|nêu)|"
                          r"không tìm thấy", re.I)


def question_rows(n: int, unanswerable: int = 0) -> list[dict]:
    """`n` answerable seed questions, alternately Vietnamese and English in file order, then `unanswerable`
    unanswerable ones, alternately too."""
    rows = [json.loads(line) for line in (ROOT / "eval" / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for answerable, count in ((True, n), (False, unanswerable)):
        vi = [r for r in rows if r["answerable"] is answerable and r["lang"] == "vi"]
        en = [r for r in rows if r["answerable"] is answerable and r["lang"] == "en"]
        pairs = [r for ab in zip(vi, en) for r in ab]
        out += pairs[:count]
    return out


def quality(rows: list[dict], results: list[dict], system: str) -> dict:
    """correct / in the question's language / right (correct, in language, cited, all citations gold; the peer
    cites nothing) over the answerable questions; refusal recall and false refusals."""
    from rag.evaluation.metrics import answer_correct, in_language

    ans = [(r, x) for r, x in zip(rows, results) if r["answerable"]]
    una = [(r, x) for r, x in zip(rows, results) if not r["answerable"]]

    def refused(x: dict) -> bool:
        return x["refused"] if system == "ours" else bool(PEER_REFUSAL.search(x["answer"]))

    def mean(values: list[bool]) -> float:
        return sum(values) / len(values) if values else float("nan")

    correct = [not refused(x) and answer_correct(x["answer"], r["answers"]) for r, x in ans]
    lang = [in_language(x["answer"], r["lang"]) for r, x in ans]
    right = [c and g and bool(x.get("doc_ids")) and all(d in r["gold_doc_ids"] for d in x.get("doc_ids", []))
             for c, g, (r, x) in zip(correct, lang, ans)]
    return {"correct": mean(correct), "in_language": mean(lang), "right": mean(right),
            "refusal_recall": mean([refused(x) for _, x in una]), "false_refusals": mean([refused(x) for _, x in ans])}


def peak_rss_mb() -> float:
    """This process's peak resident memory plus that of the local model's worker process(es)."""
    own = float("nan")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            own = int(line.split()[1]) / 1024
    try:
        from rag.models.worker import shared_workers
    except ImportError:  # code from before the model had a worker process of its own
        return own
    return own + sum(w.peak_memory_mb() or 0.0 for w in shared_workers())


def run_ours(model: str, qs: list[str]) -> dict:
    import tempfile

    from rag.assistant import Assistant
    from rag.settings import GeneratorSettings, Settings

    index = Path(tempfile.mkdtemp(prefix="bench-answer-index-"))
    settings = Settings(index_dir=index, threads=2, generator=GeneratorSettings(backend="local", model=model, threads=2))
    a = Assistant(settings)
    a.build_index()
    t = time.perf_counter()
    a.ask(qs[0])  # loads the model and fills the cached prefix
    load_s = time.perf_counter() - t
    rows = []
    for q in qs[1:]:
        t0 = time.perf_counter()
        first = None
        stream = a.ask_stream(q)
        for e in stream:
            if e.kind == "text" and first is None:
                first = time.perf_counter() - t0
        answer = stream.answer()
        total = time.perf_counter() - t0
        rows.append({"question": q, "first_token_s": first if first is not None else total, "total_s": total,
                     "refused": answer.refused, "answer": answer.text,
                     "doc_ids": [c.doc_id for c in answer.citations]})
    return {"rows": rows, "first_answer_s": load_s, "peak_rss_mb": peak_rss_mb()}


def run_peer(model: str, qs: list[str]) -> dict:
    import torch
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from peer import PeerRecipe

    from rag.models.chat import make_chat_model
    from rag.settings import GeneratorSettings, Settings

    torch.set_num_threads(2)
    settings = Settings()
    peer = PeerRecipe.for_embedder(settings.embedder)
    peer.build(settings.corpus_dir)
    llm = make_chat_model(GeneratorSettings(backend="local", model=model, threads=2))
    chain = ChatPromptTemplate.from_messages([("human", PEER_PROMPT)]) | llm | StrOutputParser()

    def ask(q: str):
        context = "\n\n".join(text for _, text in peer.retrieve(q, k=4))
        return chain.stream({"context": context, "question": q})

    t = time.perf_counter()
    "".join(ask(qs[0]))
    load_s = time.perf_counter() - t
    rows = []
    for q in qs[1:]:
        t0 = time.perf_counter()
        first = None
        text = ""
        for piece in ask(q):
            if piece and first is None:
                first = time.perf_counter() - t0
            text += piece
        total = time.perf_counter() - t0
        rows.append({"question": q, "first_token_s": first if first is not None else total, "total_s": total,
                     "answer": text})
    return {"rows": rows, "first_answer_s": load_s, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--unanswerable", type=int, default=6, help="unanswerable questions after the answerable ones")
    ap.add_argument("--models", default="1.5b,0.5b")
    ap.add_argument("--out", type=Path, default=HERE / "bench_answer.md")
    ap.add_argument("--child", nargs=2, metavar=("SYSTEM", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    rows = question_rows(args.questions + 1, args.unanswerable)
    qs = [r["question"] for r in rows]
    if args.child:
        system, model = args.child
        result = (run_ours if system == "ours" else run_peer)(model, qs)
        print(json.dumps(result, ensure_ascii=False))
        return

    results = {}
    for model in args.models.split(","):
        for system in ("ours", "peer"):
            env = {"TRANSFORMERS_OFFLINE": "1", **os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false",
                   "HF_HUB_OFFLINE": "1"}
            proc = subprocess.run([sys.executable, __file__, "--questions", str(args.questions), "--unanswerable",
                                   str(args.unanswerable), "--child", system, model],
                                  capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode:
                sys.exit(f"{system} {model} failed:\n{proc.stderr[-3000:]}")
            results[(model, system)] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = results[(model, system)]
            print(f"{model} {system}: TTFT p50 {pct([x['first_token_s'] for x in r['rows']], 50):.2f} s, "
                  f"total p50 {pct([x['total_s'] for x in r['rows']], 50):.2f} s, peak {r['peak_rss_mb']:.0f} MB",
                  file=sys.stderr)

    m = machine()
    asked = rows[1:]  # the first question warms up
    lines = ["# Answer benchmark: ours vs the peer (LangChain stuff chain), same model, same machine, one run", "",
             f"Machine: {m}. Code: {code_state()}. {args.questions} answerable seed questions (half Vietnamese, half "
             f"English) and {args.unanswerable} unanswerable ones (eval/qa.jsonl, in file order), one at a time after "
             "one warm-up question; 2 threads. Times over the answerable questions (English alone in brackets: the "
             "reader mode answers Vietnamese questions without the model).", "",
             "| model | system | first token p50 | p95 | full answer p50 | p95 | correct | in language | right | "
             "refusal recall | false refusals | peak memory | first answer (load) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (model, system), r in results.items():
        answerable = [(q, x) for q, x in zip(asked, r["rows"]) if q["answerable"]]
        ft = [x["first_token_s"] for _, x in answerable]
        tt = [x["total_s"] for _, x in answerable]
        ft_en = [x["first_token_s"] for q, x in answerable if q["lang"] == "en"]
        tt_en = [x["total_s"] for q, x in answerable if q["lang"] == "en"]
        qual = quality(asked, r["rows"], system)
        lines.append(f"| {model} | {system} | {pct(ft, 50):.2f} s ({pct(ft_en, 50):.2f} s) | {pct(ft, 95):.2f} s | "
                     f"{pct(tt, 50):.2f} s ({pct(tt_en, 50):.2f} s) | {pct(tt, 95):.2f} s | {qual['correct']:.2f} | "
                     f"{qual['in_language']:.2f} | {qual['right']:.2f} | {qual['refusal_recall']:.2f} | "
                     f"{qual['false_refusals']:.2f} | {r['peak_rss_mb']:,.0f} MB | {r['first_answer_s']:.1f} s |")
    lines += ["", "Produced by `python eval/bench_answer.py`. correct: a gold answer in the reply (not refused); right: "
              "also in the question's language and cited, every citation to a gold document (the peer cites nothing); "
              "the peer's refusals are replies that say they do not know."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
