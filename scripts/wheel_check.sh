#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv outside the checkout, and use it from there:
# presets and reference tables must come from the package, not from a source tree.
# The fresh venv borrows the already installed dependencies of .venv through a plain path entry (no .pth of .venv
# is processed, so .venv's editable install of this checkout stays invisible) and installs the wheel itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cram-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python -m pip wheel --no-deps --disable-pip-version-check -q -w "$WORK/dist" . 2>&1 | grep -v "^WARNING: Location" || true
WHEEL=$(ls "$WORK"/dist/cramgui-*.whl)
.venv/bin/python -m venv "$WORK/venv"
SITE=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
DEPS=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$DEPS" > "$SITE/zz-cram-deps.pth"
"$WORK/venv/bin/python" -m pip install --no-deps --no-index --disable-pip-version-check -q "$WHEEL"
cd "$WORK"
export CRAM_RUNS_DIR="$WORK/runs"
where=$("$WORK/venv/bin/python" -c 'import engine, cramgui; print(engine.__file__, cramgui.__file__)')
case "$where" in *"$ROOT"*) echo "wheel check: imported the checkout ($where), not the wheel" >&2; exit 1;; esac
"$WORK/venv/bin/cram" --version
"$WORK/venv/bin/cram" config presets
"$WORK/venv/bin/cramgui" --help > /dev/null
"$WORK/venv/bin/cram" train --preset smoke --set budget.seconds=10 --set eval.samples=2
ls "$WORK"/runs/*/results.csv > /dev/null
echo "wheel check: ok ($(basename "$WHEEL"))"
