#!/usr/bin/env bash
# The one command that sets up and runs the main job on a fresh machine:
#   bash scripts/demo.sh            (extra arguments go to `iotgw demo`, e.g. --duration 60)
# It needs no services: an embedded MQTT broker and SQLite stand in for Mosquitto and InfluxDB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec "${VENV:-.venv}/bin/iotgw" demo "$@"
