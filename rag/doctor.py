"""`rag doctor`: every check a user needs, each ok or what is wrong and the command that mends it.

Run it after set-up (scripts/setup.sh ends with it), after moving the project to another machine, and whenever
the local model crashes or an answer fails in a way the message does not explain. Checks that run native
code (llama.cpp) do it in a child process, so a crash there is a finding, not the end of the doctor.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from rag.errors import RagError, StoreUnreachableError
from rag.models import cpu, local_setup
from rag.settings import ROOT, Settings

OK, WARN, FAIL = "ok", "warn", "fail"
SETUP = "bash scripts/setup.sh"
PROJECT = "rag-vn-news"
LLAMA_RECORD = "llama-cpp-build.json"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn (works, but something a user should know), fail (something will not work)
    detail: str
    fix: str = ""


def _python(settings: Settings) -> Check:
    version = platform.python_version()
    venv = (ROOT / ".venv").resolve()
    if sys.version_info < (3, 11):
        return Check("python", FAIL, f"Python {version}; the project needs 3.11 or newer", SETUP)
    if Path(sys.prefix).resolve() != venv:
        return Check("python", WARN, f"Python {version} at {sys.prefix}, not the project's {venv}",
                     f"run the project's own: {venv}/bin/rag (or {SETUP} to create it)")
    return Check("python", OK, f"Python {version} in {venv}")


def _packages(settings: Settings) -> Check:
    """Every pinned requirement of the project installed at its pinned version."""
    try:
        requires = importlib.metadata.requires(PROJECT) or []
    except importlib.metadata.PackageNotFoundError:
        return Check("packages", FAIL, f"the project ({PROJECT}) is not installed in this Python", SETUP)
    wrong, count = [], 0
    for req in requires:
        if ";" in req or "==" not in req:
            continue  # extras (the dev tools) and unpinned requirements
        name, want = (part.strip() for part in req.split("==", 1))
        name = name.split("[", 1)[0].strip()  # "psycopg[binary]" is installed as "psycopg"
        count += 1
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} missing")
            continue
        if have.split("+")[0] != want:
            wrong.append(f"{name} {have} (pinned {want})")
    if wrong:
        return Check("packages", FAIL, f"{len(wrong)} of {count} pinned packages wrong: {', '.join(wrong[:4])}"
                     + (" and more" if len(wrong) > 4 else ""), SETUP)
    return Check("packages", OK, f"{count} pinned packages at their versions")


def _cpu(settings: Settings) -> Check:
    flags = cpu.cpu_flags()
    has = [name.removeprefix("GGML_") for name, on in cpu.ggml_options(flags).items() if on]
    amx = sorted(f for f in flags if f.startswith("amx"))
    model = _cpu_model()
    detail = f"{platform.machine()} {model}: {' '.join(has) or 'no vector extensions found'}"
    if amx:
        detail += f"; has {' '.join(amx)} (llama.cpp is built without AMX)"
    return Check("cpu", OK if flags else WARN, detail, "" if flags else "no /proc/cpuinfo flags: the build uses defaults")


def _cpu_model() -> str:
    try:
        for line in cpu.CPUINFO.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return ""


SYSTEM_INFO = "import llama_cpp, json; print(json.dumps([llama_cpp.__version__, llama_cpp.llama_print_system_info().decode()]))"


def _setting_up(name: str) -> Check | None:
    """A warning for check `name` while the local model is still being set up in the background, else None."""
    if local_setup.running() is None:
        return None
    return Check(name, WARN, local_setup.not_ready(), f"{SETUP} --wait (waits for it)")


def _llama_build(settings: Settings) -> Check:
    """The llama.cpp build: built for this CPU by set-up (its record), and what the library says it has."""
    record_path = Path(sys.prefix) / LLAMA_RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    setting_up = _setting_up("llama.cpp build")
    if setting_up:
        return setting_up
    try:
        out = subprocess.run([sys.executable, "-c", SYSTEM_INFO], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return Check("llama.cpp build", FAIL, "importing llama_cpp took over 60 s", SETUP)
    if out.returncode != 0:
        why = out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
        return Check("llama.cpp build", FAIL, f"llama_cpp does not import: {why[0]}", SETUP)
    version, info = json.loads(out.stdout.strip().splitlines()[-1])
    built = sorted(cpu.system_info_features(info) & (set(cpu.SYSTEM_INFO_NAMES.values()) | set(cpu.NEVER_IN_BUILD)))
    flags = cpu.cpu_flags()
    problems = cpu.build_problems(info, flags)
    rebuild = f"{SETUP} (it compiles llama-cpp-python for this CPU)"
    if problems:
        return Check("llama.cpp build", FAIL, f"llama-cpp-python {version}: {'; '.join(problems)}", rebuild)
    want = cpu.build_key(version, cpu.cmake_args(flags))
    if record is None:
        return Check("llama.cpp build", WARN, f"llama-cpp-python {version} with {' '.join(built)}, not built by "
                     f"set-up for this CPU (no {record_path})", rebuild)
    if record.get("key") != want:
        return Check("llama.cpp build", WARN, f"llama-cpp-python {version} was built for another CPU "
                     f"({record.get('key')}, this one is {want}): it runs, but may be slower", rebuild)
    return Check("llama.cpp build", OK, f"llama-cpp-python {version} built for this CPU ({want}): {' '.join(built)}, no AMX")


def _gguf_checks(settings: Settings) -> list[Check]:
    from rag.files import sha256_of
    from rag.models.gguf import MODELS

    checks = []
    for key, spec in MODELS.items():
        path = Path(settings.generator.models_dir) / spec.file_name
        name = f"model {key}"
        fix = f"rag setup-model --llm {key} --force"
        setting_up = None if path.is_file() else _setting_up(name)
        if setting_up:
            checks.append(setting_up)
            continue
        if not path.is_file():
            checks.append(Check(name, FAIL, f"{path} is missing", fix))
            continue
        size = path.stat().st_size
        if size != spec.size:
            checks.append(Check(name, FAIL, f"{path} has {size:,} bytes, {spec.size:,} expected", fix))
            continue
        digest = sha256_of(path)
        if digest != spec.sha256:
            checks.append(Check(name, FAIL, f"{path}: sha256 {digest[:16]}…, expected {spec.sha256[:16]}…", fix))
            continue
        checks.append(Check(name, OK, f"{spec.name}: {size:,} bytes, sha256 {digest[:16]}… as pinned"))
    return checks


def _local_answer(settings: Settings) -> Check:
    """A one-token answer from the default local model, in a worker process of its own."""
    from rag.models.chat import local_model_path
    from rag.models.gguf import MODELS
    from rag.models.worker import LlamaWorker

    g = settings.generator
    model = g.model if g.model in MODELS or g.model.endswith(".gguf") else "1.5b"
    name = f"local model answers ({model})"
    setting_up = _setting_up(name)
    if setting_up:
        return setting_up
    try:
        path = local_model_path(model, g.models_dir)
    except RagError as exc:
        return Check(name, FAIL, str(exc), f"rag setup-model --llm {model}")
    worker = LlamaWorker(path, g.n_ctx, g.threads, timeout_s=120, parallel=g.parallel)
    t0 = time.perf_counter()
    try:
        text = "".join(p["text"] for p in worker.stream([{"role": "user", "content": "Say OK."}], max_tokens=1))
    except RagError as exc:
        return Check(name, FAIL, str(exc), f"{SETUP}, then rag doctor again")
    finally:
        worker.close()
    return Check(name, OK, f"answered {text.strip()!r} in {time.perf_counter() - t0:.1f} s (load included), "
                 "in a worker process")


def _embedder(settings: Settings) -> Check:
    import numpy as np

    from rag.models.embedders import kind, make_embedder

    fix = f"rag setup-model --force --embedders {settings.embedder}"
    try:
        info = kind(settings.embedder).verify(settings.model_dir)
        emb = make_embedder(settings)
        t0 = time.perf_counter()
        v = emb.embed_passages(["Hội nghị diễn ra tại Kuala Lumpur."])  # not the traced question path: quicker
        seconds = time.perf_counter() - t0
    except RagError as exc:
        return Check("embedding model", FAIL, str(exc), fix)
    norm = float(np.linalg.norm(v[0]))
    if v.shape != (1, info.dimension) or abs(norm - 1) > 1e-3:
        return Check("embedding model", FAIL, f"a test sentence gave a vector of shape {v.shape}, norm {norm:.3f}", fix)
    return Check("embedding model", OK, f"{info.name} at {info.path}, sha256 {info.checksum[:16]}… as recorded; "
                 f"{emb.precision}, one sentence embedded in {seconds:.1f} s (load included)")


def _reader(settings: Settings) -> Check:
    """The trained reader: its weights' sha256 as the manifest records it, and one answer span."""
    import hashlib
    import json

    from rag.reader.runtime import reader_for

    r = settings.reader
    fix = f"git checkout -- {r.weights.parent} (the weights ship in the repository), then {SETUP}"
    try:
        manifest = json.loads(r.weights.with_name("manifest.json").read_text(encoding="utf-8"))
        digest = hashlib.sha256(r.weights.read_bytes()).hexdigest()
    except (OSError, ValueError) as exc:
        return Check("reader", FAIL, f"the reader's weights or manifest cannot be read: {exc}", fix)
    if digest != manifest["weights"]["sha256"]:
        return Check("reader", FAIL, f"{r.weights}: sha256 {digest[:16]}…, the manifest says "
                     f"{manifest['weights']['sha256'][:16]}…", fix)
    t0 = time.perf_counter()
    try:
        reader = reader_for(r, settings.threads)
        spans = reader.read("Hội nghị diễn ra ở đâu?",
                            ["Ngày 10/7/2025, hội nghị diễn ra tại Kuala Lumpur, Malaysia."])
    except RagError as exc:
        return Check("reader", FAIL, str(exc), fix)
    if not spans or "Kuala Lumpur" not in spans[0].text:
        return Check("reader", FAIL, f"the test question was answered {spans[0].text if spans else None!r}, "
                     "not Kuala Lumpur", fix)
    return Check("reader", OK, f"sha256 {digest[:16]}… as the manifest records; {r.runtime} runtime; answered "
                 f"{spans[0].text!r} in {time.perf_counter() - t0:.1f} s (load included)")


