"""Stopping a worker together with every process it started (joblib pools, shells), without leaving the server's
process group: workers stay in it so that stopping the emulator's group also ends every job, however it died."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path


def _parent_pairs() -> Iterable[tuple[int, int]]:
    """(pid, parent pid) of every process on the machine."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # "pid (comm) state ppid ..."; comm may contain spaces and parentheses, so split after the last ")".
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # exited meanwhile
            yield int(entry.name), int(fields[1])
        return
    try:  # no /proc (macOS)
        listing = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=False)
    except OSError:
        return
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            yield int(parts[0]), int(parts[1])


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants, parents first."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_pairs():
        children.setdefault(parent, []).append(child)
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def signal_all(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def alive(pid: int) -> bool:
    """Whether `pid` still runs. A zombie (ended, not yet reaped by its new parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal check has to do


def terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process and its descendants, then SIGKILL whichever of them is left after `grace` seconds
    (SageMaker's stop: the algorithm gets SIGTERM and time to save its model), and reap the process.
    The descendants are listed first: once the worker exits they are re-parented and no longer found from it."""
    pids = tree(process.pid) if process.poll() is None else []
    if grace > 0 and pids:
        signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (process.poll() is None or any(map(alive, pids[1:]))):
            time.sleep(0.05)
    running = process.poll() is None  # once reaped, its pid may belong to a new process: never signal it then
    if running:
        pids = list(dict.fromkeys([*pids, *tree(process.pid)]))  # and whatever it started meanwhile
    targets = [pid for pid in pids if pid != process.pid and alive(pid)]
    signal_all([process.pid, *targets] if running else targets, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5.0)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its descendants at once, and reap it."""
    terminate(process, grace=0)
