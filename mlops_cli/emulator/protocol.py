"""The contract between the manager and the server process it spawns. Light: no moto import here."""

from __future__ import annotations

# The only address the emulator ever binds: it is a development tool and must never be reachable from the network.
HOST = "127.0.0.1"

# Answered by the server itself (not moto) with its pid, so the manager knows the port is *its* emulator.
# A leading underscore cannot start an S3 bucket name, so the path never shadows a path-style bucket request.
IDENTITY_PATH = "/_mlops/emulator"
SERVICE_NAME = "mlops-emulator"

# moto's own endpoint that wipes every backend (all emulated AWS state).
RESET_PATH = "/moto-api/reset"

# Exit status of the server when its port is taken, so the manager can pick another free port.
PORT_IN_USE_EXIT = 98


def endpoint_url(port: int) -> str:
    return f"http://{HOST}:{port}"
