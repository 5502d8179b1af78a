"""The emulator process: moto's server application with the project's extensions, on 127.0.0.1 only.

Run by the manager as `python -m mlops_cli.emulator.server --host 127.0.0.1 --port N --work-dir DIR`.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from pathlib import Path
from typing import Any

from mlops_cli.emulator.identity import WsgiApp
from mlops_cli.emulator.protocol import HOST, IDENTITY_PATH, PORT_IN_USE_EXIT, endpoint_url


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlops_cli.emulator.server", description=__doc__)
    # Only loopback is accepted: the emulator has no authentication and must never be reachable from the network.
    parser.add_argument("--host", default=HOST, choices=[HOST], help="bind address (loopback only)")
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument("--work-dir", type=Path, required=True, help="folder for per-job work folders")
    return parser.parse_args(argv)


def _stop(signum: int, frame: Any) -> None:
    # Raised in the main thread, inside serve_forever: the server closes its socket and the process exits 0.
    sys.exit(0)


def build_app(work_dir: Path, endpoint: str) -> WsgiApp:
    """moto's application, patched by the extensions and the job runner, behind the project's WSGI middlewares
    (the place for routes moto lacks). `endpoint` is this server's own URL: jobs read and write their data there.
    Call once per process: the extensions patch moto's classes."""
    from mlops_cli.emulator import alarms, autoscaling, extensions, jobs, pipelines, registry, serving

    extensions.install()  # before moto handles a single request
    jobs.install(work_dir, endpoint)
    pipelines.install()  # executions run their steps as jobs
    serving.install()  # endpoints, after the job runner whose settings and clients it uses
    for patch in [*registry.PATCHES, *alarms.PATCHES]:
        patch.apply()

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from mlops_cli.emulator.identity import IdentityRoute

    moto_app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    moto_app = autoscaling.InstallOnFirstUse(moto_app)  # moto loads that service lazily, and it is heavy
    moto_app = serving.StopEndpointsOnReset(jobs.stop_jobs_on_reset(moto_app))
    from mlops_cli.emulator import balancing

    moto_app = balancing.middleware(moto_app)  # ELBv2 listeners listen and health checks run; patched on first use
    from mlops_cli.emulator.gateway.middleware import GatewayRoute

    moto_app = GatewayRoute(moto_app)  # deployed REST APIs answer; it snapshots deployments from the first use
    return IdentityRoute(moto_app, work_dir=str(work_dir))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(args.work_dir, endpoint_url(args.port))

    import moto
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class RequestHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Every mlops command checks who answers on the port; those probes would bury the log's real requests.
            if self.path != IDENTITY_PATH:
                super().log_request(code, size)

    try:
        server = make_server(args.host, args.port, app, threaded=True, request_handler=RequestHandler)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"mlops emulator: port {args.port} on {args.host} is already in use", flush=True)
        return PORT_IN_USE_EXIT

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        f"mlops emulator (moto {moto.__version__}) listening on http://{args.host}:{args.port}; "
        f"work dir {args.work_dir}",
        flush=True,
    )
    from mlops_cli.emulator import pipelines

    pipelines.start_scheduler()
    try:
        server.serve_forever()
    finally:
        pipelines.stop_scheduler()
        server.server_close()
        from mlops_cli.emulator import serving

        serving.stop_all()  # no endpoint server outlives the emulator
        from mlops_cli.emulator import balancing

        balancing.stop_all()  # nor a load balancer listener, health check or Lambda environment
    return 0


if __name__ == "__main__":
    sys.exit(main())
