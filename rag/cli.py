"""The `rag` command: index, retrieve, ask. Errors become one-line messages here, at the edge."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import RagError


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _assistant(args):
    from .service import Assistant
    from .settings import Settings

    settings = Settings().replace(corpus_dir=getattr(args, "corpus", None), index_dir=getattr(args, "index", None))
    return Assistant(settings, notify=lambda msg: print(msg, file=sys.stderr))


def cmd_index(args) -> int:
    assistant = _assistant(args)
    report = assistant.build_index(rebuild=args.rebuild, show_bar=sys.stderr.isatty() and not args.json)
    if args.json:
        _print_json(report.to_json())
    else:
        print(f"{report.documents} documents ({report.added} added, {report.changed} changed, {report.removed} removed, "
              f"{report.unchanged} unchanged), {report.chunks} chunks, {report.chunks_embedded} chunks embedded "
              f"in {report.seconds:.1f} s -> {assistant.settings.index_dir}/{report.version}")
    return 0


def _questions(question: str):
    if question == "-":
        for line in sys.stdin:
            if line.strip():
                yield line.rstrip("\n")
    else:
        yield question


def cmd_retrieve(args) -> int:
    assistant = _assistant(args)
    status = 0
    for q in _questions(args.question):
        try:
            result = assistant.retrieve(q, k=args.k)
        except RagError as exc:
            if args.question != "-":
                raise
            _print_json({"question": q, "error": str(exc)})
            status = 1
            continue
        if args.json or args.question == "-":
            _print_json(result.to_json())
        else:
            print(f"[{result.lang}] {result.question}")
            for p in result.passages:
                print(f"\n{p.rank}. {p.title} ({p.doc_id}, {p.start}-{p.end}, score {p.score:.4f})")
                print("   " + p.text.replace("\n\n", "\n   "))
    return status


def cmd_ask(args) -> int:
    assistant = _assistant(args)
    status = 0
    for q in _questions(args.question):
        try:
            answer = assistant.ask(q, k=args.k)
        except RagError as exc:
            if args.question != "-":
                raise
            _print_json({"question": q, "error": str(exc)})
            status = 1
            continue
        if args.json or args.question == "-":
            _print_json(answer.to_json())
            continue
        print(answer.text)
        for c in answer.citations:
            when = f", {c.date}" if c.date else ""
            print(f"  [{c.n}] {c.title}{when} ({c.doc_id}, characters {c.start}-{c.end})")
        t = answer.timings
        print(f"  ({answer.backend}; retrieval {t['retrieve_ms']:.0f} ms, total {t['total_ms']:.0f} ms)")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Ask questions about news articles, offline, "
                                     "in Vietnamese or English, with citations.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--corpus", type=Path, help="corpus folder (default: seeds/, or $RAG_CORPUS)")
        p.add_argument("--index", type=Path, help="index folder (default: index/, or $RAG_INDEX)")
        p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("index", help="build or update the index (only new or changed articles are embedded)")
    common(p)
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild even when the settings or the model changed (the old index stays until done)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("retrieve", help="find the passages for a question ('-' reads one question a line)")
    common(p)
    p.add_argument("question")
    p.add_argument("--k", type=int, default=None, help="number of passages (default 5)")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("ask", help="answer a question with cited sentences from the articles")
    common(p)
    p.add_argument("question")
    p.add_argument("--k", type=int, default=None, help="number of passages to read (default 5)")
    p.set_defaults(func=cmd_ask)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    if getattr(args, "k", None) is not None and not 1 <= args.k <= 50:
        print("rag: error: --k must be between 1 and 50", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted (the index on disk is unchanged unless a build had finished)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
