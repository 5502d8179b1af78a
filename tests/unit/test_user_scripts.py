"""The team's own scripts (preprocess.script, train.script, deploy.inference): refused at config load when their
files, syntax or handler functions are wrong (exit 2, no AWS call); bundled with their folder, requirements and
schema.json; delivered as SageMaker expects (sagemaker_program, runproc.sh, the model's SAGEMAKER_SUBMIT_DIRECTORY
or a repacked model.tar.gz under network isolation); recorded and compared by digest in the registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.aws.images import PYTHON_VERSIONS, SKLEARN_VERSIONS
from mlops_cli.aws.session import AwsClients
from mlops_cli.config import scripts as script_rules
from mlops_cli.config.models import Config
from mlops_cli.errors import ConfigError
from mlops_cli.services import pipeline_definition as pd
from mlops_cli.services import preprocess, register, schedule, train
from mlops_cli.services.code import bundle_files, bundle_sha256, processing_files, sourcedir_tarball, user_bundle_files
from tests.unit.conftest import CONFIGS, run
from tests.unit.test_register_runs import ACCOUNT, REGION, backend, preprocessed, registry_config, trained

BUCKET = f"churn-local-{ACCOUNT}-{REGION}-data"
TRAIN = "import argparse\nfrom helpers.util import fit\n\nif __name__ == '__main__':\n    fit()\n"
HANDLER = """\
import joblib


def model_fn(model_dir):
    return joblib.load(model_dir + "/model.joblib")


def predict_fn(data, model):
    return model.predict(data)
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def code(tmp_path: Path) -> dict[str, Path]:
    """A training folder (a subpackage, a requirements.txt, and what a bundle leaves out), a preprocessing folder
    with its requirements elsewhere, and a handler folder."""
    train_dir = tmp_path / "train_src"
    write(train_dir / "my_train.py", TRAIN)
    write(train_dir / "helpers" / "__init__.py", "")
    write(train_dir / "helpers" / "util.py", "def fit():\n    return 1\n")
    write(train_dir / "requirements.txt", "scikit-learn==1.4.2\n")
    write(train_dir / "notes.txt", "how we train\n")
    write(train_dir / ".env", "SECRET=1\n")
    write(train_dir / ".git" / "config", "[core]\n")
    write(train_dir / "__pycache__" / "my_train.cpython-311.pyc", "compiled")
    write(train_dir / "helpers" / "util.pyc", "compiled")
    prep_dir = tmp_path / "prep_src"
    write(prep_dir / "prep.py", "import sys\nprint(sys.argv)\n")
    requirements = write(tmp_path / "prep-requirements.txt", "pyarrow==17.0.0\n")
    serve_dir = tmp_path / "serve_src"
    write(serve_dir / "handler.py", HANDLER)
    return {"train": train_dir, "prep": prep_dir, "prep_requirements": requirements, "serve": serve_dir}


def script(field: str, entry_point: str, source_dir: Path, requirements: Path | None = None) -> str:
    extra = f", requirements: {requirements}" if requirements else ""
    return f"{field}={{entry_point: {entry_point}, source_dir: {source_dir}{extra}}}"


def scripts_config(code: dict[str, Path], *overrides: str) -> Config:
    return registry_config(
        script("preprocess.script", "prep.py", code["prep"], code["prep_requirements"]),
        script("train.script", "my_train.py", code["train"]),
        script("deploy.inference", "handler.py", code["serve"]),
        *overrides,
    )


def refusal(*overrides: str) -> str:
    with pytest.raises(ConfigError) as raised:
        registry_config(*overrides)
    return "\n".join(raised.value.problems)


# --- validation ---------------------------------------------------------------------------------------------------


def test_every_image_has_its_python_version() -> None:
    assert sorted(PYTHON_VERSIONS) == sorted(SKLEARN_VERSIONS)


def test_a_bundle_is_the_folder_with_relative_paths_requirements_and_schema(code: dict[str, Path]) -> None:
    config = scripts_config(code)
    assert config.train.script is not None and config.preprocess.script is not None
    files = user_bundle_files(config, config.train.script)
    # hidden files and folders, __pycache__ and compiled files stay home
    assert sorted(files) == [
        "helpers/__init__.py",
        "helpers/util.py",
        "my_train.py",
        "notes.txt",
        "requirements.txt",
        "schema.json",
    ]
    assert files["my_train.py"] == TRAIN.encode()
    assert json.loads(files["schema.json"])["target"] == "churned"
    # requirements named elsewhere travel as requirements.txt at the bundle's root
    prep = user_bundle_files(config, config.preprocess.script)
    assert sorted(prep) == ["prep.py", "requirements.txt", "schema.json"]
    assert prep["requirements.txt"] == b"pyarrow==17.0.0\n"


