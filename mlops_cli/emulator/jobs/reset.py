"""Stopping every running job before moto's reset wipes the state they belong to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlops_cli.emulator.identity import StartResponse, WsgiApp
from mlops_cli.emulator.jobs.runtime import runtime
from mlops_cli.emulator.protocol import RESET_PATH


class StopJobsOnReset:
    """A WSGI middleware: on POST /moto-api/reset, kill every job's workers and wait for their runner threads to
    end (quietly, changing nothing) before moto resets. Done here, outside moto's reset, because moto holds its
    backend lock while it resets, and a runner waiting for an S3 call would wait for that lock."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            runtime.abandon_all()
        return self.app(environ, start_response)
