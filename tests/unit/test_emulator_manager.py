"""The manager without a server: what it says and refuses when nothing runs (no process is started here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_cli.emulator import manager, paths, processes, state
from mlops_cli.emulator.state import ServerState
from mlops_cli.errors import OperationFailed, PreconditionFailed, UsageError


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
def listening_socket() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_status_when_never_started(home: Path) -> None:
    info = manager.status()
    assert (info.running, info.endpoint_url, info.pid, info.port, info.started_at) == (False, None, None, None, None)
    assert (info.state_dir, info.log_path, info.work_dir) == (home, home / "emulator.log", home / "work")
    assert json.loads(json.dumps(info.as_dict()))["log_path"] == str(home / "emulator.log")


def test_stop_and_reset_when_not_running(home: Path) -> None:
    assert manager.stop() is False
    with pytest.raises(PreconditionFailed, match="not running"):
        manager.reset()


def test_a_stale_state_file_means_not_running_and_stop_forgets_it(home: Path, listening_socket: int) -> None:
    # A live pid that is not an emulator (this test process) and a port where no emulator answers.
    stale = ServerState(os.getpid(), listening_socket, f"http://127.0.0.1:{listening_socket}", "2026-01-01T00:00:00")
    state.write(paths.state_file(), stale)
    assert manager.status().running is False
    assert manager.stop() is False  # and this process was not signalled
    assert not paths.state_file().exists()


def test_start_refuses_a_port_in_use(listening_socket: int) -> None:
    with pytest.raises(OperationFailed, match=f"port {listening_socket} on 127.0.0.1 is already in use"):
        manager.start(listening_socket)
    assert not paths.state_file().exists()


def test_start_refuses_a_port_out_of_range() -> None:
    with pytest.raises(UsageError):
        manager.start(70000)


def test_free_port_is_free_and_a_listening_one_is_not(listening_socket: int) -> None:
    assert processes.port_is_free(processes.free_port())
    assert not processes.port_is_free(listening_socket)


def test_is_alive_and_is_emulator_process() -> None:
    assert processes.is_alive(os.getpid())
    assert not processes.is_emulator_process(os.getpid())  # pytest, not the server
    assert not processes.is_alive(2**22 + 1)  # above the largest pid_max: no such process
    assert not processes.is_emulator_process(2**22 + 1)


def test_command_line_without_proc_comes_from_ps() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "mlops-marker"])
    try:
        assert "mlops-marker" in processes._command_line_from_ps(child.pid)
    finally:
        child.kill()
        child.wait()


def test_without_the_local_extra_start_says_what_to_install(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AWS-only install (no moto, pandas, scikit-learn) gets the install command, not a server that dies."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("moto", "sklearn") else real_find_spec(name, *a)
    )
    monkeypatch.setattr(processes, "spawn_server", lambda *a: pytest.fail("no server may be started"))
    with pytest.raises(PreconditionFailed) as caught:
        manager.start()
    assert "needs moto, sklearn" in str(caught.value)
    assert "pip install 'mlops-cli[local]'" in (caught.value.hint or "")
    assert not manager.status().running
