#!/usr/bin/env bash
# The test command (README, .ci/run): set up .venv, check the architecture and the lint, run the test suite.
#   bash scripts/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: import-linter (engine/console boundary)" >&2
.venv/bin/lint-imports --no-cache
echo "test: ruff" >&2
.venv/bin/ruff check .
echo "test: the wheel, installed outside the checkout" >&2
bash scripts/wheel_check.sh
echo "test: pytest" >&2
# two worker processes (pytest-xdist): most tests wait on a short training run or a subprocess, and each trains on
# one thread, so two at once halve the wall time on CI's 2 cores; CRAM_TEST_WORKERS=0 runs them in this process
.venv/bin/python -m pytest -n "${CRAM_TEST_WORKERS:-2}" "$@"
