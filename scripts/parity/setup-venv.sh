#!/usr/bin/env bash
# Create the reference venv for the USE-multilingual-v3 parity test: onnxruntime,
# onnxruntime-extensions, sentencepiece and numpy from pinned, hash-checked PyPI wheels
# (scripts/parity/requirements.lock), no dependency resolution, no sdists.
# Venv: ${INGEST_PARITY_VENV:-$HOME/.cache/ingest/parity-venv}. Prints the venv's python path
# on the last line. Idempotent: does nothing when the stamp for the current lock is there and
# the locked packages still import (a venv changed by hand since is rebuilt).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/requirements.lock"
venv="${INGEST_PARITY_VENV:-$HOME/.cache/ingest/parity-venv}"
stamp="$venv/.installed-$(sha256sum "$lock" | cut -c1-16)"

check='import numpy, onnxruntime, onnxruntime_extensions, sentencepiece; onnxruntime_extensions.get_library_path()'

if [[ -f "$stamp" && -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "parity venv: up to date in $venv" >&2
  echo "$venv/bin/python"
  exit 0
fi

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "parity venv: $python not found" >&2; exit 1; }
# The lock pins cp311 wheels.
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$pyver" != "3.11" ]]; then
  echo "parity venv: $python is Python $pyver; the locked wheels are for CPython 3.11 (set PYTHON=python3.11)" >&2
  exit 1
fi

# Only ever delete a directory that is a venv (or an empty one).
if [[ -e "$venv" ]]; then
  if [[ -f "$venv/pyvenv.cfg" ]] || [[ -d "$venv" && -z "$(ls -A "$venv")" ]]; then
    rm -rf "$venv"
  else
    echo "parity venv: $venv exists and is not a venv; refusing to replace it" >&2
    exit 1
  fi
fi

mkdir -p "$(dirname "$venv")"
echo "parity venv: creating $venv" >&2
"$python" -m venv "$venv"
wheels="$(mktemp -d "$venv/.wheels.XXXXXX")"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 \
  -r "$lock" -d "$wheels" >&2
"$venv/bin/python" -m pip install --quiet --no-deps --no-index "$wheels"/*.whl >&2
rm -rf "$wheels"
"$venv/bin/python" -c "$check"
touch "$stamp"
echo "parity venv: installed into $venv" >&2
echo "$venv/bin/python"
