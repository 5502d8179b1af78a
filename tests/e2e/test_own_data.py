"""Your own data, end to end on the emulator: `mlops init` on a CSV the test generates (a multiclass and a regression
dataset, not churn), then `mlops pipeline run -c configs/local.yaml` from the new folder, as the README tells a new
user. Predictions through the endpoint, the REST API and the load balancer must equal the model's own (model.joblib
from the emulator's S3, on the same records), and the metrics the tool reports must equal those recomputed here from
the test split."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import random
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_storage_cli import MLOPS

pytestmark = pytest.mark.e2e

RECORDS = 25  # rows of the test split sent through every door


def multiclass_rows(count: int = 360) -> tuple[list[str], list[list[Any]]]:
    """Species from size and colour (learnable, with 8% label noise); a key, numbers with gaps, a category, a yes/no
    flag and an int that carries no signal."""
    rng = random.Random(12)
    header = ["sample_id", "length", "width", "colour", "coated", "batch", "species"]
    rows = []
    for i in range(count):
        length, width = rng.uniform(1, 10), rng.uniform(0.5, 4)
        colour = rng.choice(["red", "green", "blue"])
        score = length + 2 * width + {"red": 0, "green": 2, "blue": 4}[colour]
        species = "alpha" if score < 9 else "beta" if score < 13 else "gamma"
        if rng.random() < 0.08:
            species = rng.choice(["alpha", "beta", "gamma"])
        shown_length = "" if rng.random() < 0.05 else f"{length:.2f}"
        rows.append(
            [f"S{i:04d}", shown_length, f"{width:.3f}", colour, rng.choice(["yes", "no"]), rng.randint(1, 9), species]
        )
    return header, rows


def regression_rows(count: int = 300) -> tuple[list[str], list[list[Any]]]:
    """Prices from area, rooms, district and a garden, with noise; an int id, gaps in area, a true/false flag."""
    rng = random.Random(34)
    header = ["id", "rooms", "area", "district", "garden", "built", "price"]
    rows = []
    for i in range(count):
        rooms, area = rng.randint(1, 6), rng.uniform(30, 200)
        district = rng.choice(["north", "south", "east", "west"])
        garden = rng.random() < 0.4
        price = 1500 * area + 8000 * rooms + {"north": 0, "south": 20000, "east": -10000, "west": 5000}[district]
        price += 15000 * garden + rng.gauss(0, 12000)
        shown_area = "" if rng.random() < 0.05 else f"{area:.1f}"
        built = rng.randint(1950, 2024)
        rows.append([1000 + i, rooms, shown_area, district, "true" if garden else "false", built, f"{price:.2f}"])
    return header, rows


DATASETS = {
    "multiclass": ("species", multiclass_rows, ("--tune",)),  # the local grid of 2 algorithms
    "regression": ("price", regression_rows, ()),  # one training job, as `mlops pipeline run` does by default
}


@dataclass
class Built:
    task: str
    root: Path
    env: dict[str, str]
    init: dict[str, Any]
    summary: dict[str, Any]

    def mlops(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*MLOPS, *args, "-c", "configs/local.yaml"]
        return subprocess.run(command, cwd=self.root, capture_output=True, text=True, env=self.env, timeout=300)

    def json(self, *args: str) -> Any:
        result = self.mlops(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def figures(self, stage: str) -> dict[str, Any]:
        return dict(next(s for s in self.summary["stages"] if s["stage"] == stage)["figures"])


@pytest.fixture(scope="module", params=sorted(DATASETS))
def built(request: pytest.FixtureRequest, emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`mlops init` on a generated CSV, then one `mlops pipeline run` from the new folder."""
    task = request.param
    target, generate, run_options = DATASETS[task]
    work = tmp_path_factory.mktemp(task)
    header, rows = generate()
    data = work / f"{task}-sample.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}  # the pipeline's lock files
    root = work / f"{task[:5]}{uuid.uuid4().hex[:8]}"  # the folder's name is the project's: unique per run
    command = [*MLOPS, "init", str(root), "--data", str(data), "--target", target, "--json"]
    initialised = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env, timeout=60)
    assert initialised.returncode == 0, initialised.stderr
    pipeline = [*MLOPS, "pipeline", "run", "-c", "configs/local.yaml", "--json", *run_options]
    ran = subprocess.run(pipeline, cwd=root, capture_output=True, text=True, env=env, timeout=900)
    assert ran.returncode == 0, ran.stderr
    return Built(task, root, env, json.loads(initialised.stdout), json.loads(ran.stdout))


