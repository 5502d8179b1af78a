"""Run a container script as SageMaker would, in a temporary folder standing in for /opt/ml.

Processing (CreateProcessingJob with the scikit-learn image and ContainerEntrypoint ["python3", <script>]):
    opt_ml/processing/input/code/   the scripts of mlops_cli/container_scripts/ and schema.json (the `code` input)
    opt_ml/processing/input/<name>/ every other input's files
    opt_ml/processing/output/<name>/ created empty, as SageMaker does before the entrypoint runs
    opt_ml/config/processingjobconfig.json and resourceconfig.json
  The arguments are written with /opt/ml/ paths and rewritten to the folder, as the project's emulator does; there are
  no SM_* variables in processing.

Training (script mode, what the sagemaker-training toolkit does before it starts train.py):
    opt_ml/code/                    sourcedir.tar.gz extracted: the scripts and schema.json; the working directory
    opt_ml/input/config/            hyperparameters.json (the request's string map), inputdataconfig.json,
                                    resourceconfig.json
    opt_ml/input/data/<channel>/    each channel's files
  Hyperparameters are JSON-decoded one by one (the raw string kept when that fails), `sagemaker_*` keys removed, and
  passed sorted by key as `--key value` (`-k value` for one letter), and as SM_HP_*, SM_HPS, SM_USER_ARGS, next to
  SM_MODEL_DIR, SM_CHANNEL_*, SM_CHANNELS, SM_OUTPUT_DATA_DIR, SM_OUTPUT_DIR, SM_HOSTS, SM_CURRENT_HOST, SM_NUM_CPUS,
  SM_TRAINING_ENV and TRAINING_JOB_NAME.

The child gets a minimal environment (no PYTHONPATH) and runs outside the repository, so a script that imported
mlops_cli, or read a path from anywhere but its arguments and variables, would fail here as it would in SageMaker.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "mlops_cli" / "container_scripts"
BASE_CONFIG = ROOT / "configs" / "base.yaml"
DATA = ROOT / "data" / "churn"
OPT_ML = "/opt/ml/"
REGION = "eu-west-1"
TIMEOUT = 120

# The metric lines of each task (mlops_metrics.METRICS, written out here so that the test checks the script).
TASK_METRICS = {
    "binary": ("auc", "accuracy", "f1", "precision", "recall", "logloss"),
    "multiclass": ("accuracy", "macro_f1", "logloss"),
    "regression": ("rmse", "mae", "r2"),
}
METRIC_NAMES = TASK_METRICS["binary"]


def metric_definitions(*prefixes: str, task: str = "binary") -> list[dict[str, str]]:
    """MetricDefinitions ({Name, Regex}) that parse the scripts' `<prefix>:<name>=<value>;` lines, as the tool
    writes them (a sign: R² may be negative)."""
    return [{"Name": f"{p}:{m}", "Regex": f"{p}:{m}=([-+0-9.eE]+);"} for p in prefixes for m in TASK_METRICS[task]]


# What the training job's AlgorithmSpecification.MetricDefinitions should hold, and evaluate.py's test metrics.
TRAINING_METRIC_DEFINITIONS = metric_definitions("train", "validation")
EVALUATION_METRIC_DEFINITIONS = metric_definitions("test")

Files = Sequence[tuple[Path, str]]  # (a file to copy, its path inside the input or channel folder)


def schema_from_config(config: Path = BASE_CONFIG) -> dict[str, Any]:
    """schema.json as the tool writes it from the config's dataset section (`name: type` and `{category: [...]}`
    being short forms of the column mapping), with the task (declared, or inferred from the target's type), the
    classes and the positive label."""
    dataset = yaml.safe_load(config.read_text(encoding="utf-8"))["dataset"]
    columns = []
    for name, spec in dataset["columns"].items():
        if isinstance(spec, str):
            spec = {"type": spec}
        elif "category" in spec:
            spec = {
                "type": "category",
                "values": spec["category"],
                **{k: v for k, v in spec.items() if k != "category"},
            }
        columns.append({"name": name, "nullable": True, **spec})
    schema = {"name": dataset["name"], "key": dataset["key"], "target": dataset["target"], "columns": columns}
    return {**schema, **task_fields(dataset.get("task"), next(c for c in columns if c["name"] == dataset["target"]))}


def task_fields(task: str | None, target: Mapping[str, Any]) -> dict[str, Any]:
    """task, classes and positive_label of schema.json for a target column (the contract's inference rules)."""
    classes = ["no", "yes"] if target["type"] == "bool" else list(target.get("values") or [])
    if task is None:
        task = "regression" if target["type"] in ("int", "float") else "binary" if len(classes) == 2 else "multiclass"
    if task == "regression":
        return {"task": task}
    if task == "multiclass":
        return {"task": task, "classes": classes}
    return {"task": task, "classes": classes, "positive_label": classes[-1]}


def sample_files() -> list[tuple[Path, str]]:
    """The committed sample batches, each under its Hive-style partition folder as in S3."""
    return files_under(DATA)


def files_under(folder: Path) -> list[tuple[Path, str]]:
    return [(path, path.relative_to(folder).as_posix()) for path in sorted(folder.rglob("*")) if path.is_file()]


@dataclass
class JobResult:
    returncode: int
    stdout: str
    stderr: str
    opt_ml: Path
    failure_file: Path

    @property
    def failure(self) -> str | None:
        """What SageMaker would report (ExitMessage / FailureReason): the first 1 KB of the failure file."""
        return self.failure_file.read_text(encoding="utf-8")[:1024] if self.failure_file.is_file() else None

    def metrics(self, task: str = "binary") -> dict[str, float]:
        """The metrics SageMaker would publish from the log with the task's definitions (the last value of each)."""
        log = self.stdout + self.stderr
        found = {}
        for definition in metric_definitions("train", "validation", "test", task=task):
            values = re.findall(definition["Regex"], log)
            if values:
                found[definition["Name"]] = float(values[-1])
        return found

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def _install_code(folder: Path, schema: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for script in SCRIPTS.glob("*.py"):
        shutil.copy2(script, folder / script.name)
    (folder / "schema.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")


def _copy_files(files: Files, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for source, relative in files:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


def _base_env(workdir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _run(command: list[str], cwd: Path, env: dict[str, str], opt_ml: Path, failure_file: Path) -> JobResult:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return JobResult(done.returncode, done.stdout, done.stderr, opt_ml, failure_file)


def run_processing(
    workdir: Path,
    script: str,
    arguments: Sequence[str],
    inputs: Mapping[str, Files],
    outputs: Sequence[str],
    schema: Mapping[str, Any],
    host: str = "algo-1",
    hosts: Sequence[str] = ("algo-1",),
    env: Mapping[str, str] | None = None,
) -> JobResult:
    """One processing worker: inputs copied in, output folders created, config files written, script run."""
    opt_ml = workdir / "opt_ml"
    processing = opt_ml / "processing"
    _install_code(processing / "input" / "code", schema)
    for name, files in inputs.items():
        _copy_files(files, processing / "input" / name)
    for name in outputs:
        (processing / "output" / name).mkdir(parents=True, exist_ok=True)
    entrypoint = ["python3", f"/opt/ml/processing/input/code/{script}"]
    _write_json(
        opt_ml / "config" / "processingjobconfig.json",
        _processing_request(script, entrypoint, arguments, inputs, outputs, hosts),
    )
    _write_json(opt_ml / "config" / "resourceconfig.json", {"current_host": host, "hosts": list(hosts)})
    mapped = [_map(part, opt_ml) for part in [*entrypoint, *arguments]]
    command = [sys.executable, *mapped[1:]]  # the image's python3 is this interpreter here
    return _run(command, workdir, {**_base_env(workdir), **(env or {})}, opt_ml, opt_ml / "output" / "message")


def _map(value: str, opt_ml: Path) -> str:
    """/opt/ml/... → <workdir>/opt_ml/..., as the emulator rewrites entrypoint, arguments and environment."""
    return f"{opt_ml}/{value[len(OPT_ML) :]}" if value.startswith(OPT_ML) else value


def _processing_request(
    script: str,
    entrypoint: list[str],
    arguments: Sequence[str],
    inputs: Mapping[str, Files],
    outputs: Sequence[str],
    hosts: Sequence[str],
) -> dict[str, Any]:
    """processingjobconfig.json: the CreateProcessingJob request as SageMaker hands it to the container."""
    name = f"churn-{Path(script).stem}-test"

    def s3_input(input_name: str) -> dict[str, Any]:
        return {
            "InputName": input_name,
            "S3Input": {
                "S3Uri": f"s3://churn-test-bucket/{input_name}/",
                "LocalPath": f"/opt/ml/processing/input/{input_name}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "ShardedByS3Key" if len(hosts) > 1 else "FullyReplicated",
            },
        }

    return {
        "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:processing-job/{name}",
        "ProcessingJobName": name,
        "AppSpecification": {
            "ImageUri": f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
            "ContainerEntrypoint": entrypoint,
            "ContainerArguments": list(arguments),
        },
        "Environment": {},
        "ProcessingInputs": [s3_input(n) for n in ["code", *inputs]],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": n,
                    "S3Output": {
                        "S3Uri": f"s3://churn-test-bucket/out/{n}/",
                        "LocalPath": f"/opt/ml/processing/output/{n}",
                        "S3UploadMode": "EndOfJob",
                    },
                }
                for n in outputs
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": len(hosts), "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
        },
        "RoleArn": "arn:aws:iam::123456789012:role/churn-test-sagemaker",
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def sdk_encode(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """HyperParameters as the SageMaker SDK sends them: every value JSON-encoded (a string gets quotes)."""
    return {key: json.dumps(value) for key, value in hyperparameters.items()}


def decode_hyperparameters(encoded: Mapping[str, str]) -> dict[str, Any]:
    """The toolkit's read_hyperparameters: json.loads each value, keep the raw string when it is not JSON."""
    decoded = {}
    for key, value in encoded.items():
        try:
            decoded[key] = json.loads(value)
        except (ValueError, TypeError):
            decoded[key] = value
    return decoded


def to_cmd_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """The toolkit's mapping.to_cmd_args: sorted by key, `--key value` (`-k value` for a one-letter key)."""
    args = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        if isinstance(value, Mapping):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{key}" if len(key) > 1 else f"-{key}", "" if value is None else str(value)]
    return args


def _env_value(value: Any) -> str:
    """The toolkit's mapping.to_env_vars value format: strings as they are, anything else as compact JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def run_training(
    workdir: Path,
    channels: Mapping[str, Files],
    hyperparameters: Mapping[str, str],
    schema: Mapping[str, Any],
    job_name: str = "churn-train-test",
    host: str = "algo-1",
    hosts: Sequence[str] = ("algo-1",),
) -> JobResult:
    """One training container. `hyperparameters` is the request's HyperParameters: a string-to-string map."""
    opt_ml = workdir / "opt_ml"
    code, config = opt_ml / "code", opt_ml / "input" / "config"
    _install_code(code, schema)
    encoded = {
        **hyperparameters,
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": f'"s3://churn-test-bucket/{job_name}/source/sourcedir.tar.gz"',
        "sagemaker_region": f'"{REGION}"',
        "sagemaker_container_log_level": "20",
    }
    _write_json(config / "hyperparameters.json", encoded)
    data_config = {
        name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for name in channels
    }
    _write_json(config / "inputdataconfig.json", data_config)
    resources = {"current_host": host, "hosts": sorted(hosts), "network_interface_name": "eth0"}
    _write_json(config / "resourceconfig.json", resources)
    channel_dirs = {name: opt_ml / "input" / "data" / name for name in channels}
    for name, files in channels.items():
        _copy_files(files, channel_dirs[name])
    model_dir, output_dir = opt_ml / "model", opt_ml / "output"
    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)

    decoded = decode_hyperparameters(encoded)
    user = {k: v for k, v in decoded.items() if not k.startswith("sagemaker_") and k != "_tuning_objective_metric"}
    args = to_cmd_args(user)
    training_env = {
        "job_name": job_name,
        "hyperparameters": user,
        "channel_input_dirs": {name: str(path) for name, path in channel_dirs.items()},
        "model_dir": str(model_dir),
        "output_data_dir": str(output_dir / "data"),
        "output_dir": str(output_dir),
        "current_host": host,
        "hosts": sorted(hosts),
        "module_name": "train",
        "user_entry_point": "train.py",
    }
    env = {
        **_base_env(workdir),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
        "SM_OUTPUT_DIR": str(output_dir),
        "SM_INPUT_DIR": str(opt_ml / "input"),
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HOSTS": json.dumps(sorted(hosts)),
        "SM_CURRENT_HOST": host,
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_HPS": json.dumps(user, sort_keys=True),
        "SM_USER_ARGS": json.dumps(args),
        "SM_MODULE_NAME": "train",
        "SM_RESOURCE_CONFIG": json.dumps(resources),
        "SM_INPUT_DATA_CONFIG": json.dumps(data_config),
        "SM_TRAINING_ENV": json.dumps(training_env),
        "SM_FRAMEWORK_PARAMS": json.dumps({k: v for k, v in decoded.items() if k not in user}),
        "TRAINING_JOB_NAME": job_name,
        "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{job_name}",
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channel_dirs.items()},
        **{f"SM_HP_{key.upper()}": _env_value(value) for key, value in user.items()},
    }
    return _run([sys.executable, "train.py", *args], code, env, opt_ml, output_dir / "failure")


@contextmanager
def imported_handler(code: Path) -> Iterator[ModuleType]:
    """code/inference.py imported as the serving container imports it (code/ first on sys.path, so its
    `import mlops_schema` finds the bundled copy), the test process's own copies of the modules set aside and put
    back afterwards."""
    names = ["inference", *(path.stem for path in code.glob("mlops_*.py"))]
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(code))
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep code/ as train.py left it
    try:
        yield importlib.import_module("inference")
    finally:
        sys.dont_write_bytecode = writes_bytecode
        sys.path.remove(str(code))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
