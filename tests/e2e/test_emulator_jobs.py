"""Processing and training jobs that really run in the emulator, with tiny scripts written here (not the project's
container scripts). Each test fails against plain moto 5.2.5, where jobs are Completed at once and run nothing."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # the `jobs` fixture's kit, from conftest.py
    from tests.e2e.conftest import JobKit

pytestmark = pytest.mark.e2e

SKLEARN_PROCESSING = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"

# Writes what this host saw: its shard of the data, its resourceconfig.json and one environment variable.
SHARD_REPORT = """
import json, os, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
config = json.load(open(os.environ["CONFIG_DIR"] + "/resourceconfig.json"))
report = {"files": sorted(os.listdir(args["--data"])), "resourceconfig": config,
          "argv_paths_exist": os.path.isdir(args["--data"]) and os.path.isdir(args["--out"])}
with open(os.path.join(args["--out"], config["current_host"] + ".json"), "w") as out:
    json.dump(report, out)
print("shard of", config["current_host"], report["files"])
"""

FAILING_PROCESSING = """
import sys
with open("/opt/ml/output/message".replace("/opt/ml", sys.argv[1]), "w") as message:
    message.write("bad input: column 'plan' is missing")
open(sys.argv[2] + "/partial.csv", "w").write("a\\n")
print("about to fail", file=sys.stderr)
sys.exit(3)
"""

TRAIN = """
import json, os, sys
print("validation:auc=0.5;")
print("validation:auc=0.87;")
print("train:loss=0.25;", file=sys.stderr)  # stderr counts too
seen = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as model:
    json.dump({"argv": sys.argv[1:], "train": seen, "hps": json.loads(os.environ["SM_HPS"]),
               "current_host": os.environ["SM_CURRENT_HOST"], "from_env": os.environ["FROM_REQUEST"]}, model)
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w").write("fine")
"""

FAILING_TRAIN = """
import os, sys
with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as failure:
    failure.write("ValueError: the target column 'churned' is missing")
