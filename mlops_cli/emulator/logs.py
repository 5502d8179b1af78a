"""Reading the emulator's log: its last lines, and new lines as they are written."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of the file (none if it does not exist)."""
    if lines <= 0:
        return []
    try:
        with path.open(errors="replace") as file:
            return list(deque(file, maxlen=lines))
    except FileNotFoundError:
        return []


def follow(path: Path, poll: float = 0.25) -> Iterator[str]:
    """Lines appended to the file from now on, forever. Survives the log being replaced when the emulator
    restarts (the new file is read from its start) and the file not existing yet."""
    position = path.stat().st_size if path.exists() else 0
    inode = _inode(path)
    while True:
        current = _inode(path)
        if current != inode:  # replaced by a restart: read the new log from its beginning
            inode, position = current, 0
        if current is not None:
            with path.open("rb") as file:
                if os.fstat(file.fileno()).st_size < position:  # truncated in place
                    position = 0
                file.seek(position)
                while line := file.readline():
                    if not line.endswith(b"\n"):  # half-written: wait for the rest of it
                        break
                    position = file.tell()
                    yield line.decode(errors="replace")
        time.sleep(poll)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
