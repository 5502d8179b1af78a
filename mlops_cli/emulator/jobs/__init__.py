"""The SageMaker job runner: processing, training and tuning jobs created in the emulator actually run, on this
machine, as subprocesses of the server (no Docker), following SageMaker's container contracts.

Layout, one job per module:
- `api` wires it into moto (a backend subclass and response methods, reversible patches); `backend` holds the jobs;
- `processing`, `training`, `tuning` run one job each in a background thread (`run` is what they share);
- `workspace` (per-host /opt/ml folders), `storage` and `inputs` (S3 in and out, sharding), `toolkit` (the
  sagemaker-training toolkit's arguments, SM_* variables and config files), `workers` and `process_tree`
  (the subprocesses), `logs` (CloudWatch Logs), `metrics` (MetricDefinitions), `sampling` (tuning values),
  `listing` (List* filters, sort and pages), `runtime` (settings, clients, the running jobs), `reset`.

Nothing runs at import time: the server calls `install()` before it serves a request.
"""

from __future__ import annotations

from pathlib import Path

from mlops_cli.emulator.identity import WsgiApp
from mlops_cli.emulator.jobs.runtime import Settings, runtime


def install(work_dir: Path, endpoint_url: str) -> None:
    """Make jobs run, with work folders under `work_dir` and the emulator at `endpoint_url` for their data."""
    from mlops_cli.emulator.jobs import api

    runtime.configure(Settings(work_dir=work_dir, endpoint_url=endpoint_url))
    for patch in api.PATCHES:
        patch.apply()


def uninstall() -> None:
    from mlops_cli.emulator.jobs import api

    runtime.abandon_all()
    for patch in reversed(api.PATCHES):
        patch.revert()
    runtime.configure(None)


def stop_jobs_on_reset(app: WsgiApp) -> WsgiApp:
    from mlops_cli.emulator.jobs.reset import StopJobsOnReset

    return StopJobsOnReset(app)
