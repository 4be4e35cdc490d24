#!/usr/bin/env bash
# Create .venv when missing and install the service, the SDK and the dev tools with the pinned
# versions in constraints.txt; install the TypeScript SDK's node packages from its lockfile.
# Idempotent: re-installs only when the package metadata or the lockfile changed.
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

# The TypeScript SDK (clients/typescript): its tests run in the suite, its generated code is checked.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are required (Node 20 or later) for the TypeScript SDK in clients/typescript;" \
       "install them (e.g. apt-get install nodejs npm) and run this again" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node 20 or later is required for clients/typescript; this is Node $(node --version)" >&2
  exit 1
fi
ts=clients/typescript
node_stamp="$ts/node_modules/.installed-$(cat $ts/package.json $ts/package-lock.json | sha256sum | cut -c1-16)"
if [ ! -f "$node_stamp" ]; then
  echo "installing the TypeScript SDK's node packages (npm ci)" >&2
  (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$node_stamp"
fi
