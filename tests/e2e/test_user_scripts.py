"""A team's own training script and inference handler, end to end on the emulator through `mlops pipeline run`:
the script trains another estimator (ExtraTreesClassifier) with a package pinned in its own requirements.txt, our
evaluate.py scores the model it wrote in the model contract, the registry serves the team's handler from S3, and
the endpoint and the API answer with it. The pin is a wheel the test builds (mlops_pin_probe 1.0.0, in no image)
installed offline (`--no-index --find-links ./wheels`): the script and the handler both report its version, so the
answer proves it was installed at training and at serving. Under network isolation the same holds with the
team's preprocessing too (run through runproc.sh), and the handler is packed into a copy of model.tar.gz, as an
isolated container cannot download it."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_storage_cli import MLOPS, ROOT
from tests.unit.test_emulator_python_envs import PROBE, build_wheel

pytestmark = pytest.mark.e2e

CONTAINER_SCRIPTS = ROOT / "mlops_cli" / "container_scripts"
REQUIREMENTS = f"--no-index\n--find-links ./wheels\n{PROBE}==1.0.0\n"

TRAIN = """\
\"\"\"Our churn model: extremely randomized trees, with the features one-hot encoded and imputed.\"\"\"
import argparse
import json
import os
import shutil
from pathlib import Path

import joblib
import mlops_pin_probe  # not in the image: requirements.txt installs it from ./wheels
import mlops_schema as ms
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n_estimators", type=int, default=150)
    args, _ = parser.parse_known_args()  # the config's other hyperparameters are the shipped train.py's
    schema = ms.load_schema(HERE / "schema.json")
    train = ms.load_clean_folder(os.environ["SM_CHANNEL_TRAIN"], schema)
    validation = ms.load_clean_folder(os.environ["SM_CHANNEL_VALIDATION"], schema)
    categories = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    features = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median"), schema.numeric_features),
            ("categories", categories, schema.categorical_features),
        ]
    )
    trees = ExtraTreesClassifier(n_estimators=args.n_estimators, min_samples_leaf=5, random_state=0)
    model = Pipeline([("features", features), ("trees", trees)])
    model.fit(ms.model_inputs(train, schema), ms.labels(train, schema))
    for split, frame in (("train", train), ("validation", validation)):
        scores = model.predict_proba(ms.model_inputs(frame, schema))[:, 1]
        print(f"{split}:auc={roc_auc_score(ms.labels(frame, schema), scores):.6f};")
    model_dir = Path(os.environ["SM_MODEL_DIR"])
    joblib.dump(model, model_dir / "model.joblib")
    shutil.copyfile(HERE / "schema.json", model_dir / "schema.json")
    metadata = {
        "task": schema.task,
        "classes": list(schema.classes),
        "positive_label": schema.positive_label,
        "target": schema.target,
        "estimator": type(trees).__name__,
        "pin_probe": mlops_pin_probe.VERSION,
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata))


if __name__ == "__main__":
    main()
"""

HANDLER = """\
\"\"\"Our endpoint's handler: the probability of churn, with the estimator and the pinned package it ran with.\"\"\"
import json
from pathlib import Path

import joblib
import mlops_pin_probe  # not in the image: the serving container installs requirements.txt at start
import mlops_schema as ms
import pandas as pd


def model_fn(model_dir):
    folder = Path(model_dir)
    return {
        "model": joblib.load(folder / "model.joblib"),
        "schema": ms.load_schema(folder / "schema.json"),
        "metadata": json.loads((folder / "metadata.json").read_text()),
    }


def input_fn(body, content_type):
    text = body.decode() if isinstance(body, bytes) else body
    return pd.DataFrame(json.loads(text)["instances"])


def predict_fn(frame, model):
    schema = model["schema"]
    clean, rejects = ms.validate(frame, schema, require_target=False, require_key=False)
    if len(rejects):
        raise ValueError(rejects["reject_reason"].iloc[0])
    scores = model["model"].predict_proba(ms.model_inputs(clean, schema))[:, 1]
    answers = []
    for index, score in zip(clean.index, scores):
        answer = {
            "label": schema.positive_label if score >= 0.5 else schema.classes[0],
            "probability": round(float(score), 6),
            "estimator": model["metadata"]["estimator"],
            "pin_at_training": model["metadata"]["pin_probe"],
            "pin_at_serving": mlops_pin_probe.VERSION,
        }
        if schema.key in frame:
            answer[schema.key] = str(frame.loc[index, schema.key])
        answers.append(answer)
    return answers


