"""Dev-server tests never touch the real home directory: the per-user signing key that
``stdb-game dev`` uses without ``--data-dir`` lives in a temporary directory here.

Function scope, so the variables are gone again for the test files that run after these.
"""

from __future__ import annotations

import pytest

from stdb_game.devserver.keyfile import KEY_FILE_ENV


@pytest.fixture(autouse=True)
def _temporary_key_file(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path_factory.getbasetemp() / "devserver-state"
    monkeypatch.setenv(KEY_FILE_ENV, str(state / "devserver-key"))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
