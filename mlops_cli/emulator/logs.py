"""Reading the emulator's log: its last lines, and new lines as they are written."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path


def tail(path: Path, lines: int) -> tuple[list[str], int]:
    """The last `lines` whole lines of the file, and the offset just after them, where `follow` continues
    (so a line written meanwhile is printed once, not twice or never)."""
    try:
        with path.open("rb") as file:
            last = deque(file, maxlen=max(lines, 0) + 1)  # one more: the last may be half-written
            end = file.tell()
    except FileNotFoundError:
        return [], 0
    if last and not last[-1].endswith(b"\n"):  # half-written: `follow` prints it once it is whole
        end -= len(last.pop())
    chosen = list(last)[-lines:] if lines > 0 else []
    return [line.decode(errors="replace") for line in chosen], end


def follow(path: Path, start: int = 0, poll: float = 0.25) -> Iterator[str]:
    """Whole lines appended after offset `start`, forever. Survives the log being replaced when the emulator
    restarts (the new file is read from its beginning), truncated, or not existing yet."""
    position = start
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