def _index(settings: Settings) -> Check:
    from rag.indexing.store import expected_manifest
    from rag.indexing.store import check_compatible
    from rag.indexing.stores import open_store
    from rag.ingest.corpus import load_corpus
    from rag.models.embedders import make_embedder

    try:
        store = open_store(settings)
        if not store.exists():
            return Check("index", WARN, f"no index at {store.root} yet (the first question builds it)", "rag index")
        manifest = store.read_manifest()
        emb = make_embedder(settings)
        check_compatible(manifest, expected_manifest(emb, settings.chunking, settings.lexical), store.root)
        data = store.verify()
    except StoreUnreachableError as exc:
        return Check("index", FAIL, str(exc), "rag pg start")
    except RagError as exc:
        return Check("index", FAIL, str(exc), "rag index --rebuild")
    written = "every file as written" if settings.store == "faiss" else "every document as its manifest says"
    detail = (f"{data.version}: {len(data.docs)} documents, {len(data.chunks)} chunks, {written}, "
              "built with the current model, chunking and BM25 settings")
    try:
        corpus = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    except RagError:
        return Check("index", OK, detail)  # the corpus check says what is wrong with the folder
    indexed = {i: d.content_hash for i, d in data.docs.items()}
    stale = sum(1 for d in corpus.documents if indexed.get(d.doc_id) != d.content_hash)
    stale += len(set(indexed) - {d.doc_id for d in corpus.documents})
    if stale:
        return Check("index", WARN, f"{detail}; {stale} document(s) added, changed or removed since", "rag index")
    return Check("index", OK, detail + ", up to date with the corpus")


