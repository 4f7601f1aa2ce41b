"""The CPU's instruction sets, and the llama.cpp build flags they allow.

llama.cpp's native build (-DGGML_NATIVE=ON) turns on every instruction set the compiler sees, AMX included;
ggml's AMX kernels crash on virtualised Sapphire Rapids CPUs (ggml-org/llama.cpp#20824). So set-up builds
with GGML_NATIVE=OFF and one flag per instruction set this CPU really has, AMX never. Standard library only:
scripts/setup.sh runs this module before the project is installed (`python -m rag.models.cpu cmake-args`).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from rag.files import sha256_text  # stdlib only: this module runs before the project is installed

CPUINFO = Path("/proc/cpuinfo")

# ggml CMake option -> the /proc/cpuinfo flags it needs (all of them). Order is the order of the CMake line.
GGML_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    # ggml's AVX512 compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw.
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("GGML_AVX512_VBMI", ("avx512f", "avx512vbmi")),
    ("GGML_AVX512_VNNI", ("avx512f", "avx512_vnni")),
    ("GGML_AVX512_BF16", ("avx512f", "avx512_bf16")),
)
# Never on, whatever the CPU says.
GGML_ALWAYS_OFF = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

# The names llama_print_system_info() uses for the instruction sets above (SSE4.2 is not reported).
SYSTEM_INFO_NAMES = {
    "GGML_AVX": "AVX", "GGML_AVX2": "AVX2", "GGML_FMA": "FMA", "GGML_F16C": "F16C", "GGML_BMI2": "BMI2",
    "GGML_AVX_VNNI": "AVX_VNNI", "GGML_AVX512": "AVX512", "GGML_AVX512_VBMI": "AVX512_VBMI",
    "GGML_AVX512_VNNI": "AVX512_VNNI", "GGML_AVX512_BF16": "AVX512_BF16",
}
NEVER_IN_BUILD = ("AMX_INT8",)


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The instruction-set flags of the first processor in /proc/cpuinfo (empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def ggml_options(flags: frozenset[str]) -> dict[str, bool]:
    """Each ggml CMake option, on exactly when the CPU has what it needs; AMX and NATIVE always off."""
    options = {name: all(f in flags for f in needs) for name, needs in GGML_OPTIONS}
    options.update({name: False for name in GGML_ALWAYS_OFF})
    return options


def cmake_args(flags: frozenset[str]) -> str:
    """The CMAKE_ARGS line for building llama-cpp-python on this CPU (x86-64; elsewhere only AMX off)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return "-DGGML_NATIVE=ON " + " ".join(f"-D{n}=OFF" for n in GGML_ALWAYS_OFF[1:])
    return " ".join(f"-D{name}={'ON' if on else 'OFF'}" for name, on in ggml_options(flags).items())


def build_key(version: str, args: str) -> str:
    """The key of a llama-cpp-python wheel: its version and the flags it was built with."""
    return f"{version}-{sha256_text(args)[:12]}"


def system_info_features(info: str) -> frozenset[str]:
    """The features a llama.cpp build reports as on ("AVX2 = 1 | ...")."""
    found = set()
    for part in info.replace("\n", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            found.add(name)
    return frozenset(found)


def build_problems(info: str, flags: frozenset[str]) -> list[str]:
    """What is wrong with a llama.cpp build on this CPU: instruction sets the CPU lacks, and AMX."""
    built = system_info_features(info)
    options = ggml_options(flags)
    problems = [f"{name} is compiled in, but this CPU lacks it" for option, name in SYSTEM_INFO_NAMES.items()
                if name in built and not options[option]]
    problems += [f"{name} is compiled in (ggml's AMX kernels crash on some CPUs)" for name in NEVER_IN_BUILD
                 if name in built]
    return problems


def main(argv: list[str]) -> int:
    """`python -m rag.models.cpu cmake-args` | `key VERSION` | `json VERSION`: for scripts/setup.sh."""
    flags = cpu_flags()
    args = cmake_args(flags)
    if argv[:1] == ["cmake-args"]:
        print(args)
    elif argv[:1] == ["key"] and len(argv) == 2:
        print(build_key(argv[1], args))
    elif argv[:1] == ["json"] and len(argv) == 2:
        print(json.dumps({"package": "llama-cpp-python", "version": argv[1], "key": build_key(argv[1], args),
                          "cmake_args": args, "machine": platform.machine(),
                          "cpu_flags": sorted({f for _, needs in GGML_OPTIONS for f in needs if f in flags})},
                         indent=1))
    else:
        print("usage: python -m rag.models.cpu cmake-args | key VERSION | json VERSION", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
