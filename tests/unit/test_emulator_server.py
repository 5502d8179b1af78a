"""The server process's own pieces: its arguments (loopback only) and the identity route."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.emulator.identity import IdentityRoute
from mlops_cli.emulator.protocol import IDENTITY_PATH, SERVICE_NAME
from mlops_cli.emulator.server import parse_args


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "localhost"])
def test_server_refuses_any_host_but_loopback(host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        parse_args(["--host", host, "--port", "5000", "--work-dir", str(tmp_path)])
    assert refused.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_server_binds_loopback_by_default(tmp_path: Path) -> None:
    args = parse_args(["--port", "5000", "--work-dir", str(tmp_path)])
    assert (args.host, args.port, args.work_dir) == ("127.0.0.1", 5000, tmp_path)


def test_identity_route_answers_with_the_pid_and_passes_the_rest_to_moto() -> None:
    calls: list[str] = []

    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"moto"]

    app = IdentityRoute(moto, work_dir="/w")
    statuses: list[str] = []
    body = b"".join(app({"PATH_INFO": IDENTITY_PATH}, lambda status, headers: statuses.append(status)))
    assert json.loads(body) == {"service": SERVICE_NAME, "pid": os.getpid(), "work_dir": "/w"}
    assert b"".join(app({"PATH_INFO": "/my-bucket"}, lambda status, headers: None)) == b"moto"
    assert calls == ["/my-bucket"]
