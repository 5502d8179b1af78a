"""The WSGI middleware in front of moto: a gateway request (`/restapis/<api>/<stage>/_user_request_/...`) is one
`invocation.Invocation`; every other request goes to moto unchanged.

moto's API Gateway models take a tenth of a second to import, so nothing here loads them up front: the first API
Gateway control-plane request (or the first gateway request) applies the snapshot patch before moto sees it, as
moto loads that service then anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from mlops_cli.emulator.gateway import auth, routing
from mlops_cli.emulator.identity import StartResponse, WsgiApp
from mlops_cli.emulator.protocol import RESET_PATH

# SigV4 scopes of the requests that can create a deployment: API Gateway's own, and CloudFormation's.
_DEPLOYING_SCOPES = ("/apigateway/aws4_request", "/cloudformation/aws4_request")


class GatewayRoute:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.limiter = auth.Limiter()
        self._installed = False
        self._install_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        target = routing.parse(path) if path.startswith(routing.PREFIX) else None
        if not self._installed and (target is not None or _may_deploy(environ)):
            self._install()
        if target is None:
            if path == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
                self.limiter.reset()  # moto wipes the keys and usage plans the buckets belong to
            return self.app(environ, start_response)

        from mlops_cli.emulator.gateway.invocation import Invocation, status_line

        answer = Invocation(self.app, self.limiter, environ, target).run()
        answer.headers["Content-Length"] = str(len(answer.body))
        start_response(status_line(answer.status), list(answer.headers.items()))
        return [answer.body]

    def _install(self) -> None:
        from mlops_cli.emulator import gateway

        with self._install_lock:
            if not self._installed:
                gateway.install()
                self._installed = True


def _may_deploy(environ: dict[str, Any]) -> bool:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    return any(scope in authorization for scope in _DEPLOYING_SCOPES)
