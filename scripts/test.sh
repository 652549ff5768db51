#!/usr/bin/env bash
# The one command that sets up and runs the whole test suite on a fresh Debian/Ubuntu machine:
#   bash scripts/test.sh            (extra arguments go to pytest, e.g. -m "not faults and not slow")
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/setup-venv.sh
VENV=${VENV:-.venv}

echo "== ruff"
"$VENV/bin/ruff" check .
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
set +e
"$VENV/bin/pytest" "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests for this selection; nothing failed"
  exit 0
fi
exit "$code"
