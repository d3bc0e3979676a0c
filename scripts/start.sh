#!/usr/bin/env bash
# Installs the app into .venv (only when pyproject.toml changed since the last
# install) and starts it.  With no App registered yet, `python -m app serve`
# names what is missing and offers the setup flow (`--host` and `--public-url`
# are passed on to it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# The stamp holds the hash of the pyproject.toml last installed from; the code
# itself is installed editable, so only a change of dependencies needs pip.
stamp=.venv/.ci-fix-loop-installed
want=$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  echo "$want" > "$stamp"
fi
# `start.sh --host 0.0.0.0 --public-url https://x` serves; `start.sh setup|status|config ...`
# runs that command with the installed environment instead.
case "${1:-}" in
  serve|worker|setup|status|config|doctor|classify|guard) exec .venv/bin/python -m app "$@" ;;
  *) exec .venv/bin/python -m app serve "$@" ;;
esac
