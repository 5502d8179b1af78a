"""A WSGI middleware answering IDENTITY_PATH with this server's pid; every other request goes to moto."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from mlops_cli.emulator.protocol import IDENTITY_PATH, SERVICE_NAME

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class IdentityRoute:
    def __init__(self, app: WsgiApp, **details: str) -> None:
        self.app = app
        self.body = json.dumps({"service": SERVICE_NAME, "pid": os.getpid(), **details}).encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != IDENTITY_PATH:
            return self.app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(self.body)))])
        return [self.body]
