"""state.json: which process serves the emulator, on which port, since when."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerState:
    pid: int
    port: int
    endpoint_url: str
    started_at: str


def read(path: Path) -> ServerState | None:
    """The recorded server, or None when there is no state file or it cannot be understood."""
    try:
        data = json.loads(path.read_text())
        return ServerState(
            pid=int(data["pid"]),
            port=int(data["port"]),
            endpoint_url=str(data["endpoint_url"]),
            started_at=str(data["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(path: Path, state: ServerState) -> None:
    # Write then rename, so a concurrent reader never sees half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(tmp, path)


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
