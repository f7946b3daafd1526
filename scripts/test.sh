#!/usr/bin/env bash
# Set up a virtual environment with every extra and run the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
# pytest exits 5 when it collected no test: that is a failure here, as any non-zero exit.
exec "$VENV/bin/python" -m pytest "$@"
