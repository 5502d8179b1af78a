"""The SageMaker PipelineDefinition (format 2020-12-01) for scheduled preprocessing, generated without the SDK.

The Processing step's Arguments are the very CreateProcessingJob request `mlops preprocess run` sends (built by
`processing.processing_request`), minus the job name (SageMaker names pipeline jobs itself), with the raw input
taken from the `InputPrefix` parameter and the outputs written under `processed/<dataset>/<execution id>/`, so every
execution keeps its own outputs. With `continuous_training` the pipeline goes on: train on those splits, evaluate on
the test split, and register the model (pending approval) when the objective reaches the threshold.

`validate_definition` checks the document before any AWS call: moto does not, and SageMaker only fails at run time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.config.tasks import passing_threshold
from mlops_cli.errors import ConfigError
from mlops_cli.services import preprocess, register, train
from mlops_cli.services.preprocess import OUTPUTS, RAW_DIR
from mlops_cli.services.processing import ProcessingSpec, processing_request

VERSION = "2020-12-01"
INPUT_PREFIX = "InputPrefix"
BATCH_DATE = "BatchDate"
MIN_METRIC = "MinMetric"
PREPROCESS, TRAIN, EVALUATE, CHECK, REGISTER, STOP = (
    "Preprocess",
    "Train",
    "Evaluate",
    "CheckObjective",
    "Register",
    "Stop",
)
EVALUATION_REPORT = "EvaluationReport"
MAX_DEFINITION_BYTES = 1024 * 1024
# EventBridge rules start pipelines only with parameter names of this shape (no underscores)
PARAMETER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
JOB_STEPS = {"Processing", "Training"}
_STEP_REF = re.compile(r"^Steps\.([A-Za-z0-9\-_]+)(\..+)?$")


@dataclass
class PipelineInputs:
    """What the definition needs from AWS: computed once by `schedule.apply` (code uploaded, roles converged)."""

    image: str
    role_arn: str
    key_arn: str | None
    preprocess_code: str  # s3://…/code/<sha256>/ holding preprocess.py (or preprocess.script's bundle) and schema.json
    train_submit_directory: str | None = None  # s3://…/sourcedir.tar.gz (continuous training)
    evaluate_code: str | None = None  # s3://…/code/<sha256>/ holding evaluate.py
    # the registered model's handler when it is served apart from model.tar.gz (register.serving_scripts):
    # s3://…/code/<sha256>/sourcedir.tar.gz and the handler's file name
    serving_submit_directory: str | None = None
    serving_program: str = register.SERVING_PROGRAM


def _get(path: str) -> dict[str, str]:
    return {"Get": path}


def _join(*values: Any) -> dict[str, Any]:
    return {"Std:Join": {"On": "/", "Values": list(values)}}


def _step_output(step: str, output: str) -> dict[str, str]:
    return _get(f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")


PLACEHOLDER = "s3://placeholder/"  # the steps' references fill in the real S3 locations


def default_input_prefix(config: Config, account: str) -> str:
    return f"s3://{config.names(account).data_bucket}/{config.dataset.raw_prefix}"


def preprocess_spec(config: Config, code_uri: str) -> ProcessingSpec:
    """The spec `preprocess.start_preprocessing` builds for a run over every batch (`--all`); placeholders for the
    job name and the S3 locations, which the pipeline fills with references."""
    count = config.preprocess.instance_count
    return preprocess.preprocess_spec(
        config,
        job_name="pipeline",
        code_uri=code_uri,
        inputs=[("raw", PLACEHOLDER, RAW_DIR, "ShardedByS3Key" if count > 1 else "FullyReplicated")],
        outputs={name: PLACEHOLDER for name in OUTPUTS},
        instance_count=count,
        script=preprocess.preprocess_scripts(config),
    )


def _preprocess_step(clients: AwsClients, config: Config, inputs: PipelineInputs) -> dict[str, Any]:
    spec = preprocess_spec(config, inputs.preprocess_code)
    request = processing_request(config, spec, image=inputs.image, role_arn=inputs.role_arn, key_arn=inputs.key_arn)
    request.pop("ProcessingJobName")
    bucket = config.names(clients.account_id).data_bucket
    for item in request["ProcessingInputs"]:
        if item["InputName"] == "raw":
            item["S3Input"]["S3Uri"] = _get(f"Parameters.{INPUT_PREFIX}")
    for output in request["ProcessingOutputConfig"]["Outputs"]:
        output["S3Output"]["S3Uri"] = _join(
            f"s3://{bucket}/processed/{config.dataset.name}",
            _get("Execution.PipelineExecutionId"),
            output["OutputName"],
        )
    return {"Name": PREPROCESS, "Type": "Processing", "Arguments": request}


def _train_step(clients: AwsClients, config: Config, inputs: PipelineInputs) -> dict[str, Any]:
    data = train.TrainingData(processing_job="", channels={}, manifest=[])
    definition = train._definition(clients, config, data, inputs.role_arn, inputs.key_arn)
    definition["InputDataConfig"] = [
        {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": _step_output(PREPROCESS, name),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
            "InputMode": "File",
        }
        for name in ("train", "validation")
    ]
    # an isolated job gets its code as an input channel, as `train run` sends it
    submit_directory, code_channels = train.code_delivery(config, inputs.train_submit_directory or "")
    definition["InputDataConfig"] += code_channels
    encoded = {name: train._encode(value) for name, value in sorted(config.train.hyperparameters.items())}
    arguments = {
        "HyperParameters": {**train._reserved(clients, config, submit_directory, None), **encoded},
        **definition,
        "Tags": [
            {"Key": k, "Value": v}
            for k, v in {**config.standard_tags(train.STAGE), "mlops:dataset": config.dataset.name}.items()
        ],
    }
    return {"Name": TRAIN, "Type": "Training", "DependsOn": [PREPROCESS], "Arguments": arguments}


def _evaluate_step(clients: AwsClients, config: Config, inputs: PipelineInputs) -> dict[str, Any]:
    spec = train.evaluation_spec(
        config,
        job_name="pipeline",
        code_uri=inputs.evaluate_code or "",
        model_uri=PLACEHOLDER,
        test_uri=PLACEHOLDER,
        output_uri=PLACEHOLDER,
        tags=config.standard_tags(train.STAGE),
    )
    request = processing_request(config, spec, image=inputs.image, role_arn=inputs.role_arn, key_arn=inputs.key_arn)
    request.pop("ProcessingJobName")
    sources = {
        "model": _get(f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts"),
        "test": _step_output(PREPROCESS, "test"),
    }
    for item in request["ProcessingInputs"]:
        if item["InputName"] in sources:
            item["S3Input"]["S3Uri"] = sources[item["InputName"]]
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = evaluation_prefix(clients, config)
    return {
        "Name": EVALUATE,
        "Type": "Processing",
        "DependsOn": [TRAIN],
        "Arguments": request,
        "PropertyFiles": [
            {"PropertyFileName": EVALUATION_REPORT, "OutputName": "evaluation", "FilePath": "evaluation.json"}
        ],
    }


def evaluation_prefix(clients: AwsClients, config: Config) -> dict[str, Any]:
    bucket = config.names(clients.account_id).data_bucket
    return _join(f"s3://{bucket}/models/{config.dataset.name}", _get("Execution.PipelineExecutionId"), "evaluation")


def _serving_environment(clients: AwsClients, inputs: PipelineInputs) -> dict[str, str]:
    """Ours from model.tar.gz, or the handler bundle in S3 (config validation refuses that with network isolation,
    which would need the model repacked: a pipeline has no step for it)."""
    if inputs.serving_submit_directory is None:
        return register.serving_environment(clients.region)
    return register.serving_environment(clients.region, inputs.serving_program, inputs.serving_submit_directory)


def _condition_step(clients: AwsClients, config: Config, inputs: PipelineInputs) -> dict[str, Any]:
    objective = config.train.objective
    metric = objective.metric.split(":", 1)[1]  # evaluate.py reports the test split's metrics by their bare names
    comparison = "GreaterThanOrEqualTo" if objective.goal == "maximize" else "LessThanOrEqualTo"
    register_step = {
        "Name": REGISTER,
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": register.group_name(config),
            "ModelApprovalStatus": register.PENDING,
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": inputs.image,
                        "ModelDataUrl": _get(f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts"),
                        "Environment": _serving_environment(clients, inputs),
                        "Framework": "SKLEARN",
                    }
                ],
                "SupportedContentTypes": register.CONTENT_TYPES,
                "SupportedResponseMIMETypes": register.CONTENT_TYPES,
            },
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": {
                            "Std:Join": {"On": "", "Values": [evaluation_prefix(clients, config), "/evaluation.json"]}
                        },
                    }
                }
            },
        },
    }
    return {
        "Name": CHECK,
        "Type": "Condition",
        "DependsOn": [EVALUATE],
        "Arguments": {
            "Conditions": [
                {
                    "Type": comparison,
                    "LeftValue": {
                        "Std:JsonGet": {
                            "PropertyFile": _get(f"Steps.{EVALUATE}.PropertyFiles.{EVALUATION_REPORT}"),
                            "Path": f"metrics.{metric}",
                        }
                    },
                    "RightValue": _get(f"Parameters.{MIN_METRIC}"),
                }
            ],
            "IfSteps": [register_step],
            "ElseSteps": [
                {
                    "Name": STOP,
                    "Type": "Fail",
                    "Arguments": {
                        "ErrorMessage": f"test {metric} did not reach {MIN_METRIC}: the model is not registered"
                    },
                }
            ],
        },
    }


def build_definition(clients: AwsClients, config: Config, inputs: PipelineInputs) -> dict[str, Any]:
    """The whole definition as a JSON-ready dict (validated: `validate_definition` raises on a broken one)."""
    schedule = config.preprocess.schedule
    continuous = bool(schedule and schedule.continuous_training)
    parameters: list[dict[str, Any]] = [
        {"Name": INPUT_PREFIX, "Type": "String", "DefaultValue": default_input_prefix(config, clients.account_id)},
        {"Name": BATCH_DATE, "Type": "String", "DefaultValue": "all"},
    ]
    steps = [_preprocess_step(clients, config, inputs)]
    if continuous:
        threshold = config.registry.min_metric
        if threshold is None:  # every model passes, whichever direction the objective improves in
            threshold = passing_threshold(config.train.objective.metric, config.train.objective.goal)
        parameters.append({"Name": MIN_METRIC, "Type": "Float", "DefaultValue": threshold})
        steps += [
            _train_step(clients, config, inputs),
            _evaluate_step(clients, config, inputs),
            _condition_step(clients, config, inputs),
        ]
    definition = {"Version": VERSION, "Metadata": {}, "Parameters": parameters, "Steps": steps}
    validate_definition(definition)
    return definition


def all_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step, the Condition steps' branches included (their names share one namespace)."""
    found: list[dict[str, Any]] = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Condition":
            found += all_steps([*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])])
    return found


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["Get"]] if isinstance(value.get("Get"), str) else []
        for key, item in value.items():
            if key not in ("IfSteps", "ElseSteps"):  # the branches' references are their own steps'
                found += _references(item)
        return found
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def definition_problems(definition: dict[str, Any]) -> list[str]:
    """Every way the definition is broken (empty when valid): names, parameters, references, size."""
    problems: list[str] = []
    if definition.get("Version") != VERSION:
        problems.append(f"Version must be {VERSION}")
    parameters = {p["Name"]: p for p in definition.get("Parameters", [])}
    if len(parameters) != len(definition.get("Parameters", [])):
        problems.append("parameter names must be unique")
    for name, parameter in parameters.items():
        if not PARAMETER_NAME.match(name):
            problems.append(f"parameter '{name}': EventBridge needs letters, digits and single hyphens (no '_')")
        if parameter.get("Type") not in ("String", "Integer", "Float", "Boolean"):
            problems.append(f"parameter '{name}': unknown type {parameter.get('Type')!r}")
    steps = all_steps(definition.get("Steps", []))
    by_name: dict[str, dict[str, Any]] = {}
    for step in steps:
        name = step.get("Name", "")
        if not STEP_NAME.match(name):
            problems.append(f"step name '{name}' must be 1-64 letters, digits, '-' or '_'")
        if name in by_name:
            problems.append(f"step name '{name}' is used twice")
        by_name[name] = step
    for step in steps:
        name = step["Name"]
        for dependency in step.get("DependsOn", []):
            if dependency not in by_name or dependency == name:
                problems.append(f"step '{name}' depends on unknown step '{dependency}'")
        for ref in _references(step.get("Arguments", {})):
            problems += _reference_problems(name, ref, parameters, by_name)
    size = len(json.dumps(definition).encode())
    if size > MAX_DEFINITION_BYTES:
        problems.append(f"the definition is {size} bytes; CreatePipeline takes at most {MAX_DEFINITION_BYTES}")
    return problems


