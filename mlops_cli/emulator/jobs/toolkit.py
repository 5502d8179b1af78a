"""What the sagemaker-training toolkit in the scikit-learn image does before it runs the user's script: decode the
hyperparameters, turn them into command-line arguments and SM_* variables, and write the config files. Pure.

Mirrors `sagemaker_training.{environment,mapping,params,process}` (contract section 2), with every /opt/ml path
replaced by the host's work folder.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.emulator.jobs.workspace import HostWorkspace

SAGEMAKER_PREFIX = "sagemaker_"
PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
REGION = "sagemaker_region"
LOG_LEVEL = "sagemaker_container_log_level"
JOB_NAME = "sagemaker_job_name"
TUNING_OBJECTIVE = "_tuning_objective_metric"
# params.SAGEMAKER_HYPERPARAMETERS: removed from the user's hyperparameters, and not framework parameters either.
RESERVED = (
    PROGRAM,
    SUBMIT_DIRECTORY,
    "sagemaker_enable_cloudwatch_metrics",
    REGION,
    LOG_LEVEL,
    JOB_NAME,
    "default_user_module_name",
    TUNING_OBJECTIVE,
    "sagemaker_s3_output",
)
FRAMEWORK_MODULE = "sagemaker_sklearn_container.training:main"  # SAGEMAKER_TRAINING_MODULE in the sklearn image
INSTANCE_GROUP = "homogeneousCluster"
NETWORK_INTERFACE = "eth0"


def decode(value: str) -> Any:
    """A hyperparameter as the toolkit reads it: JSON if it parses (the SDK JSON-encodes values), else the text."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


@dataclass(frozen=True)
class Hyperparameters:
    user: dict[str, Any]  # become the script's arguments and SM_HP_* variables
    sagemaker: dict[str, Any]  # reserved keys and other sagemaker_* keys
    framework: dict[str, Any]  # sagemaker_* keys that are not reserved (SM_FRAMEWORK_PARAMS)

    @classmethod
    def split(cls, raw: Mapping[str, str] | None) -> Hyperparameters:
        decoded = {key: decode(value) for key, value in (raw or {}).items()}
        sagemaker = {k: v for k, v in decoded.items() if k in RESERVED or k.startswith(SAGEMAKER_PREFIX)}
        user = {k: v for k, v in decoded.items() if k not in sagemaker}
        framework = {k: v for k, v in sagemaker.items() if k not in RESERVED}
        return cls(user, sagemaker, framework)

    def with_paths(self, rewrite: Callable[[str], str]) -> Hyperparameters:
        """The same, with /opt/ml paths in text values pointing into a host's work folder (`--out /opt/ml/model`
        would otherwise name a folder that does not exist here)."""
        user = {key: rewrite(value) if isinstance(value, str) else value for key, value in self.user.items()}
        return Hyperparameters(user, self.sagemaker, self.framework)


def _text(value: Any) -> str:
    # mapping._decode: Python's str() of the decoded value, so True becomes "True" and 0.10 becomes "0.1".
    return "" if value is None else str(value)


def to_cmd_args(mapping: Mapping[str, Any]) -> list[str]:
    """`--key value` pairs sorted by key; one-letter keys as `-k`; dict values as `k=v,k2=v2` (mapping.to_cmd_args)."""
    args: list[str] = []
    for key in sorted(mapping):
        value = mapping[key]
        args.append(f"--{key}" if len(key) > 1 else f"-{key}")
        if isinstance(value, Mapping):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(_text(value))
    return args