def test_bundle_digests_are_stable_and_the_default_bundles_unchanged(code: dict[str, Path]) -> None:
    default = registry_config()
    # the shipped scripts' bundles are built exactly as before user scripts existed: churn's code digests hold
    assert train.training_sourcedir(default) == {
        "sourcedir.tar.gz": sourcedir_tarball(bundle_files(default, ("train.py", "inference.py")))
    }
    assert processing_files(preprocess.preprocess_scripts(default)) == bundle_files(default, ("preprocess.py",))
    assert register.serving_scripts(default) is None  # the handler train.py packs into model.tar.gz
    config = scripts_config(code)
    first = bundle_sha256(train.training_sourcedir(config))
    (code["train"] / "notes.txt").touch()  # a new modification time is no new code
    assert bundle_sha256(train.training_sourcedir(scripts_config(code))) == first
    write(code["train"] / "notes.txt", "how we train now\n")
    assert bundle_sha256(train.training_sourcedir(scripts_config(code))) != first


@pytest.mark.parametrize(
    ("entry_point", "expected"),
    [
        ("missing.py", "entry_point missing.py is not a file in source_dir"),
        ("../prep_src/prep.py", "must be a file name inside source_dir (no '..', not absolute)"),
        ("/etc/passwd.py", "must be a file name inside source_dir (no '..', not absolute)"),
        ("notes.txt", "must be a Python file (.py)"),
        ("__pycache__/x.py", "hidden or in __pycache__"),
    ],
)
def test_an_entry_point_must_be_a_python_file_inside_its_folder(
    code: dict[str, Path], entry_point: str, expected: str
) -> None:
    message = refusal(script("train.script", entry_point, code["train"]))
    assert "train.script" in message and expected in message


def test_missing_folders_and_files_are_refused(code: dict[str, Path], tmp_path: Path) -> None:
    assert f"source_dir {tmp_path / 'nowhere'} does not exist" in refusal(
        script("preprocess.script", "prep.py", tmp_path / "nowhere")
    )
    assert "is not a folder" in refusal(script("preprocess.script", "prep.py", code["prep_requirements"]))
    missing = tmp_path / "missing.txt"
    assert f"requirements {missing} is not a file" in refusal(
        script("preprocess.script", "prep.py", code["prep"], missing)
    )
    assert "unknown setting 'entrypoint'" in refusal(f"train.script={{entrypoint: x.py, source_dir: {code['train']}}}")


def test_an_empty_source_dir_or_a_dangling_link_is_refused(code: dict[str, Path]) -> None:
    assert "source_dir must name the folder" in refusal("preprocess.script={entry_point: prep.py, source_dir: ' '}")
    (code["prep"] / "data.csv").symlink_to(code["prep"] / "gone.csv")
    message = refusal(script("preprocess.script", "prep.py", code["prep"]))
    assert f"source_dir {code['prep']}: data.csv cannot be read (No such file or directory)" in message


def test_a_folder_with_its_own_schema_json_is_refused(code: dict[str, Path]) -> None:
    write(code["serve"] / "schema.json", "{}")
    message = refusal(script("deploy.inference", "handler.py", code["serve"]))
    assert "has its own schema.json: mlops writes schema.json into the bundle" in message


