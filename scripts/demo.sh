#!/usr/bin/env bash
# Set up a virtual environment and run a demo on the embedded dev server.
# Usage: bash scripts/demo.sh [chat|arena] [demo options...]
# With no display (no DISPLAY/WAYLAND_DISPLAY on Linux), the demo plays headless as a bot.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
demo="${1:-arena}"
shift || true
exec "$VENV/bin/stdb-game" demo "$demo" "$@"
