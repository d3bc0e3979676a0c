#!/usr/bin/env bash
# Installs the app into .venv and starts it.  With no App registered yet,
# `python -m app serve` names what is missing and offers the setup flow.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/python -m app serve "$@"
