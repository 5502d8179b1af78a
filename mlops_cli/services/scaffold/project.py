"""`mlops init`: a project folder from a CSV file. Nothing is written until everything is known to work: the schema
is inferred, the configs are rendered and validated in a scratch folder, and no file of the project may exist yet
(an existing file is never overwritten)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mlops_cli.errors import ConfigError, Problem, UsageError
from mlops_cli.services.scaffold import configs
from mlops_cli.services.scaffold.inference import InferredColumn, Task, infer_dataset

CONTAINER_SCRIPTS = Path(__file__).resolve().parents[2] / "container_scripts"
ENVIRONMENTS = ("local", "dev", "prod")  # each extends base.yaml, which holds no environment of its own
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_DATASET = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class InitRequest:
    directory: Path
    data: Path
    target: str
    key: str | None = None
    task: Task | None = None
    name: str | None = None
    scripts: bool = False
    today: dt.date | None = None  # the first batch's date; default: today (UTC)


@dataclass(frozen=True)
class InitResult:
    directory: str
    project: str
    dataset: str
    target: str
    task: Task
    classes: list[str]
    key: str
    key_inferred: bool
    rows_read: int
    whole_file_read: bool
    columns: list[InferredColumn]
    min_metric: float
    objective: str
    goal: str
    files: list[str]  # relative to directory, in the order written
    next_command: str
    warnings: list[str] = field(default_factory=list)


def init_project(request: InitRequest) -> InitResult:
    directory = request.directory
    project = project_name(directory)
    dataset_name = _dataset_name(request.name, request.data)
    inferred = infer_dataset(request.data, request.target, request.key, request.task)
    today = (request.today or dt.datetime.now(dt.UTC).date()).isoformat()
    spec = configs.Project(
        project=project,
        dataset_name=dataset_name,
        source=request.data.name,
        generated_on=today,
        dataset=inferred,
        scripts=request.scripts,
    )
    texts = {f"configs/{name}": text for name, text in configs.render(spec).items()}
    scripts = {f"scripts/{path.name}": path for path in _shipped_scripts()} if request.scripts else {}
    data_file = f"data/{dataset_name}/ingest_date={today}/{request.data.stem}.csv"
    planned = [*texts, *scripts, data_file]
    existing = [name for name in planned if (directory / name).exists()]
    if existing:
        raise UsageError(
            f"{directory} already holds {', '.join(existing)}: mlops init never overwrites a file; nothing was "
            "written.",
            hint="Choose a new folder, or move those files away first.",
        )
    _validate(texts, scripts, directory)
    for name, text in texts.items():
        _write(directory / name, text.encode())
    for name, source in scripts.items():
        _write(directory / name, source.read_bytes())
    target = directory / data_file
    with request.data.open("rb") as source_handle, _writing(target) as handle:
        shutil.copyfileobj(source_handle, handle)
    threshold, _why = configs.min_metric(inferred)
    metric, goal = configs.OBJECTIVES[inferred.task]
    return InitResult(
        directory=str(directory),
        project=project,
        dataset=dataset_name,
        target=inferred.target,
        task=inferred.task,
        classes=list(inferred.classes),
        key=inferred.key,
        key_inferred=inferred.key_inferred,
        rows_read=inferred.rows_read,
        whole_file_read=inferred.complete,
        columns=list(inferred.columns),
        min_metric=threshold,
        objective=metric,
        goal=goal,
        files=planned,
        next_command=f"cd {_shell_word(str(directory))} && mlops pipeline run -c configs/local.yaml",
        warnings=list(inferred.warnings),
    )


def project_name(directory: Path) -> str:
    """The folder's name made a valid project name: lowercase letters, digits and hyphens, 2-20 characters,
    starting with a letter."""
    folder = directory.resolve().name
    name = re.sub(r"[^a-z0-9]+", "-", folder.lower())
    name = re.sub(r"^[^a-z]+", "", name)[:20].rstrip("-")
    if not _PROJECT.match(name):
        raise UsageError(
            f"cannot make a project name from the folder name {folder!r}: a project name has 2-20 lowercase "
            "letters, digits and hyphens, and starts with a letter.",
            hint="Name the folder so (e.g. mlops init house-prices ...).",
        )
    return name


def _dataset_name(given: str | None, data: Path) -> str:
    if given is not None:
        if not _DATASET.match(given):
            raise UsageError(
                f"--name {given!r}: a dataset name has 1-63 lowercase letters, digits, '_' and '-', and starts with "
                "a letter or digit (it is part of S3 prefixes)."
            )
        return given
    name = re.sub(r"[^a-z0-9_-]+", "-", data.stem.lower())
    name = re.sub(r"^[^a-z0-9]+", "", name)[:63].rstrip("-_")
    return name or "data"


def _shipped_scripts() -> list[Path]:
    scripts = sorted(CONTAINER_SCRIPTS.glob("*.py"))
    if not scripts:
        raise UsageError(f"the shipped scripts are not at {CONTAINER_SCRIPTS}: the installation is incomplete.")
    return scripts


def _validate(texts: dict[str, str], scripts: dict[str, Path], directory: Path) -> None:
    """Load every environment's config from a scratch copy of the project (scripts included: their paths are
    checked), as `mlops config validate` does. A problem is reported against the file's place in `directory`."""
    from mlops_cli.config.loader import load_config

    with tempfile.TemporaryDirectory(prefix="mlops-init-") as scratch:
        root = Path(scratch)
        for name, text in texts.items():
            _write(root / name, text.encode())
        for name, source in scripts.items():
            _write(root / name, source.read_bytes())
        for environment in ENVIRONMENTS:
            try:
                load_config(root / "configs" / f"{environment}.yaml")
            except ConfigError as exc:
                problems = [Problem(_moved(p.file, root, directory), p.line, p.field, p.message) for p in exc.details]
                raise ConfigError(
                    problems,
                    hint="Nothing was written. The data holds something the generated config cannot express: "
                    "please report it, with the message above.",
                ) from None


def _moved(file: str | None, scratch: Path, directory: Path) -> str | None:
    if file is None:
        return None
    return file.replace(str(scratch), str(directory))


def _write(path: Path, content: bytes) -> None:
    with _writing(path) as handle:
        handle.write(content)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[BinaryIO]:
    """A new file, opened for writing; a file that appeared since the check, or a folder that cannot be written,
    is a clear error rather than a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as handle:  # "x": never over an existing file, even one made since the check
            yield handle
    except FileExistsError:
        raise UsageError(f"{path} appeared while mlops init was writing: it was left as it is.") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}.") from None


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)
