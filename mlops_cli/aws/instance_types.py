"""SageMaker instance types, as botocore's service model lists them for each kind of job.

Loading the SageMaker model takes about 0.3 s, so the lists are cached per botocore version in the user's cache
folder; config validation then checks an instance type without importing botocore."""

from __future__ import annotations

import json
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Literal

Kind = Literal["processing", "training", "endpoint"]

_SHAPES: dict[Kind, str] = {
    "processing": "ProcessingInstanceType",
    "training": "TrainingInstanceType",
    "endpoint": "ProductionVariantInstanceType",
}


def _cache_file() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mlops")) / f"sagemaker-instance-types-botocore-{version('botocore')}.json"


@cache
def _all() -> dict[str, list[str]]:
    path = _cache_file()
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        pass
    from botocore.loaders import Loader

    shapes = Loader().load_service_model("sagemaker", "service-2")["shapes"]
    types: dict[str, list[str]] = {kind: list(shapes[shape]["enum"]) for kind, shape in _SHAPES.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(types))
    except OSError:
        pass  # a read-only cache only costs time
    return types


def instance_types(kind: Kind) -> frozenset[str]:
    return frozenset(_all()[kind])


def instance_type_problem(value: str, kind: Kind) -> str | None:
    """None when `value` is an instance type SageMaker accepts for `kind` jobs, else the reason."""
    known = instance_types(kind)
    if value in known:
        return None
    family = value.rsplit(".", 1)[0] if value.count(".") == 2 else None
    near = sorted(t for t in known if family and t.startswith(family + "."))
    hint = f" (the {family} sizes are {', '.join(near)})" if near else ""
    return f"'{value}' is not a SageMaker {kind} instance type{hint}"
