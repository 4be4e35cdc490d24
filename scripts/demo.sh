#!/usr/bin/env bash
# The main job: set up (once), build the demo data dir (once), and serve it on 127.0.0.1:50051.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
data=${LATENTSPACE_DATA_DIR:-demo-data}
.venv/bin/latent demo build --data "$data"
exec .venv/bin/latent serve --data "$data" --host "${LATENTSPACE_HOST:-127.0.0.1}" --port "${LATENTSPACE_PORT:-50051}" --no-download