class Model:
    """The deployed model as its training job wrote it, loaded here: model.joblib and the schema module it ships."""

    def __init__(self, s3: Any, sagemaker: Any, training_job: str, folder: Path) -> None:
        import joblib

        described = sagemaker.describe_training_job(TrainingJobName=training_job)
        self.model_uri = described["ModelArtifacts"]["S3ModelArtifacts"]
        channel = next(c for c in described["InputDataConfig"] if c["ChannelName"] == "train")
        self.test_uri = channel["DataSource"]["S3DataSource"]["S3Uri"].rsplit("/", 1)[0] + "/test"
        self.s3 = s3
        with tarfile.open(fileobj=io.BytesIO(self.read(self.model_uri)), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")
        spec = importlib.util.spec_from_file_location(
            f"_own_data_schema_{folder.name}", folder / "code/mlops_schema.py"
        )
        assert spec is not None and spec.loader is not None
        self.ms = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = self.ms  # its dataclasses need the module registered
        spec.loader.exec_module(self.ms)
        self.schema = self.ms.load_schema(folder / "schema.json")
        self.pipeline = joblib.load(folder / "model.joblib")
        self.metadata = json.loads((folder / "metadata.json").read_text())

    def read(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def test_split(self) -> Any:
        """The test split as preprocessing wrote it, every value as its text."""
        import pandas as pd

        bucket, _, prefix = self.test_uri.removeprefix("s3://").partition("/")
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
        keys = sorted(o["Key"] for o in listed if o["Key"].endswith(".csv"))
        assert keys, f"no CSV under {self.test_uri}"
        frames = [
            pd.read_csv(io.BytesIO(self.read(f"s3://{bucket}/{key}")), dtype=str, keep_default_na=False) for key in keys
        ]
        return pd.concat(frames, ignore_index=True)

    def predict(self, frame: Any) -> list[dict[str, Any]]:
        """What the handler should answer for these raw records, computed from the model itself."""
        clean, rejects = self.ms.validate(frame, self.schema, require_target=False, require_key=False)
        assert rejects.empty, rejects
        features = self.ms.model_inputs(clean, self.schema)
        if self.schema.task == "regression":
            return [{"value": round(float(v), 6)} for v in self.pipeline.predict(features)]
        learned = [str(c) for c in self.pipeline.classes_]
        answers = []
        for row in self.pipeline.predict_proba(features):
            probabilities = dict(zip(learned, (round(float(p), 6) for p in row), strict=True))
            shown = {name: probabilities.get(name, 0.0) for name in self.schema.classes}
            answers.append({"label": learned[int(row.argmax())], "probabilities": shown})
        return answers


@pytest.fixture(scope="module")
def model(built: Built, emulator_module_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Model:
    training_job = built.figures("evaluate")["training_job"]
    return Model(
        emulator_module_client("s3"),
        emulator_module_client("sagemaker"),
        training_job,
        tmp_path_factory.mktemp("model"),
    )


@pytest.fixture(scope="module")
def emulator_module_client(emulator: Any) -> Any:
    from tests.e2e.conftest import _emulator_client

    return lambda service: _emulator_client(emulator, service)


def post(url: str, body: bytes, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{url} answered {error.code}: {error.read()[:500]!r}") from None


def test_init_found_the_task_and_every_stage_ran(built: Built) -> None:
    init = built.init
    assert init["task"] == built.task
    expected_key = {"multiclass": "sample_id", "regression": "id"}[built.task]
    assert init["key"] == expected_key and init["key_inferred"]
    types = {column["name"]: column["type"] for column in init["columns"]}
    if built.task == "multiclass":
        assert init["classes"] == ["alpha", "beta", "gamma"]
        assert types == {
            "sample_id": "string",
            "length": "float",
            "width": "float",
            "colour": "category",
            "coated": "bool",
            "batch": "int",
            "species": "category",
        }
    else:
        assert init["classes"] == []
        assert types == {
            "id": "string",
            "rooms": "int",
            "area": "float",
            "district": "category",
            "garden": "bool",
            "built": "int",
            "price": "float",
        }
    summary = built.summary
    assert summary["error"] is None
    statuses = {stage["stage"]: stage["status"] for stage in summary["stages"]}
    assert all(status == "ran" for status in statuses.values()), statuses
    assert built.figures("approve")["approval"] == "Approved"
    if built.task == "multiclass":  # tuned: the local grid over two algorithms
        assert built.figures("train")["trials"] == 2
    smoke = built.figures("smoke")
    assert smoke["api_matches_endpoint"] is True and smoke["lb_matches_endpoint"] is True


def test_the_endpoint_the_api_and_the_load_balancer_answer_what_the_model_predicts(built: Built, model: Model) -> None:
    frame = model.test_split().head(RECORDS)
    key = model.schema.key
    features = [column.name for column in model.schema.features]
    records = frame[[key, *features]].to_dict(orient="records")  # the key is echoed back
    body = json.dumps({"instances": records}).encode()
    expected = [
        {key: record[key], **answer} for record, answer in zip(records, model.predict(frame[features]), strict=True)
    ]
    assert len(expected) == RECORDS

    direct = built.json("deploy", "invoke", "--data", body.decode())["predictions"]
    assert direct == expected

    url = built.json("gateway", "url")["url"]
    shown = built.mlops("gateway", "keys", "show", "--reveal")
    assert shown.returncode == 0, shown.stderr
    through_api = post(f"{url}/predict", body, {"x-api-key": shown.stdout.strip()})["predictions"]
    assert through_api == expected

    lb_url = built.figures("lb")["lb_url"]
    through_lb = post(f"{lb_url.rstrip('/')}/invocations", body, {})["predictions"]
    assert through_lb == expected
    if built.task == "multiclass":  # every class with its probability, the label the most probable
        assert all(list(p["probabilities"]) == ["alpha", "beta", "gamma"] for p in expected)
        assert {p["label"] for p in expected} <= {"alpha", "beta", "gamma"}


def test_the_reported_metrics_are_those_of_the_model_on_the_test_split(built: Built, model: Model) -> None:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    split = model.test_split()
    clean, rejects = model.ms.validate(split, model.schema)
    assert rejects.empty
    features = model.ms.model_inputs(clean, model.schema)
    truth = clean[model.schema.target]
    if built.task == "regression":
        y = truth.to_numpy(dtype=float)
        errors = model.pipeline.predict(features) - y
        expected = {
            "rmse": math.sqrt(float(np.mean(errors**2))),
            "mae": float(np.mean(np.abs(errors))),
            "r2": 1 - float(np.sum(errors**2)) / float(np.sum((y - y.mean()) ** 2)),
        }
    else:
        y = truth.astype(str).to_numpy()
        proba = model.pipeline.predict_proba(features)
        predicted = np.asarray(model.pipeline.classes_, dtype=str)[proba.argmax(axis=1)]
        expected = {
            "accuracy": accuracy_score(y, predicted),
            "macro_f1": f1_score(y, predicted, average="macro"),
            "logloss": log_loss(y, proba, labels=list(model.pipeline.classes_)),
        }
    evaluation = json.loads(model.read(model.model_uri.rsplit("/output/", 1)[0] + "/evaluation/evaluation.json"))
    assert evaluation["task"] == built.task and evaluation["rows"] == len(split)
    assert evaluation["metrics"] == pytest.approx(expected, abs=1e-6)
    objective = {"multiclass": "macro_f1", "regression": "rmse"}[built.task]
    evaluated = built.figures("evaluate")
    assert evaluated["test_rows"] == len(split)
    assert evaluated[f"test_{objective}"] == pytest.approx(expected[objective], abs=1e-6)
    # the model is better than a guess: what registered it
    if built.task == "regression":
        assert expected["rmse"] < float(np.std(y))
    else:
        assert expected["macro_f1"] > 1 / 3
