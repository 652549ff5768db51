#!/usr/bin/env bash
# The one command that sets up and runs the main job on a fresh machine:
#   bash scripts/demo.sh            (extra arguments go to `iotgw demo`)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
VENV=${VENV:-.venv}
if "$VENV/bin/iotgw" demo --help >/dev/null 2>&1; then
  exec "$VENV/bin/iotgw" demo "$@"
fi
echo "iotgw demo has not landed yet; the commands that exist:"
exec "$VENV/bin/iotgw" --help
