"""Small HTTP calls to the server on loopback: who is answering on a port, and moto's reset."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from mlops_cli.emulator.protocol import IDENTITY_PATH, RESET_PATH, SERVICE_NAME, endpoint_url

# Never through a proxy: HTTP(S)_PROXY from the environment would send loopback requests elsewhere.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def identify(port: int, timeout: float = 1.0) -> dict[str, Any] | None:
    """The server's identity (`{"service", "pid", ...}`) if an mlops emulator answers on `port`, else None."""
    try:
        with _OPENER.open(endpoint_url(port) + IDENTITY_PATH, timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):  # refused, reset, timed out, not JSON: not our emulator (yet)
        return None
    return data if isinstance(data, dict) and data.get("service") == SERVICE_NAME else None


def answers_as(port: int, pid: int, timeout: float = 1.0) -> bool:
    identity = identify(port, timeout)
    return identity is not None and identity.get("pid") == pid


def reset(port: int, timeout: float = 30.0) -> None:
    """Wipe every emulated AWS resource (moto's reset of all backends). Raises OSError if it fails."""
    request = urllib.request.Request(endpoint_url(port) + RESET_PATH, data=b"", method="POST")
    with _OPENER.open(request, timeout=timeout) as response:  # any status but 2xx raises HTTPError
        response.read()