def to_env_vars(mapping: Mapping[str, Any]) -> dict[str, str]:
    """SM_<KEY> variables: strings as they are, anything else as compact JSON (mapping.to_env_vars)."""

    def value_of(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    return {f"SM_{str(key).upper()}": value_of(value) for key, value in mapping.items()}


def resource_config(host: str, hosts: list[str], instance_type: str) -> dict[str, Any]:
    """/opt/ml/input/config/resourceconfig.json of a training host."""
    return {
        "current_host": host,
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": sorted(hosts),
        "instance_groups": [{"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": hosts}],
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(channels: list[Mapping[str, Any]], default_mode: str) -> dict[str, Any]:
    """/opt/ml/input/config/inputdataconfig.json: one entry per channel of the request's InputDataConfig."""
    config: dict[str, Any] = {}
    for channel in channels:
        source = channel.get("DataSource", {}).get("S3DataSource", {})
        entry: dict[str, Any] = {}
        if channel.get("ContentType"):
            entry["ContentType"] = channel["ContentType"]
        entry["TrainingInputMode"] = channel.get("InputMode") or default_mode
        entry["S3DistributionType"] = source.get("S3DataDistributionType", "FullyReplicated")
        entry["RecordWrapperType"] = channel.get("RecordWrapperType", "None")
        config[channel["ChannelName"]] = entry
    return config


@dataclass(frozen=True)
class TrainingEnvironment:
    """Everything the toolkit derives for one host; `command()` and `env_vars()` are what the script receives."""

    job_name: str
    job_arn: str
    region: str
    workspace: HostWorkspace
    hosts: list[str]
    instance_type: str
    hyperparameters: Hyperparameters
    input_data_config: dict[str, Any]
    request_environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def program(self) -> str:
        return str(self.hyperparameters.sagemaker.get(PROGRAM) or "")

    @property
    def module_name(self) -> str:
        return self.program[:-3] if self.program.endswith(".py") else self.program

    @property
    def log_level(self) -> int:
        level = self.hyperparameters.sagemaker.get(LOG_LEVEL, logging.INFO)
        return level if isinstance(level, int) else logging.INFO

    def user_args(self) -> list[str]:
        return to_cmd_args(self.hyperparameters.user)

    def command(self, python: str | None = None) -> list[str]:
        """ProcessRunner._create_command: a Python program runs with the interpreter (here: the server's, or
        `python`, the environment holding requirements.txt), anything else as a shell command from the code
        folder."""
        if self.program.endswith(".py"):
            return [python or sys.executable, self.program, *self.user_args()]
        return ["/bin/sh", "-c", f"./{self.program} {' '.join(self.user_args())}"]

    def _toolkit_values(self) -> dict[str, Any]:
        # Environment.to_env_vars(): each key becomes SM_<KEY>.
        ws = self.workspace
        channels = sorted(self.input_data_config)
        channel_dirs = {name: str(ws.channel_dir(name)) for name in channels}
        values: dict[str, Any] = {
            "hosts": self.hosts,
            "network_interface_name": NETWORK_INTERFACE,
            "hps": self.hyperparameters.user,
            "user_entry_point": self.program,
            "framework_params": self.hyperparameters.framework,
            "resource_config": resource_config(ws.host, self.hosts, self.instance_type),
            "input_data_config": self.input_data_config,
            "output_data_dir": str(ws.output_data_dir),
            "channels": channels,
            "current_host": ws.host,
            "current_instance_type": self.instance_type,
            "current_instance_group": INSTANCE_GROUP,
            "current_instance_group_hosts": self.hosts,
            "instance_groups": [INSTANCE_GROUP],
            "instance_groups_dict": {
                INSTANCE_GROUP: {
                    "instance_group_name": INSTANCE_GROUP,
                    "instance_type": self.instance_type,
                    "hosts": self.hosts,
                }
            },
            "distribution_instance_groups": [],
            "is_hetero": False,
            "module_name": self.module_name,
            "log_level": self.log_level,
            "framework_module": FRAMEWORK_MODULE,
            "input_dir": str(ws.input_dir),
            "input_config_dir": str(ws.input_config_dir),
            "output_dir": str(ws.output_dir),
            "num_cpus": os.cpu_count() or 1,
            "num_gpus": 0,
            "num_neurons": 0,
            "model_dir": str(ws.model_dir),
            "module_dir": str(self.hyperparameters.sagemaker.get(SUBMIT_DIRECTORY) or ""),
            "user_args": self.user_args(),
            "output_intermediate_dir": str(ws.intermediate_dir),
        }
        values["training_env"] = {
            **{k: v for k, v in values.items() if k not in ("hps", "framework_params", "channels", "user_args")},
            "hyperparameters": self.hyperparameters.user,
            "additional_framework_parameters": self.hyperparameters.framework,
            "channel_input_dirs": channel_dirs,
            "job_name": self.job_name,
            "is_master": ws.host == self.hosts[0],
            "master_hostname": self.hosts[0],
        }
        values.update({f"channel_{name}": path for name, path in channel_dirs.items()})
        values.update({f"hp_{key}": value for key, value in self.hyperparameters.user.items()})
        return values

    def env_vars(self) -> dict[str, str]:
        """The script's SM_* variables plus what the platform sets (job name and ARN, region, the request's
        Environment with /opt/ml paths rewritten)."""
        env = to_env_vars(self._toolkit_values())
        env.update(
            TRAINING_JOB_NAME=self.job_name,
            TRAINING_JOB_ARN=self.job_arn,
            SAGEMAKER_REGION=str(self.hyperparameters.sagemaker.get(REGION) or self.region),
            SAGEMAKER_TRAINING_MODULE=FRAMEWORK_MODULE,
        )
        if JOB_NAME in self.hyperparameters.sagemaker:
            env["SAGEMAKER_JOB_NAME"] = str(self.hyperparameters.sagemaker[JOB_NAME])
        env.update({key: self.workspace.rewrite(value) for key, value in self.request_environment.items()})
        return env


def script_error(
    command: list[str], exit_code: int, stderr_tail: str, error_class: str = "ExecuteUserScriptError"
) -> str:
    """The failure text the toolkit writes when the script exits non-zero (errors.ExecuteUserScriptError), or
    when pip does (errors.InstallRequirementsError)."""
    return f'{error_class}:\nExitCode {exit_code}\nErrorMessage "{stderr_tail}"\nCommand "{" ".join(command)}"'
