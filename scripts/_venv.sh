# Sourced by the scripts in this folder: create (once) and activate the project's .venv,
# and install the project with the extras named in EGG_EXTRAS.
# Re-running is cheap: pip is skipped when pyproject.toml has not changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${EGG_EXTRAS// /_}"
if [ ! -f "$stamp" ]; then
    echo "[setup] installing eggesture[${EGG_EXTRAS}] into .venv (first run takes a few minutes)"
    python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
    python -m pip install -q -e ".[${EGG_EXTRAS}]" 2>&1 | grep -v "is ignored" || true
    python -c "import egg_core, torch, numpy" || { echo "[setup] install failed"; exit 1; }
    rm -f .venv/.installed-*
    touch "$stamp"
fi
