"""`… logs JOB [--follow]`: a job's CloudWatch log on stdout (it is the command's result)."""

from __future__ import annotations

import json
from typing import Any

from mlops_cli.commands.common import Invocation
from mlops_cli.errors import Interrupted


def print_logs(run: Invocation, kind: str, name: str, *, follow: bool, group: str) -> None:
    from mlops_cli.services import jobs

    follower = jobs.LogFollower(run.clients, jobs.Kind(kind), name)
    state = jobs.describe_job(run.clients, jobs.Kind(kind), name)  # a missing job fails here, with exit 3
    if run.out.json_mode and not follow:  # one JSON document; with --follow, one JSON object per line
        lines = follower.poll()
        run.out.result([{"stream": x.stream, "timestamp": x.timestamp, "message": x.message} for x in lines])
        return

    def show(_state: Any, lines: list[Any]) -> None:
        for line in lines:
            if run.out.json_mode:
                print(json.dumps({"stream": line.stream, "timestamp": line.timestamp, "message": line.message}))
            else:
                print(line.message.rstrip("\n"), flush=True)

    try:
        if follow and not state.terminal:  # the wait polls through a short outage, and reads the last lines
            jobs.wait_job(run.clients, jobs.Kind(kind), name, observe=show, poll_seconds=2)
        else:
            show(state, follower.poll())
    except KeyboardInterrupt:
        raise Interrupted(
            f"Stopped following {name}; the job goes on.", hint=f"`mlops {group} status {name}`"
        ) from None
