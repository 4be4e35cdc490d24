#!/usr/bin/env bash
# Create .venv when missing and install the service, the SDK and the dev tools with the pinned
# versions in constraints.txt. Idempotent: re-installs only when the package metadata changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml setup.py clients/python/pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing dependencies into .venv (first run: a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e clients/python -e ".[dev,ray,milvus]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
