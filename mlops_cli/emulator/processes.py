"""The server process: spawn it detached, tell whether it lives, stop its whole process group, find ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mlops_cli.emulator.protocol import HOST

SERVER_MODULE = "mlops_cli.emulator.server"

# Servers this process spawned. Holding the Popen lets us reap them (no zombie left behind when we stop them
# ourselves) and keeps Python from warning that a subprocess is "still running" when the object is collected.
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn_server(port: int, work_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `python -m mlops_cli.emulator.server` in its own session (it outlives this command), output to `log`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Run the same mlops_cli as this process, installed or not.
    source_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", SERVER_MODULE, "--host", HOST, "--port", str(port), "--work-dir", str(work_dir)]
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=work_dir,
            env=env,
            start_new_session=True,  # its own process group: Ctrl-C in the terminal does not reach it
            close_fds=True,
        )
    _children[process.pid] = process
    return process


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (an exited process nobody has reaped yet)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but belongs to another user
    try:
        # /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so split after the last ')'.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal check above has to do


def is_emulator_process(pid: int) -> bool:
    """Whether `pid` runs our server, so a pid reused by an unrelated program is never signalled."""
    if not is_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return False  # exited just now
        cmdline = _command_line_from_ps(pid)  # no /proc (macOS)
    except OSError:
        return False
    return SERVER_MODULE in cmdline


def _command_line_from_ps(pid: int) -> str:
    try:
        found = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return found.stdout


def stop_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the server's process group (it leads it), SIGKILL whatever is left after `grace` seconds."""
    if not _signal_group(pid, signal.SIGTERM):
        _forget(pid)
        return
    if not _wait_gone(pid, grace):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    # Processes the server started (later: job workers) share its group; none may outlive it.
    _signal_group(pid, signal.SIGKILL)
    _forget(pid)


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _forget(pid: int) -> None:
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether the server could bind `port` (it sets SO_REUSEADDR too, so TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
