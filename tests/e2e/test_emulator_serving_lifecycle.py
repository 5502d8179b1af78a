"""Endpoint servers never outlive the emulator's state: `mlops local reset` and `mlops local down` (the manager
calls they make) stop every one, and the server log says where each served from. On a private emulator, since
these tests reset and stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_cli.emulator import manager
from tests.e2e.conftest import ServedModel, ServingKit

pytestmark = pytest.mark.e2e


def test_reset_and_down_stop_every_endpoint_server(private_home: Path, served_model: ServedModel) -> None:
    info = manager.ensure_running()
    kit = ServingKit(info, served_model)
    first = kit.deploy("first")
    assert len(kit.server_pids(first)) == 3  # the server and its two workers

    manager.reset()
    assert kit.server_pids(first) == []
    assert not (info.work_dir / "endpoints").exists()

    kit = ServingKit(info, served_model)  # the reset wiped the bucket too
    second = kit.deploy("second")
    assert kit.server_pids(second)
    manager.stop()
    assert kit.server_pids(second) == []

    log = manager.log_path().read_text()
    for name in (first, second):
        folder = info.work_dir / "endpoints" / name / name / "AllTraffic"
        assert f"endpoint {name}: variant AllTraffic serving on http://127.0.0.1:" in log
        assert f"endpoint {name}: variant AllTraffic stopped (port " in log
        assert f"work folder {folder}" in log
