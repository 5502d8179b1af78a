"""Starting a pipeline from inside the server: the SageMaker pipeline ARN targets of EventBridge rules and
Scheduler schedules. The start runs in a thread of its own, so the S3 request (or the scheduler) never waits."""

from __future__ import annotations

import re
import threading
import traceback
from typing import Any

from mlops_cli.emulator.jobs.runtime import announce

_PIPELINE_ARN = re.compile(r"^arn:aws[\w-]*:sagemaker:([\w-]+):(\d{12}):pipeline/([^/]+)$")


def pipeline_of(arn: str) -> tuple[str, str, str] | None:
    """(region, account, pipeline name) of a SageMaker pipeline ARN, else None."""
    match = _PIPELINE_ARN.match(arn or "")
    return (match.group(1), match.group(2), match.group(3)) if match else None


def parameters_of(target: dict[str, Any]) -> list[dict[str, str]]:
    listed = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or []
    return [{"Name": item["Name"], "Value": item["Value"]} for item in listed]


def start(arn: str, parameters: list[dict[str, str]], source: str, wait: bool = False) -> None:
    """StartPipelineExecution on the pipeline `arn` names, in the background (or at once with `wait`)."""
    located = pipeline_of(arn)
    if located is None:
        return

    def run() -> None:
        from moto.sagemaker.models import sagemaker_backends

        from mlops_cli.emulator.pipelines.api import start_execution

        region, account, name = located
        try:
            start_execution(sagemaker_backends[account][region], name, parameters, source)
        except Exception:
            announce(f"{source}: could not start pipeline {arn}:\n{traceback.format_exc()}")

    if wait:
        run()
    else:
        threading.Thread(target=run, name=f"start:{located[2]}", daemon=True).start()