def _reference_problems(step: str, ref: str, parameters: dict[str, Any], steps: dict[str, dict[str, Any]]) -> list[str]:
    if ref.startswith("Parameters."):
        name = ref.removeprefix("Parameters.")
        return [] if name in parameters else [f"step '{step}' uses undeclared parameter '{name}'"]
    if ref.startswith("Execution."):
        return (
            []
            if ref
            in (
                "Execution.PipelineExecutionId",
                "Execution.PipelineName",
                "Execution.StartDateTime",
                "Execution.PipelineExecutionArn",
                "Execution.CurrentDateTime",
            )
            else [f"step '{step}' uses unknown '{ref}'"]
        )
    match = _STEP_REF.match(ref)
    if not match:
        return [f"step '{step}' uses unknown reference '{ref}'"]
    target = steps.get(match.group(1))
    if target is None or match.group(1) == step:
        return [f"step '{step}' refers to unknown step '{match.group(1)}'"]
    if ".PropertyFiles." in ref:
        files = {f["PropertyFileName"] for f in target.get("PropertyFiles", [])}
        if ref.rsplit(".", 1)[1] not in files:
            return [f"step '{step}' reads property file '{ref.rsplit('.', 1)[1]}' that '{target['Name']}' lacks"]
    elif target.get("Type") not in JOB_STEPS:
        return [f"step '{step}' reads properties of '{target['Name']}', a {target.get('Type')} step without any"]
    elif "Outputs['" in ref:
        output = ref.split("Outputs['", 1)[1].split("'", 1)[0]
        names = {o["OutputName"] for o in target["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])}
        if output not in names:
            return [f"step '{step}' reads output '{output}' that '{target['Name']}' does not write"]
    return []


def validate_definition(definition: dict[str, Any]) -> None:
    """Raise ConfigError (exit 2, nothing changed in AWS) when the generated definition is broken."""
    if problems := definition_problems(definition):
        raise ConfigError(
            [f"pipeline definition: {p}" for p in problems], hint="This is a bug in mlops or an unusual config."
        )
