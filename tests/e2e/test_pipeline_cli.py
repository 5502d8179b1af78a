"""`mlops pipeline run` end to end on the emulator: the whole chain on the shipped local config, then a second run
that skips everything up to date, the lock against a concurrent run, a range of stages, and a failing stage."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_storage_cli import MLOPS, ROOT

pytestmark = pytest.mark.e2e

UP_TO_DATE = ("storage", "upload", "preprocess", "train", "evaluate", "register", "approve", "deploy", "gateway")


class Pipeline:
    """`mlops pipeline run -c configs/local.yaml --set project=<unique> --set register.approval=auto …`, with the
    locks in a cache folder of the test's own."""

    def __init__(self, cache: Path) -> None:
        self.project = f"p{uuid.uuid4().hex[:10]}"
        self.env = {**os.environ, "XDG_CACHE_HOME": str(cache)}

    def command(self, *args: str) -> list[str]:
        return [
            *MLOPS,
            "pipeline",
            "run",
            "-c",
            "configs/local.yaml",
            "--set",
            f"project={self.project}",
            "--set",
            "register.approval=auto",
            "--json",
            *args,
        ]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), cwd=ROOT, capture_output=True, text=True, env=self.env, timeout=300)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(result.stdout))


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {stage["stage"]: stage["status"] for stage in document["stages"]}


def figures(document: dict[str, Any], stage: str) -> dict[str, Any]:
    return dict(next(s for s in document["stages"] if s["stage"] == stage)["figures"])


@pytest.fixture(scope="module")
def cache(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def runs(cache: Path) -> dict[str, Any]:
    """A first and a second full run of one project, with their wall times."""
    pipeline = Pipeline(cache)
    timed = {}
    for name in ("first", "second"):
        began = time.monotonic()
        result = pipeline()
        timed[name] = time.monotonic() - began
        assert result.returncode == 0, result.stderr
        timed[f"{name}_summary"] = summary(result)
        timed[f"{name}_stderr"] = result.stderr
    return {"pipeline": pipeline, **timed}


def test_a_first_run_runs_every_stage(runs: dict[str, Any]) -> None:
    first = runs["first_summary"]
    assert first["error"] is None
    ran = statuses(first)
    assert list(ran) == [*UP_TO_DATE, "lb", "smoke"]
    assert all(ran[stage] == "ran" for stage in UP_TO_DATE), ran
    assert ran["lb"] in ("ran", "skipped") and ran["smoke"] == "ran"
    preprocessed = figures(first, "preprocess")
    assert preprocessed["rows_in"] > preprocessed["rows_out"] > 0 and preprocessed["rejected"] > 0
    assert 0.5 < figures(first, "train")["validation_auc"] <= 1
    assert 0.5 < figures(first, "evaluate")["test_auc"] <= 1
    assert figures(first, "register")["model_version"] == 1
    assert figures(first, "approve")["approval"] == "Approved"
    assert figures(first, "deploy")["endpoint"] == f"{runs['pipeline'].project}-local"
    assert figures(first, "gateway")["api_url"].endswith("/predict")
    smoke = figures(first, "smoke")
    assert smoke["predictions"] == 3 and smoke["api_matches_endpoint"] is True
    assert smoke["first_prediction"]["label"] in ("yes", "no") and 0 <= smoke["first_prediction"]["probability"] <= 1
    # progress on stderr: a line per stage start and end
    assert runs["first_stderr"].count("▶ ") == 11 and "■ smoke: ran" in runs["first_stderr"]


def test_a_second_run_skips_what_is_up_to_date_and_is_faster(runs: dict[str, Any]) -> None:
    second = runs["second_summary"]
    done = statuses(second)
    assert all(done[stage] == "skipped" for stage in UP_TO_DATE), done
    assert done["smoke"] == "ran" and figures(second, "smoke")["api_matches_endpoint"] is True
    assert figures(second, "register")["model_version"] == 1  # no new version
    assert figures(second, "train")["training_job"] == figures(runs["first_summary"], "train")["training_job"]
    assert runs["second"] < runs["first"]


def test_two_runs_at_once_one_holds_the_lock(cache: Path) -> None:
    pipeline = Pipeline(cache)
    first, second = pipeline.start("--to", "preprocess"), pipeline.start("--to", "preprocess")
    outputs = [(process.wait(timeout=300), *process.communicate()) for process in (first, second)]
    codes = sorted(code for code, _, _ in outputs)
    assert codes == [0, 3], outputs
    _, stdout, stderr = next(output for output in outputs if output[0] == 3)
    lock = f"pipeline-{pipeline.project}-local-"
    assert lock in stderr and ".lock" in stderr and "pid " in stderr, stderr
    assert json.loads(stdout)["error"]["exit_code"] == 3


def test_from_and_to_run_just_those_stages(runs: dict[str, Any]) -> None:
    pipeline = runs["pipeline"]
    result = pipeline("--from", "train", "--to", "evaluate", "--set", "train.hyperparameters.C=0.5")
    assert result.returncode == 0, result.stderr
    document = summary(result)
    assert statuses(document) == {"train": "ran", "evaluate": "ran"}  # other hyperparameters: a new model
    assert figures(document, "evaluate")["training_job"] == figures(document, "train")["training_job"]


def test_a_failing_stage_stops_the_run_with_its_exit_code(runs: dict[str, Any], cache: Path) -> None:
    pipeline = runs["pipeline"]
    # a stricter reject limit than the sample data's 0.8 %: the processing job fails
    failed = pipeline("--to", "deploy", "--set", "preprocess.max_reject_rate=0.001")
    assert failed.returncode == 1, failed.stderr
    document = summary(failed)
    assert statuses(document) == {"storage": "skipped", "upload": "skipped", "preprocess": "failed"}
    assert document["error"]["stage"] == "preprocess" and document["error"]["exit_code"] == 1
    assert "reject rate" in document["error"]["message"] and "reject rate" in failed.stderr

    refused = Pipeline(cache)("--from", "deploy")  # a new project: no model version at all
    assert refused.returncode == 3, refused.stderr
    assert statuses(summary(refused)) == {"deploy": "failed"} and "approved" in refused.stderr
