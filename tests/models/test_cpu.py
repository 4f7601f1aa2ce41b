"""llama.cpp build flags from the CPU's instruction sets: never AMX, nothing the CPU lacks."""

from rag.models import cpu

ZEN3 = ("flags : fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c bmi1 avx2 bmi2 sha_ni")
SAPPHIRE_RAPIDS = ("flags : fpu sse2 ssse3 fma sse4_2 avx f16c avx2 bmi2 avx512f avx512dq avx512cd avx512bw "
                   "avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8")


def test_flags_are_read_from_cpuinfo():
    flags = cpu.cpu_flags("processor : 0\nmodel name : X\n" + ZEN3 + "\n\nprocessor : 1\nflags : avx512f\n")
    assert "avx2" in flags and "avx512f" not in flags  # the first processor's line
    assert cpu.cpu_flags("no flags here") == frozenset()


def test_an_avx2_cpu_gets_no_avx512_code():
    options = cpu.ggml_options(cpu.cpu_flags(ZEN3))
    assert options["GGML_AVX2"] and options["GGML_FMA"] and options["GGML_F16C"] and options["GGML_BMI2"]
    assert not any(v for k, v in options.items() if k.startswith("GGML_AVX512") or k == "GGML_AVX_VNNI")
    assert not options["GGML_NATIVE"]


def test_amx_is_never_on_even_where_the_cpu_has_it():
    options = cpu.ggml_options(cpu.cpu_flags(SAPPHIRE_RAPIDS))
    assert options["GGML_AVX512"] and options["GGML_AVX512_BF16"] and options["GGML_AVX512_VNNI"]
    assert options["GGML_AVX_VNNI"]
    assert not options["GGML_AMX_TILE"] and not options["GGML_AMX_INT8"] and not options["GGML_AMX_BF16"]


def test_avx512_needs_every_subset_ggml_compiles_with():
    partial = cpu.cpu_flags("flags : avx avx2 avx512f avx512cd")  # no avx512vl/dq/bw
    assert not cpu.ggml_options(partial)["GGML_AVX512"]


def test_the_cmake_line_and_the_wheel_key_follow_the_flags(monkeypatch):
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    zen, spr = cpu.cmake_args(cpu.cpu_flags(ZEN3)), cpu.cmake_args(cpu.cpu_flags(SAPPHIRE_RAPIDS))
    assert "-DGGML_NATIVE=OFF" in zen and "-DGGML_AVX2=ON" in zen and "-DGGML_AVX512=OFF" in zen
    assert "-DGGML_AVX512=ON" in spr and "-DGGML_AMX_INT8=OFF" in spr
    assert cpu.build_key("0.3.36", zen) != cpu.build_key("0.3.36", spr)
    assert cpu.build_key("0.3.36", zen) != cpu.build_key("0.3.37", zen)
    assert cpu.build_key("0.3.36", zen).startswith("0.3.36-")


def test_a_build_is_checked_against_the_cpu():
    info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | REPACK = 1 |"
    assert cpu.build_problems(info, cpu.cpu_flags(ZEN3)) == []
    native_spr = info + " AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 |"
    problems = cpu.build_problems(native_spr, cpu.cpu_flags(ZEN3))
    assert any("AVX512 is compiled in, but this CPU lacks it" in p for p in problems)
    assert any("AMX_INT8 is compiled in" in p for p in problems)
    assert cpu.build_problems(native_spr, cpu.cpu_flags(SAPPHIRE_RAPIDS)) == [
        "AMX_INT8 is compiled in (ggml's AMX kernels crash on some CPUs)"]
