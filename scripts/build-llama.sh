#!/usr/bin/env bash
# Compile llama-cpp-python for this CPU and install it into the venv; scripts/setup.sh runs this in the
# background (niced), so that the chat answers what needs no language model while llama.cpp compiles.
#   build-llama.sh VENV VERSION KEY CMAKE_ARGS WHEEL_DIR
# Holds VENV/llama-build.lock while it runs (setup.sh --wait waits on it) and ends by writing
# VENV/llama-build.status: "done" or "failed: <what to do>". Its output goes to VENV/llama-build.log.
set -uo pipefail
VENV=$1 VERSION=$2 KEY=$3 ARGS=$4 WHEEL_DIR=$5
STATUS=$VENV/llama-build.status
pip() { "$VENV/bin/python" -m pip "$@"; }
fail() { echo "failed: $*" > "$STATUS"; echo "build-llama: $*" >&2; exit 1; }

echo "building" > "$STATUS"
if ! ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
  echo "build-llama: compiling llama-cpp-python $VERSION: $ARGS" >&2
  mkdir -p "$(dirname "$WHEEL_DIR")"
  tmp=$(mktemp -d "$(dirname "$WHEEL_DIR")/.build.XXXXXX")
  CMAKE_ARGS=$ARGS pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python -w "$tmp" \
    "llama-cpp-python==$VERSION" || { rm -rf "$tmp"; fail "llama-cpp-python did not compile: see $VENV/llama-build.log"; }
  PYTHONPATH=$(dirname "$0")/.. "$VENV/bin/python" -m rag.models.cpu json "$VERSION" > "$tmp/build.json"
  mv -T "$tmp" "$WHEEL_DIR" 2>/dev/null || rm -rf "$tmp"
fi
# One pip at a time in the venv: setup.sh holds the same lock while it installs the pinned packages.
flock "$VENV/.pip.lock" "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall "$WHEEL_DIR"/*.whl \
  || fail "the llama-cpp-python wheel did not install: see $VENV/llama-build.log"
cp "$WHEEL_DIR/build.json" "$VENV/llama-cpp-build.json"
echo "build-llama: installed llama-cpp-python $VERSION ($KEY)" >&2
echo "done" > "$STATUS"
