"""The emulator's files: where they live, state.json, and reading the log."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlops_cli.emulator import logs, paths, state
from mlops_cli.emulator.state import ServerState


def test_state_dir_comes_from_the_environment_or_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "emu"))
    assert paths.state_dir() == tmp_path / "emu"
    assert paths.log_path() == tmp_path / "emu" / "emulator.log"
    assert paths.work_dir() == tmp_path / "emu" / "work"

    monkeypatch.delenv(paths.HOME_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.state_dir() == tmp_path / "cache" / "mlops" / "emulator"


def test_state_round_trip_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    recorded = ServerState(pid=123, port=4567, endpoint_url="http://127.0.0.1:4567", started_at="2026-01-01T00:00:00")
    assert state.read(path) is None

    state.write(path, recorded)
    assert state.read(path) == recorded
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left behind

    path.write_text('{"pid": "not a number"')
    assert state.read(path) is None
    state.remove(path)
    state.remove(path)  # already gone: fine
    assert not path.exists()


def test_tail(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    assert logs.tail(log, 5) == ([], 0)
    log.write_text("".join(f"line {n}\n" for n in range(10)) + "half")
    size = log.stat().st_size
    assert logs.tail(log, 3) == (["line 7\n", "line 8\n", "line 9\n"], size - len("half"))
    assert logs.tail(log, 0) == ([], size - len("half"))
    assert len(logs.tail(log, 100)[0]) == 10


def test_follow_prints_new_whole_lines_and_survives_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    log.write_text("old\nhal")
    seen: list[str] = []
    lines = logs.follow(log, start=logs.tail(log, 1)[1], poll=0.01)

    def collect() -> None:
        for line in lines:
            seen.append(line)
            if len(seen) == 3:
                return

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    time.sleep(0.05)
    with log.open("a") as file:
        file.write("f done\nsecond")
        file.flush()
        time.sleep(0.05)
        file.write(" line\n")
    time.sleep(0.05)
    replacement = tmp_path / "new.log"
    replacement.write_text("after restart\n")
    replacement.replace(log)  # the manager rotates the log when the emulator starts again
    reader.join(timeout=5)
    assert seen == ["half done\n", "second line\n", "after restart\n"]
