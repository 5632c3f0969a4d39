#!/usr/bin/env bash
# Create .venv (if missing) and install cramgui with its test and fetch (datasets) extras. Idempotent: a second run installs nothing new.
#   PYTHON=python3.12 scripts/setup.sh            choose the interpreter
#   TORCH_SPEC="torch==2.5.1" scripts/setup.sh    choose the torch build (default: CUDA build on a machine with an
#                                                 NVIDIA driver, torch 2.13 (CPU where a local wheel exists) else)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    spec=$TORCH_SPEC
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    spec="torch"
  else
    # no GPU: avoid pulling a multi-GB CUDA build when a CPU wheel of this release is available
    spec="torch==2.13.0"
  fi
  echo "setup: installing $spec" >&2
  pip install $spec || pip install torch
fi
pip install -e ".[test,fetch]"
echo "setup: ready ($(.venv/bin/python -c 'import torch, PySide6; print("torch", torch.__version__, "| PySide6", PySide6.__version__)'))" >&2
