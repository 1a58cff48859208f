# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: cd to the repository root and make sure .venv exists
# with kangaroo installed (editable, with the dev extras). The install is skipped while the stamp
# in .venv matches pyproject.toml's sha256, so later runs start at once.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.kangaroo-installed"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "kangaroo needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
        exit 1
    fi
    echo "Creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

want="$("$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' pyproject.toml)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
    echo "Installing kangaroo into $VENV" >&2
    # torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
    "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
    "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
    # lmms-eval, for the test of kangaroo's lmms-eval plugin only: without its dependencies
    # (datasets, evaluate, ... are not needed to register and run a model, and would pull much more)
    "$VENV/bin/python" -m pip install --quiet --no-deps "lmms-eval==0.7.3" "loguru>=0.7" "pytz>=2024.1"
    echo "$want" > "$STAMP"
fi

# Debian's chromium, for the web demo's browser test (playwright's own browser download is not used)
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"; }
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
        echo "Installing chromium (apt-get) for the browser test" >&2
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
            || echo "could not install chromium: the browser test will be skipped" >&2
    fi
fi
