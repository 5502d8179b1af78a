"""Load balancers that balance for real (Elastic Load Balancing v2): every listener created through the API listens
on 127.0.0.1 (its URL is the listener's tag `mlops:emulator-url`), requests go round robin to the healthy targets
of the target group (all of them when none is healthy: AWS fails open), health checks really run, and Lambda
targets run the function's own deployed code. moto alone stores all of it but nothing listens, and every target
is `healthy` at once.

Layout, one job per module:
- `api` wires it into moto (reversible patches); `plane` holds the running listeners and target groups and keeps
  them in line with moto's state;
- `listeners` are the sockets (HTTP server, TCP forwarder); `dispatch` decides what an HTTP request gets (`rules`
  picks the actions, `redirect` builds a Location); `proxy` forwards to an IP or instance target;
- `monitor` runs the health checks of a target group (`probes` is one check, `health` the states and reasons,
  `matcher` the HttpCode matcher, `targets` the settings and addresses); `routing` is round robin and weights;
- `functions` runs Lambda targets (`function_runtime` is the execution environment subprocess, standard library
  only), and `lambda_events` is the load balancer's event and response contract; `messages` the request and answer.

Nothing is imported at start-up: moto's ELBv2 is heavy (about 0.75 s), so the patches are applied on the first
ELBv2 request (`middleware`), the way moto itself loads a service's backend only when it is first used.
Work folders: `<work_dir>/functions/<function>/<code sha256>/`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from mlops_cli.emulator.identity import StartResponse, WsgiApp
from mlops_cli.emulator.protocol import RESET_PATH

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch moto's ELBv2 (idempotent). Uses the job runner's settings (work folder, the emulator's URL)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from mlops_cli.emulator.balancing import api

        for patch in api.PATCHES:
            patch.apply()
        _installed = True


def uninstall() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            return
        from mlops_cli.emulator.balancing import api

        stop_all()
        for patch in reversed(api.PATCHES):
            patch.revert()
        _installed = False


def stop_all() -> None:
    """Close every listener, stop every health check and function environment (the emulator resets or stops)."""
    if not _installed:
        return
    from mlops_cli.emulator.balancing.plane import plane

    plane.stop_all()


def _is_elastic_load_balancing(environ: dict[str, Any]) -> bool:
    # Signed for the service "elasticloadbalancing" (ELBv2 and the classic ELB share it: installing early is harmless).
    return "/elasticloadbalancing/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")


class Balancing:
    """A WSGI middleware: the first ELBv2 request installs the patches before moto sees it; POST /moto-api/reset
    closes every listener and stops the health checks before moto wipes the state."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not _installed and _is_elastic_load_balancing(environ):
            install()
        elif environ.get("PATH_INFO") == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            stop_all()
        return self.app(environ, start_response)


def middleware(app: WsgiApp) -> WsgiApp:
    return Balancing(app)
