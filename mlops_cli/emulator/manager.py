"""Start, find, stop and reset the emulator: the API the rest of the tool uses. It never prints.

One emulator per state folder (`state_dir()`): state.json records its pid and port, and a file lock makes
concurrent commands that start it on demand share one server.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import filelock

from mlops_cli.emulator import paths, probe, processes, state
from mlops_cli.emulator.paths import log_path, state_dir
from mlops_cli.emulator.protocol import HOST, PORT_IN_USE_EXIT, endpoint_url
from mlops_cli.emulator.state import ServerState
from mlops_cli.errors import OperationFailed, PreconditionFailed, UsageError

__all__ = [
    "EmulatorInfo",
    "ensure_running",
    "instance_id",
    "log_path",
    "lost",
    "reset",
    "start",
    "state_dir",
    "status",
    "stop",
]

START_TIMEOUT = 20.0  # seconds from spawn to the first answer; it usually takes well under one
LOCK_TIMEOUT = 60.0  # another command may be starting the server (at most START_TIMEOUT) or stopping it
_AUTO_PORT_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it
_LOST_TIMEOUT = 5.0  # seconds to tell "the emulator is gone" from "the machine is busy"
# What the `[local]` extra installs: the server (moto) and what the container scripts and the emulated services run
# with. An AWS-only install has none of them.
LOCAL_EXTRA_MODULES = ("moto", "pandas", "sklearn", "jsonschema")


@dataclass
class EmulatorInfo:
    running: bool
    endpoint_url: str | None
    pid: int | None
    port: int | None
    log_path: Path
    state_dir: Path
    work_dir: Path
    started_at: str | None
    # when this start replaced an emulator that ended without `mlops local down` (killed, crashed, machine
    # restarted): when that one had started. Its state went with it.
    replaced_lost_since: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (paths as strings)."""
        return {name: str(value) if isinstance(value, Path) else value for name, value in asdict(self).items()}


def status() -> EmulatorInfo:
    return _info(_running())


def ensure_running() -> EmulatorInfo:
    """The running emulator, started first if needed."""
    current = _running()  # the common case needs no lock
    return _info(current) if current else start()[0]


def instance_id(info: EmulatorInfo) -> str | None:
    """Which run of the emulator this is: a restart (even on the same port) gives another id."""
    return f"{info.port}:{info.pid}:{info.started_at}" if info.running else None


def lost(instance: str) -> str | None:
    """What became of the emulator run `instance` ("stopped", "was restarted"), or None if it still serves.
    Asked on its own port, so the answer does not depend on which state folder is current."""
    port, pid, _ = instance.split(":", 2)
    try:
        socket.create_connection((HOST, int(port)), timeout=_LOST_TIMEOUT).close()
    except TimeoutError:
        return None  # a busy machine, not a lost emulator: say nothing rather than something false
    except OSError:  # refused: nothing listens there any more
        return "stopped" if _running() is None else "was restarted"
    identity = probe.identify(int(port), timeout=_LOST_TIMEOUT)
    if identity is None or identity.get("pid") == int(pid):
        return None  # itself, or too slow to tell
    return "was restarted"