def _corpus(settings: Settings) -> Check:
    from rag.ingest.corpus import FORMATS, load_corpus

    try:
        corpus = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    except RagError as exc:
        return Check("corpus", FAIL, str(exc), f"put {FORMATS} articles in {settings.corpus_dir}")
    detail = f"{settings.corpus_dir}: {len(corpus.documents)} documents"
    if corpus.skipped:
        return Check("corpus", WARN, f"{detail}, {len(corpus.skipped)} file(s) skipped: {corpus.skipped[0]}",
                     "fix or remove the skipped files")
    return Check("corpus", OK, detail)


CHROMIUM = Path("/usr/bin/chromium")


def _chromium(settings: Settings) -> Check:
    fix = f"{SETUP} (it installs Debian's chromium), or apt-get install chromium"
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        return Check("chromium", WARN, f"{CHROMIUM} is missing: only the browser tests need it", fix)
    try:
        out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("chromium", WARN, f"{CHROMIUM} --version failed ({exc})", fix)
    if out.returncode != 0:
        return Check("chromium", WARN, f"{CHROMIUM} --version exited {out.returncode}", fix)
    return Check("chromium", OK, f"{out.stdout.strip()} for the browser tests")


CHECKS: tuple[Callable[[Settings], Check | list[Check]], ...] = (
    _python, _packages, _cpu, _llama_build, _gguf_checks, _local_answer, _embedder, _reader, _corpus, _index,
    _chromium)


def run_checks(settings: Settings, checks=None, on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """Every check (CHECKS unless given), in order; a check that raises is a failed check, never the end of
    the doctor."""
    results: list[Check] = []
    for check in CHECKS if checks is None else checks:
        try:
            found = check(settings)
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
            found = Check(check.__name__.strip("_").replace("_", " "), FAIL, f"{type(exc).__name__}: {exc}",
                          "report this with the output of rag doctor --json")
        for c in found if isinstance(found, list) else [found]:
            results.append(c)
            if on_check:
                on_check(c)
    return results


def report_json(checks: list[Check]) -> dict:
    return {"ok": all(c.status != FAIL for c in checks), "checks": [asdict(c) for c in checks]}


def format_check(c: Check) -> str:
    line = f"{c.status:4}  {c.name:<26} {c.detail}"
    return line + (f"\n      {'':<26} -> {c.fix}" if c.fix and c.status != OK else "")
