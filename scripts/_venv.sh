# Sourced by the scripts: make $VENV (default .venv) and install the project with every
# extra into it. The install is skipped when pyproject.toml has not changed since the last
# one (the project is installed editable, so code changes need no reinstall).
VENV="${STDB_GAME_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.stdb-game-installed"
want="$(cksum < pyproject.toml)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[all]'
  printf '%s' "$want" > "$stamp"
fi
