"""The embedded emulator for end-to-end tests: one server for the whole session, in a temporary state folder.

Use `emulator` for its EmulatorInfo (endpoint_url, pid, work_dir, ...) and `emulator_client("s3")` for a boto3
client pointed at it. The fixture sets MLOPS_EMULATOR_HOME for the session, so a config with
`aws.endpoint_url: local` (and `mlops` run as a subprocess) finds this same server. Tests share its state: use
unique resource names, and do not stop or reset it (start a private one for that; see test_local_cli.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlops_cli.emulator import manager
from mlops_cli.emulator.paths import HOME_ENV

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.EmulatorInfo]:
    previous = os.environ.get(HOME_ENV)
    os.environ[HOME_ENV] = str(tmp_path_factory.mktemp("emulator-home"))
    try:
        yield manager.ensure_running()
    finally:
        manager.stop()
        if previous is None:
            os.environ.pop(HOME_ENV, None)
        else:
            os.environ[HOME_ENV] = previous


@pytest.fixture
def emulator_client(emulator: manager.EmulatorInfo) -> Callable[..., Any]:
    """`emulator_client("s3")`: a boto3 client for the session emulator, as the tool builds them for it."""
    import boto3
    from botocore.config import Config

    def make(service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # no retries: a 500 from a missing moto operation should fail the test at once
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
        )

    return make