def start(port: int | None = None) -> tuple[EmulatorInfo, bool]:
    """Start the emulator on `port` (a free one if None). Returns its info and whether it was already running."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"port {port} is not a TCP port (1-65535).")
    paths.work_dir().mkdir(parents=True, exist_ok=True)
    with _locked():
        current = _running()
        if current:
            return _info(current), True
        require_local_extra()
        lost = _clean_up_stale()
        started = _spawn(port)
        state.write(paths.state_file(), started)
        info = _info(started)
        info.replaced_lost_since = lost.started_at if lost else None
        return info, False


def require_local_extra() -> None:
    """The emulator's packages come with `pip install 'mlops-cli[local]'`: say so instead of a server that dies."""
    import importlib.util

    missing = [name for name in LOCAL_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise PreconditionFailed(
            f"the embedded emulator needs {', '.join(missing)}, which this installation of mlops does not have.",
            hint="Install the emulator's extra: pip install 'mlops-cli[local]' (pipx: pipx install 'mlops-cli[local]'), "
            "or point aws.endpoint_url at AWS (leave it out) in the config.",
        )


def stop() -> bool:
    """Stop the emulator and every process it started. Returns whether it was running."""
    if not paths.state_file().exists():
        return False
    with _locked():
        recorded = state.read(paths.state_file())
        was_running = recorded is not None and processes.is_emulator_process(recorded.pid)
        if recorded is not None and was_running:
            processes.stop_group(recorded.pid)
        state.remove(paths.state_file())
        return was_running


def reset() -> EmulatorInfo:
    """Wipe all emulated AWS state (every bucket, job, endpoint, ...) and the work folders; keep it running."""
    with _locked():
        current = _running()
        if current is None:
            raise PreconditionFailed(
                "the emulator is not running, so there is nothing to reset.", hint="Start it with `mlops local up`."
            )
        try:
            probe.reset(current.port)
        except OSError as exc:
            raise OperationFailed(
                f"the emulator at {current.endpoint_url} did not reset: {exc}.", hint=f"See its log: {log_path()}"
            ) from exc
        _empty(paths.work_dir())
        return _info(current)


def _running() -> ServerState | None:
    """The recorded server if it is alive and answers as itself on its port."""
    recorded = state.read(paths.state_file())
    if recorded and processes.is_alive(recorded.pid) and probe.answers_as(recorded.port, recorded.pid):
        return recorded
    return None


def _info(current: ServerState | None) -> EmulatorInfo:
    return EmulatorInfo(
        running=current is not None,
        endpoint_url=current.endpoint_url if current else None,
        pid=current.pid if current else None,
        port=current.port if current else None,
        log_path=log_path(),
        state_dir=state_dir(),
        work_dir=paths.work_dir(),
        started_at=current.started_at if current else None,
    )


@contextmanager
def _locked() -> Iterator[None]:
    state_dir().mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(paths.lock_path(), timeout=LOCK_TIMEOUT):
            yield
    except filelock.Timeout as exc:
        raise OperationFailed(
            f"another mlops command has been starting or stopping the emulator for {LOCK_TIMEOUT:.0f} s.",
            hint=f"Check `mlops local status`; if nothing is running, remove {paths.lock_path()}.",
        ) from exc


def _clean_up_stale() -> ServerState | None:
    """Forget a server that died, and stop one that lives but no longer answers (it would hold its port).
    Returns that server: it ended without `mlops local down`, taking its state with it."""
    recorded = state.read(paths.state_file())
    if recorded is not None and processes.is_emulator_process(recorded.pid):
        processes.stop_group(recorded.pid)
    state.remove(paths.state_file())
    return recorded


def _spawn(port: int | None) -> ServerState:
    if port is not None and not processes.port_is_free(port):
        raise _port_taken(port)
    _rotate_log()
    for _ in range(1 if port is not None else _AUTO_PORT_ATTEMPTS):
        chosen = port if port is not None else processes.free_port()
        process = processes.spawn_server(chosen, paths.work_dir(), log_path())
        try:
            exit_status = _wait_until_ready(process, chosen)
        except BaseException:  # Ctrl-C while it starts: leave no server running that no state file records
            processes.stop_group(process.pid)
            raise
        if exit_status is None:
            started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            return ServerState(pid=process.pid, port=chosen, endpoint_url=endpoint_url(chosen), started_at=started_at)
        if exit_status != PORT_IN_USE_EXIT:
            raise OperationFailed(
                f"the emulator exited while starting (exit status {exit_status}).\n{_log_tail()}",
                hint=f"The whole log is in {log_path()}.",
            )
        if port is not None:
            raise _port_taken(port)
    raise OperationFailed(f"no free port on {HOST} could be bound after {_AUTO_PORT_ATTEMPTS} attempts.")


def _wait_until_ready(process: subprocess.Popen[bytes], port: int) -> int | None:
    """None once the server answers as itself; its exit status if it dies first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if (exit_status := process.poll()) is not None:
            processes.stop_group(process.pid)  # reap it
            return exit_status
        if probe.answers_as(port, process.pid, timeout=0.5):
            return None
        time.sleep(0.05)
    processes.stop_group(process.pid)
    raise OperationFailed(
        f"the emulator did not answer on {endpoint_url(port)} within {START_TIMEOUT:.0f} s.\n{_log_tail()}",
        hint=f"The whole log is in {log_path()}.",
    )


def _port_taken(port: int) -> OperationFailed:
    return OperationFailed(
        f"port {port} on {HOST} is already in use by another program.",
        hint="Choose another port with --port, or leave --port out to use a free one.",
    )


def _rotate_log() -> None:
    # Keep the previous run's log (e.g. why it crashed) next to the new one.
    if log_path().exists():
        os.replace(log_path(), log_path().with_name(log_path().name + ".1"))


def _log_tail(lines: int = 20) -> str:
    try:
        text = log_path().read_text(errors="replace")
    except OSError:
        return "(no log was written)"
    return "Last lines of the log:\n  " + "\n  ".join(text.splitlines()[-lines:])


def _empty(folder: Path) -> None:
    for entry in folder.iterdir() if folder.exists() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
