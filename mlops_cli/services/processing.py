"""The CreateProcessingJob request our scripts run with, shared by preprocessing and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws.errors import aws_errors
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value
from mlops_cli.config.models import Config
from mlops_cli.config.scripts import RUNPROC

CODE_DIR = "/opt/ml/processing/input/code"
INPUT_DIR = "/opt/ml/processing/input"
OUTPUT_DIR = "/opt/ml/processing/output"
CONFIG_DIR = "/opt/ml/config"  # resourceconfig.json; the script's failure message goes to ../output/message


@dataclass
class ProcessingSpec:
    job_name: str
    script: str  # in the code bundle
    code_uri: str  # s3://…/code/<sha256>/
    arguments: dict[str, str]
    inputs: list[tuple[str, str, str, str]]  # (name, S3 URI, local path, distribution)
    outputs: dict[str, str]  # name -> S3 URI, written from OUTPUT_DIR/<name>
    instance_type: str
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600
    tags: dict[str, str] = field(default_factory=dict)
    requirements: bool = False  # the bundle has a requirements.txt: runproc.sh installs it, then runs the script


def s3_input(name: str, uri: str, local_path: str, distribution: str = "FullyReplicated") -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
        },
    }


def network_config(config: Config, *, multi_instance: bool) -> dict[str, Any]:
    network: dict[str, Any] = {
        # traffic between the job's own instances is encrypted whenever there is more than one
        "EnableInterContainerTrafficEncryption": multi_instance,
        "EnableNetworkIsolation": config.network.isolation,
    }
    if vpc := vpc_config(config):
        network["VpcConfig"] = vpc
    return network


def vpc_config(config: Config) -> dict[str, list[str]] | None:
    """The VpcConfig of jobs and models (one shape for CreateProcessingJob, CreateTrainingJob and CreateModel)."""
    vpc = config.network.vpc
    return None if vpc is None else {"Subnets": vpc.subnet_ids, "SecurityGroupIds": vpc.security_group_ids}


def processing_request(
    config: Config, spec: ProcessingSpec, *, image: str, role_arn: str, key_arn: str | None
) -> dict[str, Any]:
    """The CreateProcessingJob request for `spec`: `python3 <script> ARGS` from the code bundle on the scikit-learn
    image, volumes and outputs encrypted with the project key. Shared by `start_processing_job` and the pipeline
    definition's Processing steps, so a scheduled run does exactly what `mlops preprocess run` does. A bundle with
    requirements runs through its runproc.sh (services/code.py), which installs them first."""
    arguments = {**spec.arguments, "--config-dir": CONFIG_DIR}
    if spec.requirements:
        entrypoint = ["/bin/bash", f"{CODE_DIR}/{RUNPROC}"]
    else:
        entrypoint = ["python3", f"{CODE_DIR}/{spec.script}"]
    request: dict[str, Any] = {
        "ProcessingJobName": spec.job_name,
        "RoleArn": role_arn,
        "AppSpecification": {
            "ImageUri": image,
            "ContainerEntrypoint": entrypoint,
            "ContainerArguments": [part for pair in arguments.items() for part in pair],
        },
        "ProcessingInputs": [
            s3_input("code", spec.code_uri, CODE_DIR),
            *(s3_input(*item) for item in spec.inputs),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": name,
                    "S3Output": {"S3Uri": uri, "LocalPath": f"{OUTPUT_DIR}/{name}", "S3UploadMode": "EndOfJob"},
                }
                for name, uri in spec.outputs.items()
            ],
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": spec.instance_count,
                "InstanceType": spec.instance_type,
                "VolumeSizeInGB": spec.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
        "NetworkConfig": network_config(config, multi_instance=spec.instance_count > 1),
        "Tags": as_key_value(spec.tags),
    }
    if key_arn:
        request["ProcessingOutputConfig"]["KmsKeyId"] = key_arn
        request["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] = key_arn
    return request


def start_processing_job(
    clients: AwsClients, config: Config, spec: ProcessingSpec, *, image: str, role_arn: str, key_arn: str | None
) -> None:
    """Start the processing job `spec` describes (see `processing_request`)."""
    request = processing_request(config, spec, image=image, role_arn=role_arn, key_arn=key_arn)
    with aws_errors(f"creating processing job {spec.job_name}"):
        clients.client("sagemaker").create_processing_job(**request)