sys.exit(1)
"""

SLEEPING_TRAIN = """
import os, sys, time
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "pid"), "w").write(str(os.getpid()))
print("training started", flush=True)
time.sleep(60)
"""


def processing_request(jobs: JobKit, name: str, script: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": jobs.ROLE,
        "AppSpecification": {
            "ImageUri": SKLEARN_PROCESSING,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": script,
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    request.update(overrides)
    return request


def read_object(jobs: JobKit, key: str) -> bytes:
    body: bytes = jobs.s3.get_object(Bucket=jobs.bucket, Key=key)["Body"].read()
    return body


def keys_under(jobs: JobKit, prefix: str) -> list[str]:
    listed = jobs.s3.list_objects_v2(Bucket=jobs.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_processing_job_shards_inputs_across_two_hosts(jobs: JobKit) -> None:
    name = jobs.name("shards")
    script = jobs.put("code/shards/job.py", SHARD_REPORT)
    data_keys = [f"data/batch-{index:02d}.csv" for index in range(7)]
    for key in data_keys:
        jobs.put(key, "x\n")
    data_input = {
        "InputName": "data",
        "S3Input": {
            "S3Uri": f"s3://{jobs.bucket}/data",
            "LocalPath": "/opt/ml/processing/input/data",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "ShardedByS3Key",
        },
    }
    request = processing_request(
        jobs,
        name,
        script,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}},
        Environment={"CONFIG_DIR": "/opt/ml/config", "PLAIN": "value"},
        NetworkConfig={"EnableNetworkIsolation": True},
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "report",
                    "S3Output": {
                        "S3Uri": f"s3://{jobs.bucket}/reports/{name}",
                        "LocalPath": "/opt/ml/processing/output/report",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    request["AppSpecification"]["ContainerArguments"] = [
        "--data",
        "/opt/ml/processing/input/data",
        "--out",
        "/opt/ml/processing/output/report",
    ]
    request["ProcessingInputs"].append(data_input)
    jobs.sagemaker.create_processing_job(**request)
    assert jobs.describe("processing", name)["ProcessingJobStatus"] == "InProgress"

    described = jobs.wait("processing", name)

    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    for field in ("ProcessingResources", "Environment", "NetworkConfig", "StoppingCondition", "AppSpecification"):
        assert described[field] == request[field]
    assert described["CreationTime"] <= described["ProcessingStartTime"] <= described["ProcessingEndTime"]
    assert described["LastModifiedTime"] == described["ProcessingEndTime"]
    assert keys_under(jobs, f"reports/{name}/") == [f"reports/{name}/algo-1.json", f"reports/{name}/algo-2.json"]
    reports = {host: json.loads(read_object(jobs, f"reports/{name}/{host}.json")) for host in ("algo-1", "algo-2")}
    shards = [set(report["files"]) for report in reports.values()]
    assert shards[0].isdisjoint(shards[1]) and all(shards)
    assert shards[0] | shards[1] == {key.split("/")[1] for key in data_keys}
    for host, report in reports.items():
        assert report["resourceconfig"] == {"current_host": host, "hosts": ["algo-1", "algo-2"]}
        assert report["argv_paths_exist"] is True
    config_file = jobs.job_folder(name) / "algo-2" / "opt_ml" / "config" / "processingjobconfig.json"
    assert json.loads(config_file.read_text())["ProcessingResources"] == request["ProcessingResources"]

    listed = jobs.sagemaker.list_processing_jobs(NameContains=name, StatusEquals="Completed")
    assert [job["ProcessingJobName"] for job in listed["ProcessingJobSummaries"]] == [name]
    assert jobs.sagemaker.list_processing_jobs(NameContains=name, StatusEquals="Failed")["ProcessingJobSummaries"] == []


def test_failing_processing_script_reports_its_message_and_uploads_nothing(jobs: JobKit) -> None:
    name = jobs.name("fails")
    request = processing_request(jobs, name, jobs.put("code/fails/job.py", FAILING_PROCESSING))
    request["AppSpecification"]["ContainerArguments"] = ["/opt/ml", "/opt/ml/processing/output/data"]
    request["ProcessingOutputConfig"] = {
        "Outputs": [
            {
                "OutputName": "data",
                "S3Output": {
                    "S3Uri": f"s3://{jobs.bucket}/out/{name}",
                    "LocalPath": "/opt/ml/processing/output/data",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    }
    jobs.sagemaker.create_processing_job(**request)

    described = jobs.wait("processing", name)

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: bad input: column 'plan' is missing"
    assert described["ExitMessage"] == "bad input: column 'plan' is missing"
    assert keys_under(jobs, f"out/{name}") == []  # outputs are uploaded only when every host succeeds

    # Without a message file the reason is the end of the script's stderr.
    silent = jobs.name("fails-silently")
    code = jobs.put("code/silent/job.py", "import sys\nprint('Traceback: boom', file=sys.stderr)\nsys.exit(1)\n")
    jobs.sagemaker.create_processing_job(**processing_request(jobs, silent, code))
    described = jobs.wait("processing", silent)
    assert (described["ProcessingJobStatus"], described["FailureReason"]) == (
        "Failed",
        "AlgorithmError: Traceback: boom",
    )
    assert "ExitMessage" not in described


def test_processing_job_with_a_missing_input_fails_as_sagemaker_says(jobs: JobKit) -> None:
    name = jobs.name("no-input")
    jobs.sagemaker.create_processing_job(**processing_request(jobs, name, f"s3://{jobs.bucket}/code/nothing-here.py"))
    described = jobs.wait("processing", name)
    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        f'ClientError: No S3 objects found under S3 URL "s3://{jobs.bucket}/code/nothing-here.py"'
    )


def test_training_job_runs_the_script_as_the_sklearn_toolkit_does(jobs: JobKit) -> None:
    name = jobs.name("train")
    jobs.put("features/train/part-1.csv", "1,2\n")
    jobs.put("features/train/part-2.csv", "3,4\n")
    code = jobs.sourcedir(f"code/{name}/sourcedir.tar.gz", TRAIN)
    metric_definitions = [
        {"Name": "validation:auc", "Regex": r"validation:auc=([0-9\.]+)"},
        {"Name": "train:loss", "Regex": r"train:loss=([0-9\.]+)"},
        {"Name": "never:printed", "Regex": r"never=([0-9\.]+)"},
    ]
    request = jobs.training_request(name, code)
    request["AlgorithmSpecification"]["MetricDefinitions"] = metric_definitions
    request["HyperParameters"].update(
        {"n_estimators": "300", "learning_rate": "0.1", "k": '"fold"', "algorithm": "gbm"}
    )
    request["InputDataConfig"] = [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{jobs.bucket}/features/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        }
    ]
    request["Environment"] = {"FROM_REQUEST": "/opt/ml/model"}
    jobs.sagemaker.create_training_job(**request)

    described = jobs.wait("training", name)

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    model_key = f"models/{name}/output/model.tar.gz"
    assert described["ModelArtifacts"] == {"S3ModelArtifacts": f"s3://{jobs.bucket}/{model_key}"}
    with tarfile.open(fileobj=io.BytesIO(read_object(jobs, model_key))) as archive:
        assert archive.getnames() == ["model.json"]
        model = json.load(archive.extractfile("model.json"))  # type: ignore[arg-type]
    assert model["argv"] == ["--algorithm", "gbm", "-k", "fold", "--learning_rate", "0.1", "--n_estimators", "300"]
    assert model["hps"] == {"algorithm": "gbm", "k": "fold", "learning_rate": 0.1, "n_estimators": 300}
    assert model["train"] == ["part-1.csv", "part-2.csv"]
    assert model["current_host"] == "algo-1"
    assert model["from_env"] == str(jobs.job_folder(name) / "algo-1" / "opt_ml" / "model")
    with tarfile.open(fileobj=io.BytesIO(read_object(jobs, f"models/{name}/output/output.tar.gz"))) as archive:
        assert archive.getnames() == ["report.txt"]

    assert described["AlgorithmSpecification"]["MetricDefinitions"] == metric_definitions
    metrics = {metric["MetricName"]: metric["Value"] for metric in described["FinalMetricDataList"]}
    assert metrics == {"validation:auc": 0.87, "train:loss": 0.25}  # the last value printed wins
    assert described["HyperParameters"] == request["HyperParameters"]
    assert described["Environment"] == request["Environment"]
    transitions = described["SecondaryStatusTransitions"]
    assert [item["Status"] for item in transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(item["StatusMessage"] and item["StartTime"] <= item["EndTime"] for item in transitions)
    assert described["SecondaryStatus"] == "Completed"
    assert described["TrainingStartTime"] <= described["TrainingEndTime"]
    assert described["TrainingTimeInSeconds"] >= 1 and described["BillableTimeInSeconds"] >= 1
    config = jobs.job_folder(name) / "algo-1" / "opt_ml" / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == request["HyperParameters"]
    assert json.loads((config / "inputdataconfig.json").read_text()) == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }

    listed = jobs.sagemaker.list_training_jobs(NameContains=name, SortBy="CreationTime", SortOrder="Descending")
    assert [(job["TrainingJobName"], job["TrainingJobStatus"]) for job in listed["TrainingJobSummaries"]] == [
        (name, "Completed")
    ]


def test_training_script_that_writes_a_failure_file_fails_with_it(jobs: JobKit) -> None:
    name = jobs.name("train-fails")
    code = jobs.sourcedir(f"code/{name}/sourcedir.tar.gz", FAILING_TRAIN)
    jobs.sagemaker.create_training_job(**jobs.training_request(name, code))

    described = jobs.wait("training", name)

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: ValueError: the target column 'churned' is missing"
    assert described["SecondaryStatus"] == "Failed"
    assert "ModelArtifacts" not in described
    assert keys_under(jobs, f"models/{name}") == []


def test_logs_are_followed_while_training_runs_and_stop_ends_the_process(jobs: JobKit) -> None:
    name = jobs.name("train-stop")
    code = jobs.sourcedir(f"code/{name}/sourcedir.tar.gz", SLEEPING_TRAIN)
    jobs.sagemaker.create_training_job(**jobs.training_request(name, code))

    group = "/aws/sagemaker/TrainingJobs"
    deadline = time.monotonic() + 15
    messages: list[str] = []
    while "training started" not in messages:
        assert time.monotonic() < deadline, messages
        try:  # the group and the stream appear once the job has started, as in AWS
            streams = jobs.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
        except jobs.logs.exceptions.ResourceNotFoundException:
            streams = []
        if streams:
            (stream,) = streams
            assert stream["logStreamName"].startswith(f"{name}/algo-1-")
            events = jobs.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
            messages = [event["message"] for event in events]
        time.sleep(0.2)
    assert jobs.describe("training", name)["TrainingJobStatus"] == "InProgress"  # followed while it runs
    pid = int((jobs.job_folder(name) / "algo-1" / "opt_ml" / "output" / "data" / "pid").read_text())

    jobs.sagemaker.stop_training_job(TrainingJobName=name)
    assert jobs.describe("training", name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    described = jobs.wait("training", name)

    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "Stopping" in [item["Status"] for item in described["SecondaryStatusTransitions"]]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ClientError, match="status Stopped"):
        jobs.sagemaker.stop_training_job(TrainingJobName=name)


def test_training_over_its_max_runtime_is_stopped(jobs: JobKit) -> None:
    name = jobs.name("train-timeout")
    code = jobs.sourcedir(f"code/{name}/sourcedir.tar.gz", SLEEPING_TRAIN)
    jobs.sagemaker.create_training_job(
        **jobs.training_request(name, code, StoppingCondition={"MaxRuntimeInSeconds": 1})
    )
    described = jobs.wait("training", name)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "FailureReason" not in described


def test_stop_processing_job_stops_the_workers(jobs: JobKit, tmp_path: Path) -> None:
    name = jobs.name("stop-processing")
    sleeper = "import os, time\nprint('up', flush=True)\ntime.sleep(60)\n"
    request = processing_request(jobs, name, jobs.put(f"code/{name}/job.py", sleeper))
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 2
    jobs.sagemaker.create_processing_job(**request)
    jobs.wait("processing", name, until=lambda _described: _workers_up(jobs, name, 2))

    jobs.sagemaker.stop_processing_job(ProcessingJobName=name)
    described = jobs.wait("processing", name)

    assert described["ProcessingJobStatus"] == "Stopped"
    assert _workers_up(jobs, name, 2) is False


def test_processing_over_its_max_runtime_is_stopped(jobs: JobKit) -> None:
    name = jobs.name("processing-timeout")
    sleeper = "import time\ntime.sleep(60)\n"
    request = processing_request(jobs, name, jobs.put(f"code/{name}/job.py", sleeper))
    jobs.sagemaker.create_processing_job(**{**request, "StoppingCondition": {"MaxRuntimeInSeconds": 1}})
    described = jobs.wait("processing", name)
    assert described["ProcessingJobStatus"] == "Stopped"
    assert described["FailureReason"].startswith("MaxRuntimeExceeded:")


def _workers_up(jobs: JobKit, name: str, count: int) -> bool:
    """Whether `count` workers of processing job `name` run (the server's children whose cwd is a host folder)."""
    running = 0
    for host in (f"algo-{index}" for index in range(1, count + 1)):
        folder = str(jobs.job_folder(name) / host)
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.readlink(entry / "cwd") == folder:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    running += stat[0] != "Z"
            except OSError:
                continue
    return running == count
