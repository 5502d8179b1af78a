"""Endpoints that really serve: CreateEndpoint / UpdateEndpoint start a local inference server per production
variant (the serving container's /ping + /invocations contract around the model's own inference.py), and
sagemaker-runtime InvokeEndpoint reaches it. No Docker: each server is a subprocess of the emulator.

Layout, one job per module:
- `api` wires it into moto (reversible patches of the response classes); `host` holds the endpoints and runs the
  control-plane operations; `endpoint` is one endpoint's state, routing and DescribeEndpoint answer;
- `plans` reads what to run from the model, model package and endpoint config; `fleet` is the servers of one
  endpoint config; `variant` one variant's work folder, subprocess, health check and HTTP calls; `model_server` is
  the subprocess itself (standard library only);
- `deploy` brings fleets up and shifts traffic (`rollout` reads the DeploymentConfig), with rollbacks;
- `invocations` is InvokeEndpoint; `metrics` (CloudWatch), `logs` (CloudWatch Logs) and `capture` (data capture
  to S3) record what it does; `errors` are the runtime's errors.

Work folders: `<work_dir>/endpoints/<endpoint>/<config>/<variant>/` with the extracted model.tar.gz in `model/`.
Installed by the server (`install()`) before it serves a request; it uses the job runner's settings and clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlops_cli.emulator.identity import StartResponse, WsgiApp
from mlops_cli.emulator.protocol import RESET_PATH


def install() -> None:
    from mlops_cli.emulator.serving import api

    for patch in api.PATCHES:
        patch.apply()


def uninstall() -> None:
    from mlops_cli.emulator.serving import api

    stop_all()
    for patch in reversed(api.PATCHES):
        patch.revert()


def stop_all() -> None:
    """Stop every endpoint's servers (the emulator resets or shuts down)."""
    from mlops_cli.emulator.serving.host import host

    host.stop_all()


class StopEndpointsOnReset:
    """A WSGI middleware: on POST /moto-api/reset, stop every endpoint server before moto wipes the state."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            stop_all()
        return self.app(environ, start_response)
