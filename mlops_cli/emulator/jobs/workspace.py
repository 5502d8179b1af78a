"""Per-job work folders. Each instance ("host") of a job gets `<work_dir>/jobs/<job-name>/<host>/opt_ml/`, which
stands in for the container's `/opt/ml`; paths in the request that point under /opt/ml are rewritten to it."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTAINER_ROOT = "/opt/ml"

# "/opt/ml" as a path of its own: at the start of the text or after a separator ("--out=/opt/ml/x", "a:/opt/ml"),
# and followed by "/" or the end of the path. "/opt/mlx" and "/data/opt/ml" are left alone.
_CONTAINER_PATH = re.compile(r"(?<![^\s=:,;'\"])/opt/ml(?![^/\s:,;'\"])")


def job_folder(work_dir: Path, job_name: str) -> Path:
    return work_dir / "jobs" / job_name


def host_names(count: int) -> list[str]:
    """SageMaker's host names: algo-1 ... algo-N."""
    return [f"algo-{index}" for index in range(1, count + 1)]


def fresh_folder(path: Path) -> Path:
    """An empty folder at `path` (what a job of the same name left behind, e.g. before a reset, is removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, default=str) + "\n")


@dataclass(frozen=True)
class HostWorkspace:
    """One host's stand-in for /opt/ml, with the locations the processing and training contracts name."""

    host: str
    root: Path  # <job folder>/<host>

    @property
    def opt_ml(self) -> Path:
        return self.root / "opt_ml"

    def path(self, container_path: str) -> Path:
        """The local folder for an absolute container path under /opt/ml (a LocalPath of the request)."""
        relative = container_path[len(CONTAINER_ROOT) :].strip("/")
        if not _CONTAINER_PATH.match(container_path) or ".." in Path(relative).parts:
            raise ValueError(f"{container_path!r} is not a path under {CONTAINER_ROOT}/")
        return self.opt_ml / relative

    def rewrite(self, text: str) -> str:
        """`text` with every /opt/ml path pointing into this workspace instead."""
        return _CONTAINER_PATH.sub(lambda _match: str(self.opt_ml), text)

    # processing
    @property
    def processing_config_dir(self) -> Path:
        return self.opt_ml / "config"

    @property
    def output_dir(self) -> Path:
        return self.opt_ml / "output"

    @property
    def message_file(self) -> Path:
        return self.output_dir / "message"

    # training
    @property
    def input_dir(self) -> Path:
        return self.opt_ml / "input"

    @property
    def input_config_dir(self) -> Path:
        return self.input_dir / "config"

    def channel_dir(self, channel: str) -> Path:
        return self.input_dir / "data" / channel

    @property
    def model_dir(self) -> Path:
        return self.opt_ml / "model"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def intermediate_dir(self) -> Path:
        return self.output_dir / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def code_dir(self) -> Path:
        return self.opt_ml / "code"


def read_text_file(path: Path, limit: int) -> str | None:
    """The first `limit` characters of a UTF-8 text file the script wrote, or None if it wrote none."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.read(limit)
    except (FileNotFoundError, IsADirectoryError):
        return None
