"""The stage's access log: one line per request, in the stage's accessLogSettings format, put in-process to the
CloudWatch Logs group its destinationArn names (when that group exists), in a stream named after the stage.
`$context` variables the emulator does not know are written as `-`, as API Gateway writes missing values."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from mlops_cli.emulator.jobs.runtime import announce

_VARIABLE = re.compile(r"\$\{?context\.(?P<name>[A-Za-z]\w*(?:\.[A-Za-z]\w*)*)\}?")
_GROUP_ARN = re.compile(r"^arn:aws[\w-]*:logs:(?P<region>[^:]+):(?P<account>\d+):log-group:(?P<group>[^:]+)(?::\*)?$")
_lock = threading.Lock()  # moto's log streams are not thread-safe
_failed: set[str] = set()


def write(settings: Mapping[str, Any] | None, stage: str, variables: Mapping[str, str]) -> None:
    """Write the line, if the stage has access logging to an existing log group. Never raises: serving goes on."""
    if not settings or not settings.get("destinationArn") or not settings.get("format"):
        return
    destination = _GROUP_ARN.match(str(settings["destinationArn"]))
    if not destination:
        return  # a Firehose stream: not emulated
    line = render(str(settings["format"]), variables)
    try:
        from moto.logs.models import logs_backends

        backend = logs_backends[destination["account"]][destination["region"]]
        group = backend.groups.get(destination["group"])
        if group is None:
            return
        with _lock:
            if stage not in group.streams:
                group.create_log_stream(stage)
            group.put_log_events(stage, [{"timestamp": int(time.time() * 1000), "message": line}])
    except Exception as exc:  # the emulator may be resetting
        if destination["group"] not in _failed:
            _failed.add(destination["group"])
            announce(f"could not write the API Gateway access log to {destination['group']}: {exc}")


def render(log_format: str, variables: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda match: variables.get(match["name"]) or "-", log_format)
