"""Register and deploy end to end: approval gates, an endpoint that really serves, a safe update, rollback, cleanup."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.e2e.test_storage_cli import ROOT, Cli

pytestmark = pytest.mark.e2e

ROWS = pd.read_csv(ROOT / "data/churn/ingest_date=2026-01-19/customers.csv", dtype=str, keep_default_na=False).head(40)


def clean_records(n: int) -> list[dict[str, Any]]:
    """Valid rows of the sample data as request records (no key, no target)."""
    good = ROWS[ROWS["plan"].isin(["basic", "pro", "team"]) & ROWS["churned"].isin(["yes", "no"])]
    good = good[pd.to_numeric(good["monthly_charges"], errors="coerce").notna()]
    good = good[pd.to_numeric(good["tenure_months"], errors="coerce").fillna(-1) >= 0]
    records = good.drop(columns=["customer_id", "churned"]).head(n).to_dict("records")
    return [{k: (None if v == "" else v) for k, v in r.items()} for r in records]


@pytest.fixture(scope="module")
def project(emulator: Any) -> Cli:
    cli = Cli(f"dp{int(time.time() * 1000) % 10**9}", "register.approval=manual")  # the gate under test
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn")
    cli.json("preprocess", "run", "--wait")
    first = cli.json("train", "run", "--wait")
    cli.json("train", "evaluate", first["job_name"], "--wait")
    return cli


def test_manual_approval_gates_deployment_and_the_endpoint_serves(project: Cli, tmp_path: Any) -> None:
    registered = project.json("register", "model")
    assert registered["version"]["number"] == 1 and registered["version"]["status"] == "PendingManualApproval"
    refused = project("deploy", "apply")
    assert refused.returncode == 3 and "approved" in refused.stderr
    project.json("register", "approve", "1", "--reason", "looks good")
    applied = project.json("deploy", "apply")
    assert applied["action"] == "created" and applied["version"] == 1
    assert project.json("deploy", "status")["status"] == "InService"
    records = clean_records(3)
    predictions = project.json("deploy", "invoke", "--data", json.dumps({"instances": records}))["predictions"]
    assert len(predictions) == 3 and all(
        p["label"] in ("yes", "no") and 0 <= p["probability"] <= 1 for p in predictions
    )
    rows = tmp_path / "rows.csv"
    pd.DataFrame(records).fillna("").to_csv(rows, index=False)  # a header row: matched by column name
    as_csv = project("deploy", "invoke", "--file", str(rows), "--accept", "text/csv")
    assert as_csv.returncode == 0, as_csv.stderr
    lines = [line.split(",") for line in as_csv.stdout.strip().splitlines()]
    assert len(lines) == 3 and all(label in ("yes", "no") and 0 <= float(p) <= 1 for label, p in lines)
    assert [float(p) for _, p in lines] == [p["probability"] for p in predictions]


def test_bad_requests_are_4xx_with_the_reason_and_the_endpoint_keeps_serving(
    project: Cli, emulator_client: Any
) -> None:
    from botocore.exceptions import ClientError

    runtime = emulator_client("sagemaker-runtime")
    endpoint = f"{project.project}-local"
    record = clean_records(1)[0]
    missing = {k: v for k, v in record.items() if k != "plan"}
    wrong_type = {**record, "tenure_months": "abc"}
    for body, fragment in (
        (json.dumps({"instances": [missing]}), "plan"),
        (json.dumps({"instances": [wrong_type]}), "tenure_months"),
        ("", "empty"),
        ("{not json", "json"),
    ):
        with pytest.raises(ClientError) as error:
            runtime.invoke_endpoint(EndpointName=endpoint, Body=body.encode(), ContentType="application/json")
        response = error.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 424, response
        assert 400 <= int(response["OriginalStatusCode"]) < 500
        assert fragment in response["OriginalMessage"].lower()
    with pytest.raises(ClientError) as too_big:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"x" * (6 * 1024 * 1024 + 1), ContentType="text/csv")
    assert too_big.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    through_cli = project("deploy", "invoke", "--data", json.dumps({"instances": [wrong_type]}))
    assert through_cli.returncode == 1 and "tenure_months" in through_cli.stderr
    ok = project.json("deploy", "invoke", "--data", json.dumps({"instances": clean_records(1)}))
    assert len(ok["predictions"]) == 1


def test_second_version_replaces_the_first_without_failed_requests_then_rollback(
    project: Cli, emulator_client: Any
) -> None:
    records = clean_records(5)
    before = project.json("deploy", "invoke", "--data", json.dumps({"instances": records}))["predictions"]
    second = project.json("train", "run", "--wait", "--set", "hyperparameters.C=0.05")
    project.json("train", "evaluate", second["job_name"], "--wait")
    assert project.json("register", "model", "--training-job", second["job_name"])["version"]["number"] == 2
    project.json("register", "approve", "2", "--reason", "better regularised")
    runtime = emulator_client("sagemaker-runtime")
    failures: list[str] = []
    calls = 0
    stop = threading.Event()

    def keep_calling() -> None:
        nonlocal calls
        body = json.dumps({"instances": records}).encode()
        while not stop.is_set():
            try:
                runtime.invoke_endpoint(
                    EndpointName=f"{project.project}-local", Body=body, ContentType="application/json"
                )
                calls += 1
            except Exception as exc:  # every failure counts
                failures.append(repr(exc))

    client = threading.Thread(target=keep_calling)
    client.start()
    try:
        updated = project.json("deploy", "apply")
    finally:
        stop.set()
        client.join()
    assert updated["action"] == "updated" and updated["version"] == 2 and updated["previous_version"] == 1
    assert failures == [] and calls > 0
    assert project.json("deploy", "status")["version"] == 2
    rolled = project.json("deploy", "rollback")
    assert rolled["version"] == 1 and "version 1 is pinned" in rolled["pin"]
    kept = project.json("deploy", "apply")  # the rollback sticks: version 2 is approved but waits
    assert (kept["version"], kept["action"]) == (1, "unchanged")
    assert "the newest approved version, 2, waits" in kept["pin"]
    after = project.json("deploy", "invoke", "--data", json.dumps({"instances": records}))["predictions"]
    assert after == before


def test_apply_twice_changes_nothing(project: Cli, emulator_client: Any) -> None:
    sagemaker = emulator_client("sagemaker")
    configs = sagemaker.list_endpoint_configs(NameContains=project.project)["EndpointConfigs"]
    again = project.json("deploy", "apply", "--version", str(project.json("deploy", "status")["version"]))
    assert again["action"] == "unchanged"
    assert sagemaker.list_endpoint_configs(NameContains=project.project)["EndpointConfigs"] == configs


def test_predictions_on_the_test_split_reproduce_the_evaluation(
    project: Cli, emulator_client: Any, tmp_path: Any
) -> None:
    status = project.json("deploy", "status")
    listing = project.json("register", "show", str(status["version"]))
    evaluation_uri = listing["version"]["metrics_uri"]
    s3 = emulator_client("s3")
    bucket, _, key = evaluation_uri.removeprefix("s3://").partition("/")
    evaluation = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    training = emulator_client("sagemaker").describe_training_job(TrainingJobName=listing["version"]["training_job"])
    test_uri = training["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].rsplit("/", 1)[0] + "/test"
    bucket, _, prefix = test_uri.removeprefix("s3://").partition("/")
    [part] = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]
    test_file = tmp_path / "test.csv"
    test_file.write_bytes(s3.get_object(Bucket=bucket, Key=part["Key"])["Body"].read())
    scored = project("deploy", "invoke", "--file", str(test_file), "--accept", "text/csv")
    assert scored.returncode == 0, scored.stderr
    probabilities = [float(line.split(",")[1]) for line in scored.stdout.strip().splitlines()]
    truth = (pd.read_csv(test_file, dtype=str)["churned"] == "yes").astype(int)
    assert roc_auc_score(truth, probabilities) == pytest.approx(evaluation["metrics"]["auc"], abs=1e-4)


def test_delete_twice_leaves_nothing(project: Cli, emulator_client: Any) -> None:
    first = project.json("deploy", "delete", "--yes")
    assert first["deleted"]
    second = project.json("deploy", "delete", "--yes")
    assert second["deleted"] == []
    sagemaker, name = emulator_client("sagemaker"), f"{project.project}-local"
    # moto ignores NameContains, and other tests' resources share the emulator: filter by name here
    assert [e for e in sagemaker.list_endpoints()["Endpoints"] if e["EndpointName"].startswith(name)] == []
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert [c for c in configs if c["EndpointConfigName"].startswith(name)] == []
    assert [m for m in sagemaker.list_models()["Models"] if m["ModelName"].startswith(name)] == []
    assert emulator_client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{name}-")["MetricAlarms"] == []
    targets = emulator_client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    assert [t for t in targets["ScalableTargets"] if name in t["ResourceId"]] == []
