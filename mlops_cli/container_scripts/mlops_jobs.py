"""SageMaker job plumbing shared by the container scripts: log lines, host identity, and failure reports.

SageMaker learns why a job failed only from a file: /opt/ml/output/message for processing (returned as
ExitMessage) and /opt/ml/output/failure for training (returned as FailureReason), the first 1 KB of each. So every
script runs its work through `run_job`, which writes the reason there first and the traceback after it.

Standard library only, Python 3.9 syntax: it runs inside SageMaker's prebuilt scikit-learn images.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

DEFAULT_HOST = "algo-1"


class JobError(Exception):
    """A failure whose message already says what went wrong and what to do; reported without its type name."""


def say(message: str) -> None:
    """A progress line on stdout, flushed at once: the container's stdout is what CloudWatch Logs shows."""
    print(message, flush=True)


def read_hosts(config_dir: str | Path) -> tuple[str, list[str]]:
    """(current host, all hosts) from resourceconfig.json; a single algo-1 when the file is absent (a local run)."""
    path = Path(config_dir) / "resourceconfig.json"
    if not path.is_file():
        return DEFAULT_HOST, [DEFAULT_HOST]
    config = json.loads(path.read_text(encoding="utf-8"))
    current = str(config.get("current_host", DEFAULT_HOST))
    return current, [str(host) for host in config.get("hosts", [current])]


def run_job(job: Callable[[], None], failure_file: Path, expected: tuple[type[BaseException], ...] = ()) -> int:
    """Run the job; on an exception write the reason and traceback to the failure file and stderr, return 1.

    An exception of an `expected` type (or JobError) is reported by its message alone; anything else also names
    its type, since the message of, say, a KeyError means little by itself.
    """
    try:
        job()
    except Exception as exc:
        known = isinstance(exc, (JobError, *expected))
        reason = str(exc) if known else f"{type(exc).__name__}: {exc}"
        details = traceback.format_exc()
        _write_failure(failure_file, f"{reason}\n\n{details}")
        # The reason comes last on stderr too: the training toolkit replaces the failure file with its own
        # message built from the end of stderr.
        print(details, file=sys.stderr)
        print(f"ERROR: {reason}", file=sys.stderr, flush=True)
        return 1
    return 0


def _write_failure(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="replace")
    except OSError as exc:  # the reason still reaches stderr; do not hide it behind this error
        print(f"could not write the failure file {path}: {exc}", file=sys.stderr)
