"""`… logs JOB [--follow]`: a job's CloudWatch log on stdout (it is the command's result)."""

from __future__ import annotations

import json
import time

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
    try:
        while True:
            for line in follower.poll():
                if run.out.json_mode:
                    print(json.dumps({"stream": line.stream, "timestamp": line.timestamp, "message": line.message}))
                else:
                    print(line.message.rstrip("\n"), flush=True)
            if not follow or state.terminal:
                return
            time.sleep(2)
            state = jobs.describe_job(run.clients, jobs.Kind(kind), name)
            if state.terminal:  # one more read picks up the last lines
                follow = False
    except KeyboardInterrupt:
        raise Interrupted(
            f"Stopped following {name}; the job goes on.", hint=f"`mlops {group} status {name}`"
        ) from None