def test_a_bundle_over_the_size_cap_is_refused_with_its_size(
    code: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(script_rules, "MAX_BUNDLE_BYTES", 1024 * 1024)
    write(code["train"] / "data.csv", "x" * (1024 * 1024 + 200_000))
    message = refusal(script("train.script", "my_train.py", code["train"]))
    assert "holds 1.2 MB of files; a code bundle takes at most 1 MB" in message
    (code["train"] / "data.csv").rename(code["train"] / ".data.csv")  # hidden: left out, so not counted
    registry_config(script("train.script", "my_train.py", code["train"]))


MATCH = "def pick(x):\n    match x:\n        case 1:\n            return 'one'\n"
EXCEPT_STAR = "try:\n    pass\nexcept* ValueError:\n    pass\n"
TYPE_ALIAS = "type Pair = tuple[int, int]\n"  # Python 3.12


@pytest.mark.parametrize(
    ("source", "refused_by", "accepted_by", "line", "rule"),
    [
        (MATCH, "1.2-1", "1.4-2", 4, "Python 3.9 (scikit-learn image 1.2-1)"),
        (EXCEPT_STAR, "1.4-2", "1.4-2-py312", 4, "Python 3.10 (scikit-learn image 1.4-2)"),
        (TYPE_ALIAS, "1.4-2", "1.4-2-py312", 1, "Python 3.10 (scikit-learn image 1.4-2)"),
    ],
)
def test_code_must_parse_for_the_python_of_the_image_it_runs_on(
    code: dict[str, Path], source: str, refused_by: str, accepted_by: str, line: int, rule: str
) -> None:
    write(code["train"] / "helpers" / "new.py", source)
    spec = script("train.script", "my_train.py", code["train"])
    message = refusal(spec, f"train.framework_version={refused_by}")
    assert f"train.script: helpers/new.py:{line}:" in message and f"not valid syntax for {rule}" in message
    registry_config(spec, f"train.framework_version={accepted_by}")
    # preprocessing is checked against its own image
    write(code["prep"] / "prep.py", source)
    prep = script("preprocess.script", "prep.py", code["prep"])
    assert "preprocess.script: prep.py:" in refusal(prep, f"preprocess.framework_version={refused_by}")
    # the handler runs on the image the model was trained with
    write(code["serve"] / "extra.py", source)
    handler = script("deploy.inference", "handler.py", code["serve"])
    assert "deploy.inference: extra.py:" in refusal(handler, f"train.framework_version={refused_by}")
    registry_config(handler, f"train.framework_version={accepted_by}")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def predict_fn(data, model):\n    return data\n", "handler.py: defines no model_fn(model_dir)"),
        ("async def model_fn(model_dir):\n    return 1\n", "handler.py:1: model_fn is async"),
        (
            "def model_fn(d):\n    return 1\n\n\npredict_fn = 3\n",
            "handler.py:5: predict_fn is bound to 3, not a function",
        ),
        ("def model_fn(d):\n    return 1\n\n\nclass input_fn:\n    pass\n", "handler.py:5: input_fn is a class"),
    ],
)
def test_an_inference_module_must_define_the_handler_functions(
    code: dict[str, Path], source: str, expected: str
) -> None:
    write(code["serve"] / "handler.py", source)
    message = refusal(script("deploy.inference", "handler.py", code["serve"]))
    assert f"deploy.inference: {expected}" in message


def test_handlers_bound_by_import_or_at_run_time_are_accepted(code: dict[str, Path]) -> None:
    write(code["serve"] / "handler.py", "from lib import model_fn\nfrom lib import make\n\npredict_fn = make()\n")
    write(code["serve"] / "lib.py", "def model_fn(d):\n    return 1\n\n\ndef make():\n    return model_fn\n")
    registry_config(script("deploy.inference", "handler.py", code["serve"]))


def test_scheduled_training_cannot_serve_a_separate_handler_under_isolation(code: dict[str, Path]) -> None:
    message = refusal(
        script("train.script", "my_train.py", code["train"]),
        "network.isolation=true",
        "preprocess.schedule.expression=rate(1 day)",
        "preprocess.schedule.continuous_training=true",
    )
    assert "preprocess.schedule.continuous_training: cannot register a model with train.script under " in message
    assert "an isolated serving container cannot download its handler code" in message


