"""rag doctor: each check's outcome and fix, a check that raises, the JSON report and the exit code."""

import json

import pytest

from rag import doctor
from rag.cli import main
from rag.doctor import FAIL, OK, WARN, Check

from .fakes import FakeEmbedder
from .indexing.test_builder import build, make_corpus


def test_a_check_that_raises_is_a_failed_check_and_the_rest_still_run(settings):
    def broken(s):
        raise ValueError("boom")

    seen = []
    checks = doctor.run_checks(settings, checks=(broken, lambda s: Check("fine", OK, "all good")), on_check=seen.append)
    assert [c.status for c in checks] == [FAIL, OK] and seen == checks
    assert checks[0].name == "broken" and "ValueError: boom" in checks[0].detail and checks[0].fix
    assert doctor.report_json(checks)["ok"] is False


def test_the_cli_prints_each_check_with_its_fix_and_exits_1_on_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", (lambda s: Check("python", OK, "3.11"),
                                           lambda s: Check("index", WARN, "stale", "rag index"),
                                           lambda s: Check("model 1.5b", FAIL, "missing", "rag setup-model --llm 1.5b")))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "ok    python" in out and "warn  index" in out and "fail  model 1.5b" in out
    assert "-> rag setup-model --llm 1.5b" in out and "-> rag index" in out
    assert "3 checks: 1 failed (model 1.5b)" in out
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and [c["status"] for c in report["checks"]] == [OK, WARN, FAIL]


def test_warnings_alone_exit_0(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", (lambda s: Check("chromium", WARN, "missing", "apt-get install chromium"),))
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_corpus_check(settings, tmp_path):
    assert doctor._corpus(settings).status == OK
    (settings.corpus_dir / "broken.txt").write_bytes(b"\xff\xfe\x00binary")
    c = doctor._corpus(settings)
    assert c.status == WARN and "broken.txt" in c.detail
    empty = settings.replace(corpus_dir=tmp_path / "nothing")
    assert doctor._corpus(empty).status == FAIL


def test_index_check_reports_a_missing_and_a_mismatched_index(settings):
    c = doctor._index(settings)
    assert c.status == WARN and c.fix == "rag index"
    # built with another embedder than the settings' model: refused, with the command that mends it
    build(make_corpus(settings.corpus_dir), settings.index_dir, FakeEmbedder())
    c = doctor._index(settings)
    assert c.status == FAIL and "was built with embedding" in c.detail and c.fix == "rag index --rebuild"


def test_gguf_check_finds_a_wrong_size(settings, tmp_path):
    from rag.models.gguf import MODELS

    models = tmp_path / "models"
    models.mkdir()
    (models / MODELS["0.5b"].file_name).write_bytes(b"GGUF too short")
    s = settings.replace(generator=settings.generator.replace(models_dir=models))
    by_name = {c.name: c for c in doctor._gguf_checks(s)}
    assert by_name["model 1.5b"].status == FAIL and "missing" in by_name["model 1.5b"].detail
    assert by_name["model 0.5b"].status == FAIL and "14 bytes" in by_name["model 0.5b"].detail
    assert by_name["model 0.5b"].fix == "rag setup-model --llm 0.5b --force"


def test_packages_reads_a_requirement_with_extras_by_its_distribution_name(settings, monkeypatch):
    requires = ["psycopg[binary]==3.3.9", "numpy==1.0", "pytest==9; extra == 'dev'"]
    versions = {"psycopg": "3.3.9", "numpy": "2.0"}

    def version(name):
        if name not in versions:
            raise doctor.importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(doctor.importlib.metadata, "requires", lambda project: requires)
    monkeypatch.setattr(doctor.importlib.metadata, "version", version)
    check = doctor._packages(settings)
    assert check.status == FAIL
    assert check.detail == "1 of 2 pinned packages wrong: numpy 2.0 (pinned 1.0)"


@pytest.mark.integration
def test_the_reader_check_loads_the_shipped_weights_and_refuses_other_ones(tmp_path):
    from dataclasses import replace

    from rag.settings import Settings

    s = Settings()
    ok = doctor._reader(s)
    assert ok.status == OK and "Kuala Lumpur" in ok.detail, ok
    bad = tmp_path / "reader.safetensors"
    bad.write_bytes(s.reader.weights.read_bytes()[:-8] + b"\0" * 8)
    (tmp_path / "manifest.json").write_text(s.reader.weights.with_name("manifest.json").read_text())
    c = doctor._reader(s.replace(reader=replace(s.reader, weights=bad)))
    assert c.status == FAIL and "sha256" in c.detail and "git checkout" in c.fix