def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction}), "application/json"
"""


PREPROCESS = """\
\"\"\"Our preprocessing: the shipped script, run once the package we pin is there.\"\"\"
import mlops_pin_probe  # not in the image: runproc.sh installs requirements.txt first
import preprocess
from mlops_jobs import say

if __name__ == "__main__":
    say(f"mlops_pin_probe {mlops_pin_probe.VERSION}")
    raise SystemExit(preprocess.main())
"""


def source_dir(folder: Path, entry_point: str, code: str, wheel: Path, copied: tuple[str, ...] = ()) -> None:
    """A team's folder as `mlops init --scripts` starts it: their script, the shared modules, requirements and the
    wheel it pins."""
    folder.mkdir(parents=True)
    (folder / entry_point).write_text(code)
    for name in ("mlops_schema.py", *copied):
        shutil.copyfile(CONTAINER_SCRIPTS / name, folder / name)
    (folder / "requirements.txt").write_text(REQUIREMENTS)
    (folder / "wheels").mkdir()
    shutil.copyfile(wheel, folder / "wheels" / wheel.name)


class Project:
    """A config of its own that extends configs/local.yaml and names the team's scripts by relative paths."""

    def __init__(self, folder: Path, *, isolated: bool = False) -> None:
        self.folder = folder
        self.name = f"u{uuid.uuid4().hex[:10]}"
        wheel = build_wheel(folder / "built")
        source_dir(folder / "scripts" / "train", "train_extra.py", TRAIN, wheel)
        source_dir(folder / "scripts" / "serve", "handler.py", HANDLER, wheel)
        extra = ""
        if isolated:
            shared = ("preprocess.py", "mlops_jobs.py")
            source_dir(folder / "scripts" / "prep", "prep_pinned.py", PREPROCESS, wheel, shared)
            extra = (
                "network: {isolation: true}\n"
                "preprocess:\n"
                "  script: {entry_point: prep_pinned.py, source_dir: ../scripts/prep}\n"
            )
        self.config = folder / "configs" / "mine.yaml"
        self.config.parent.mkdir()
        self.config.write_text(
            f"extends: {ROOT / 'configs' / 'local.yaml'}\n"
            f"project: {self.name}\n"
            "register: {approval: auto, min_metric: 0.5}\n"
            "train:\n"
            "  script: {entry_point: train_extra.py, source_dir: ../scripts/train}\n"
            "deploy:\n"
            "  inference: {entry_point: handler.py, source_dir: ../scripts/serve}\n" + extra
        )
        self.env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}

    def mlops(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        # from the checkout: the pipeline uploads data/churn from the working folder
        command = [*MLOPS, *args, "-c", str(self.config), "--json"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=self.env, timeout=timeout)

    def json(self, *args: str, timeout: float = 300) -> dict[str, Any]:
        result = self.mlops(*args, timeout=timeout)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def project(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Project:
    return Project(tmp_path_factory.mktemp("team"))


@pytest.fixture(scope="module")
def run(project: Project) -> dict[str, Any]:
    return project.json("pipeline", "run", timeout=900)


def figures(document: dict[str, Any], stage: str) -> dict[str, Any]:
    return dict(next(s for s in document["stages"] if s["stage"] == stage)["figures"])


def test_config_validate_checks_the_teams_scripts(project: Project) -> None:
    validated = project.json("config", "validate")
    assert validated["scripts"]["train.script"]["source_dir"] == str(project.folder / "scripts" / "train")
    assert validated["scripts"]["deploy.inference"]["requirements"] == str(
        project.folder / "scripts" / "serve" / "requirements.txt"
    )


def test_the_teams_model_is_trained_registered_deployed_and_answers_through_the_api(
    run: dict[str, Any], project: Project, emulator_client: Callable[..., Any]
) -> None:
    assert run["error"] is None
    stages = {stage["stage"]: stage["status"] for stage in run["stages"]}
    assert all(stages[s] == "ran" for s in ("train", "evaluate", "register", "deploy", "gateway", "smoke")), stages
    # our evaluate.py scored the team's model on the test split
    assert 0.5 < figures(run, "evaluate")["test_auc"] <= 1
    # the endpoint and the API answered with the team's handler, which saw the pin installed at both ends
    smoke = figures(run, "smoke")
    assert smoke["api_matches_endpoint"] is True and smoke["predictions"] == 3
    first = smoke["first_prediction"]
    assert first["estimator"] == "ExtraTreesClassifier"
    assert (first["pin_at_training"], first["pin_at_serving"]) == ("1.0.0", "1.0.0")
    assert first["label"] in ("no", "yes") and 0 <= first["probability"] <= 1

    sagemaker, s3 = emulator_client("sagemaker"), emulator_client("s3")
    job = figures(run, "train")["training_job"]
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["HyperParameters"]["sagemaker_program"] == '"train_extra.py"'
    bucket, _, key = described["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as model:
        names = set(model.getnames())
        metadata = json.loads(model.extractfile("metadata.json").read())  # type: ignore[union-attr]
    assert {"model.joblib", "schema.json", "metadata.json"} <= names
    assert metadata["estimator"] == "ExtraTreesClassifier" and metadata["pin_probe"] == "1.0.0"

    shown = project.json("register", "show", "latest")["version"]
    environment = shown["environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "handler.py"
    sha = shown["metadata"]["inference-code-sha256"]
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == f"s3://{bucket}/code/{sha}/sourcedir.tar.gz"


def test_another_handler_is_another_version_and_compare_says_so(run: dict[str, Any], project: Project) -> None:
    handler = project.folder / "scripts" / "serve" / "handler.py"
    handler.write_text(handler.read_text() + "\n\n# the second edition of our handler\n")
    registered = project.json("register", "model")
    assert registered["action"] == "created" and registered["version"]["number"] == 2
    code = {row["name"]: row for row in project.json("register", "compare", "1", "2")["code"]}
    assert code["training code"]["same"] is True
    assert code["inference code"]["same"] is False
    again = project.json("register", "model")
    assert again["action"] == "unchanged" and again["version"]["number"] == 2


@pytest.fixture(scope="module")
def isolated(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, Any]]:
    project = Project(tmp_path_factory.mktemp("isolated-team"), isolated=True)
    return project, project.json("pipeline", "run", timeout=900)


def test_isolated_jobs_install_offline_and_serve_a_repacked_model(
    isolated: tuple[Project, dict[str, Any]], emulator_client: Callable[..., Any]
) -> None:
    project, run = isolated
    assert run["error"] is None
    sagemaker, s3 = emulator_client("sagemaker"), emulator_client("s3")
    # the team's preprocessing ran through runproc.sh, which installed the pin before the script imported it
    processing = sagemaker.describe_processing_job(ProcessingJobName=figures(run, "preprocess")["processing_job"])
    assert processing["AppSpecification"]["ContainerEntrypoint"] == [
        "/bin/bash",
        "/opt/ml/processing/input/code/runproc.sh",
    ]
    assert processing["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert figures(run, "preprocess")["rows_out"] > 0
    smoke = figures(run, "smoke")
    assert smoke["api_matches_endpoint"] is True
    first = smoke["first_prediction"]
    assert (first["estimator"], first["pin_at_training"], first["pin_at_serving"]) == (
        "ExtraTreesClassifier",
        "1.0.0",
        "1.0.0",
    )
    # an isolated container cannot download its handler: the version serves a model.tar.gz that holds it
    version = project.json("register", "show", "latest")["version"]
    assert version["environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    sha = version["metadata"]["inference-code-sha256"]
    assert version["model_data_url"].endswith(f"/output/repacked/{sha}/model.tar.gz")
    bucket, _, key = version["model_data_url"].removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as model:
        names = set(model.getnames())
    assert {"model.joblib", "metadata.json", "code/handler.py", "code/requirements.txt", "code/schema.json"} <= names
    assert f"code/wheels/{PROBE}-1.0.0-py3-none-any.whl" in names