def test_config_validate_exits_2_with_file_line_and_rule(
    code: dict[str, Path], tmp_path: Path, aws_calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    write(code["serve"] / "handler.py", "def predict_fn(data, model):\n    return data\n")
    path = write(
        tmp_path / "mine.yaml",
        f"extends: {CONFIGS / 'local.yaml'}\n"
        "deploy:\n"
        "  inference:\n"
        "    entry_point: handler.py\n"
        f"    source_dir: {code['serve']}\n",
    )
    assert run(["config", "validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "handler.py: defines no model_fn(model_dir)" in err
    write(code["serve"] / "handler.py", HANDLER)
    assert run(["config", "validate", "--json", "-c", str(path)]) == 0
    scripts = json.loads(capsys.readouterr().out)["scripts"]
    assert scripts == {
        "deploy.inference": {
            "entry_point": "handler.py",
            "source_dir": str(code["serve"]),
            "files": 1,
            "requirements": None,
        }
    }
    assert aws_calls == []


def test_a_teams_training_script_takes_its_own_hyperparameters_and_ranges(
    clients: AwsClients, code: dict[str, Path]
) -> None:
    own = (
        "train.hyperparameters={max_features: 0.5, criterion: gini}",
        "train.tuning.strategy=Random",
        "train.tuning.ranges={max_features: {type: continuous, min: 0.2, max: 0.9}}",
    )
    assert "unknown hyperparameter 'max_features'" in refusal(*own)  # train.py's rules, without a script
    config = registry_config(script("train.script", "my_train.py", code["train"]), *own)
    preprocessed(clients, config)
    job = trained(clients, config, criterion="entropy", max_leaf_nodes="12", warm_start="true")
    sent = clients.client("sagemaker").describe_training_job(TrainingJobName=job)["HyperParameters"]
    assert (sent["max_features"], sent["criterion"], sent["max_leaf_nodes"]) == ("0.5", '"entropy"', "12")
    assert sent["warm_start"] == "true"
    ranges = train._parameter_ranges(config)["ContinuousParameterRanges"]
    assert ranges == [{"Name": "max_features", "MinValue": "0.2", "MaxValue": "0.9", "ScalingType": "Auto"}]


# --- what is sent to SageMaker -------------------------------------------------------------------------------------


def s3_tarball(clients: AwsClients, uri: str) -> dict[str, bytes]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def s3_text(clients: AwsClients, uri: str) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return str(clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def test_training_runs_the_entry_point_from_the_teams_bundle(clients: AwsClients, code: dict[str, Path]) -> None:
    config = scripts_config(code)
    preprocessed(clients, config)
    job = trained(clients, config)
    hyperparameters = clients.client("sagemaker").describe_training_job(TrainingJobName=job)["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == '"my_train.py"'
    submit_directory = json.loads(hyperparameters["sagemaker_submit_directory"])
    assert submit_directory.endswith(f"/code/{bundle_sha256(train.training_sourcedir(config))}/sourcedir.tar.gz")
    files = s3_tarball(clients, submit_directory)
    assert sorted(files) == sorted(user_bundle_files(config, config.train.script))  # type: ignore[arg-type]
    assert files["requirements.txt"] == b"scikit-learn==1.4.2\n"


def test_processing_with_requirements_runs_through_runproc(clients: AwsClients, code: dict[str, Path]) -> None:
    config = scripts_config(code)
    job = preprocessed(clients, config)
    described = clients.client("sagemaker").describe_processing_job(ProcessingJobName=job)
    app = described["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["/bin/bash", "/opt/ml/processing/input/code/runproc.sh"]
    assert app["ContainerArguments"][:2] == ["--raw-dir", "/opt/ml/processing/input/raw"]
    code_uri = next(i["S3Input"]["S3Uri"] for i in described["ProcessingInputs"] if i["InputName"] == "code")
    assert s3_text(clients, code_uri + "runproc.sh") == (
        "#!/bin/bash\n"
        "set -e\n"
        "cd /opt/ml/processing/input/code\n"
        "python3 -m pip install -r requirements.txt\n"
        'exec python3 prep.py "$@"\n'
    )
    assert s3_text(clients, code_uri + "requirements.txt") == "pyarrow==17.0.0\n"
    # without requirements the script runs directly, as the shipped one does
    plain = registry_config(script("preprocess.script", "prep.py", code["prep"]))
    started = preprocess.start_preprocessing(clients, plain)
    again = clients.client("sagemaker").describe_processing_job(ProcessingJobName=started.job_name)
    assert again["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/prep.py"]


def test_evaluation_keeps_our_evaluate_script(clients: AwsClients, code: dict[str, Path]) -> None:
    config = scripts_config(code)
    preprocessed(clients, config)
    job = trained(clients, config)
    started = train.start_evaluation(clients, config, job)
    described = clients.client("sagemaker").describe_processing_job(ProcessingJobName=started.job_name)
    assert described["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/evaluate.py",
    ]


def test_the_version_serves_the_teams_handler_from_s3(clients: AwsClients, code: dict[str, Path]) -> None:
    config = scripts_config(code, "register.approval=manual")
    preprocessed(clients, config)
    job = trained(clients, config)
    first = register.register_model(clients, config, job).version
    handler = register.serving_scripts(config)
    assert handler is not None
    sha = bundle_sha256({"sourcedir.tar.gz": sourcedir_tarball(handler.files)})
    assert first.environment == {
        "SAGEMAKER_PROGRAM": "handler.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/code/{sha}/sourcedir.tar.gz",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": REGION,
    }
    assert first.model_data_url.endswith(f"/{job}/output/model.tar.gz")  # the training job's own model
    assert sorted(s3_tarball(clients, first.environment["SAGEMAKER_SUBMIT_DIRECTORY"])) == [
        "handler.py",
        "schema.json",
    ]
    assert first.metadata["inference-code-sha256"] == sha
    assert first.metadata["code-sha256"] == bundle_sha256(train.training_sourcedir(config))
    # the same job with the same handler: the same version; with another handler: a new one
    clients.call_log.calls.clear()
    assert register.register_model(clients, config, job).action == "unchanged"
    assert clients.call_log.writes() == {}
    write(
        code["serve"] / "handler.py", HANDLER + "\n\ndef output_fn(prediction, accept):\n    return str(prediction)\n"
    )
    second = register.register_model(clients, scripts_config(code, "register.approval=manual"), job).version
    assert second.number == first.number + 1
    assert second.metadata["inference-code-sha256"] != sha
    # register compare: same training code, other inference code
    rows = {row.name: row for row in register.compare_code(clients, config, (job, job), [first, second])}
    assert rows["training code"].same and not rows["inference code"].same


def test_a_model_from_the_teams_training_script_is_served_by_our_handler(
    clients: AwsClients, code: dict[str, Path]
) -> None:
    config = registry_config(script("train.script", "my_train.py", code["train"]))
    preprocessed(clients, config)
    version = register.register_model(clients, config, trained(clients, config)).version
    assert version.environment["SAGEMAKER_PROGRAM"] == "inference.py"
    files = s3_tarball(clients, version.environment["SAGEMAKER_SUBMIT_DIRECTORY"])
    assert "inference.py" in files and "schema.json" in files and "mlops_schema.py" in files
    assert all(name in ("inference.py", "schema.json") or name.startswith("mlops_") for name in files)


def model_tarball(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue())


def test_under_network_isolation_the_model_is_repacked_with_the_handler(
    clients: AwsClients, code: dict[str, Path]
) -> None:
    config = scripts_config(code, "network.isolation=true")
    preprocessed(clients, config)
    job = trained(clients, config)
    model_uri = backend().training_jobs[job].model_artifacts["S3ModelArtifacts"]
    bucket, _, key = model_uri.removeprefix("s3://").partition("/")
    packed = {"model.joblib": b"model", "metadata.json": b"{}", "code/inference.py": b"old handler"}
    clients.client("s3").put_object(Bucket=bucket, Key=key, Body=model_tarball(packed))
    version = register.register_model(clients, config, job).version
    handler = register.serving_scripts(config)
    assert handler is not None
    sha = bundle_sha256({"sourcedir.tar.gz": sourcedir_tarball(handler.files)})
    assert version.model_data_url == model_uri.rsplit("/", 1)[0] + f"/repacked/{sha}/model.tar.gz"
    assert version.environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert version.environment["SAGEMAKER_PROGRAM"] == "handler.py"
    repacked = s3_tarball(clients, version.model_data_url)
    assert repacked == {
        "model.joblib": b"model",
        "metadata.json": b"{}",
        "code/handler.py": HANDLER.encode(),
        "code/schema.json": handler.files["schema.json"],
    }
    clients.call_log.calls.clear()
    again = register.register_model(clients, config, job)
    assert (again.action, again.version.number) == ("unchanged", version.number)
    assert clients.call_log.writes() == {}


def test_scheduled_training_uses_the_teams_bundles(clients: AwsClients, code: dict[str, Path]) -> None:
    config = scripts_config(
        code,
        "preprocess.schedule.expression=rate(1 day)",
        "preprocess.schedule.continuous_training=true",
    )
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    definition = pd.build_definition(clients, config, schedule.pipeline_inputs(clients, config))
    steps = {step["Name"]: step for step in pd.all_steps(definition["Steps"])}
    app = steps[pd.PREPROCESS]["Arguments"]["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["/bin/bash", "/opt/ml/processing/input/code/runproc.sh"]
    hyperparameters = steps[pd.TRAIN]["Arguments"]["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == '"my_train.py"'
    sha = bundle_sha256(train.training_sourcedir(config))
    assert json.loads(hyperparameters["sagemaker_submit_directory"]).endswith(f"/code/{sha}/sourcedir.tar.gz")
    evaluate: Any = steps[pd.EVALUATE]["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
    assert evaluate == ["python3", "/opt/ml/processing/input/code/evaluate.py"]
    container = steps[pd.REGISTER]["Arguments"]["InferenceSpecification"]["Containers"][0]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "handler.py"
    submit_directory = container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    assert submit_directory.startswith(f"s3://{BUCKET}/code/") and sorted(s3_tarball(clients, submit_directory)) == [
        "handler.py",
        "schema.json",
    ]
