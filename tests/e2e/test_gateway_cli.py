"""The REST API end to end on the emulator: `mlops gateway` creates it, and plain HTTP requests go through the same
steps API Gateway takes (key or signature, validation, the endpoint, response mapping)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.test_deploy_cli import clean_records
from tests.e2e.test_storage_cli import ROOT, Cli

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "data/examples"


@pytest.fixture(scope="module")
def project(emulator: Any) -> Cli:
    cli = Cli(f"gw{int(time.time() * 1000) % 10**9}")
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn")
    cli.json("preprocess", "run", "--wait")
    cli.json("train", "run", "--wait")
    cli.json("register", "model")
    cli.json("register", "approve", "latest", "--reason", "gateway tests")
    cli.json("deploy", "apply")
    return cli


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers, method="GET")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_predictions_through_the_api_match_the_endpoints(project: Cli) -> None:
    applied = project.json("gateway", "apply")
    assert {c["action"] for c in applied["controls"]} == {"created"} and applied["deployed"]
    for example in ("customers.json", "customers.csv"):
        direct = project.json("deploy", "invoke", "--file", str(EXAMPLES / example))
        through_api = project.json("gateway", "invoke", "--file", str(EXAMPLES / example))
        assert through_api == direct and len(direct["predictions"]) == 3


def test_plain_http_requests_get_what_api_gateway_answers(project: Cli) -> None:
    url = project.json("gateway", "url")["url"]
    shown = project("gateway", "keys", "show", "--reveal")
    assert shown.returncode == 0, shown.stderr
    key = shown.stdout.strip()
    predict, as_json = f"{url}/predict", {"Content-Type": "application/json"}
    body = json.dumps({"instances": clean_records(2)}).encode()

    assert post(predict, body, as_json)[0] == 403
    status, answer = post(predict, body, as_json | {"x-api-key": "not-a-key"})
    assert status == 403 and answer["message"] == "Forbidden", answer
    status, answer = post(predict, body, as_json | {"x-api-key": key})
    assert status == 200 and len(answer["predictions"]) == 2, answer

    missing = {k: v for k, v in clean_records(1)[0].items() if k != "contract"}
    status, answer = post(predict, json.dumps({"instances": [missing]}).encode(), as_json | {"x-api-key": key})
    assert status == 400 and "contract" in answer["errors"], answer
    bad_category = clean_records(1)[0] | {"plan": "enterprise"}
    status, answer = post(predict, json.dumps({"instances": [bad_category]}).encode(), as_json | {"x-api-key": key})
    assert status == 400 and "plan" in answer["errors"] and "enterprise" in answer["errors"], answer

    status, answer = post(predict, b"<rows/>", {"Content-Type": "text/xml", "x-api-key": key})
    assert status == 415 and "application/json" in answer["message"], answer
    # CSV is not validated by the gateway: the model refuses the row, and its reason comes back
    row = ",".join(str(v or "") for v in bad_category.values()).encode()
    status, answer = post(predict, row, {"Content-Type": "text/csv", "x-api-key": key})
    assert status == 400 and "enterprise" in json.dumps(answer["upstream"]), answer

    assert get(f"{url}/health", {"x-api-key": key}) == (200, {"status": "ok"})
    status, answer = post(predict, body, as_json | {"x-api-key": key})
    assert status == 200 and len(answer["predictions"]) == 2  # still answering after the errors


def test_apply_again_deploys_nothing_and_a_new_throttle_is_deployed(project: Cli, emulator_client: Any) -> None:
    before = project.json("gateway", "status")
    again = project.json("gateway", "apply")
    assert {c["action"] for c in again["controls"]} == {"unchanged"} and not again["deployed"]
    apigw = emulator_client("apigateway")
    count = len(apigw.get_deployments(restApiId=before["api_id"])["items"])

    changed = project.json("gateway", "apply", "--set", "gateway.throttle.rate=42")
    assert changed["deployed"] and changed["deployment"] != before["last_deployment"]["id"]
    assert len(apigw.get_deployments(restApiId=before["api_id"])["items"]) == count + 1
    status = project.json("gateway", "status", "--set", "gateway.throttle.rate=42")
    assert status["throttle"]["rate"] == 42 and status["up_to_date"]
    assert not project.json("gateway", "status")["up_to_date"]  # the config without the change sees drift


def test_a_new_key_works_until_revoked(project: Cli) -> None:
    url = project.json("gateway", "url")["url"] + "/predict"
    created = project.json("gateway", "keys", "create", "partner", "--reveal")
    listed = project("gateway", "keys", "list")
    assert created["value"] not in listed.stdout and "partner" in listed.stdout
    body = json.dumps({"instances": clean_records(1)}).encode()
    headers = {"Content-Type": "application/json", "x-api-key": created["value"]}
    assert post(url, body, headers)[0] == 200
    refused = project("gateway", "keys", "revoke", "partner")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    project.json("gateway", "keys", "revoke", "partner", "--yes")
    assert post(url, body, headers)[0] == 403


def test_iam_auth_refuses_unsigned_requests_and_invoke_signs(project: Cli) -> None:
    iam = ("--set", "gateway.auth=iam")
    applied = project.json("gateway", "apply", *iam)
    assert applied["deployed"]
    url = project.json("gateway", "url")["url"]
    body = json.dumps({"instances": clean_records(1)}).encode()
    status, answer = post(f"{url}/predict", body, {"Content-Type": "application/json"})
    assert status == 403 and "Authentication" in answer["message"], answer
    signed = project.json("gateway", "invoke", "--file", str(EXAMPLES / "customers.json"), *iam)
    assert len(signed["predictions"]) == 3


def test_delete_twice_leaves_nothing_behind(project: Cli, emulator_client: Any) -> None:
    api_id = project.json("gateway", "status")["api_id"]
    first = project.json("gateway", "delete", "--yes")
    assert any(item.startswith("rest api") for item in first["deleted"])
    assert project.json("gateway", "delete", "--yes")["deleted"] == []
    apigw, prefix = emulator_client("apigateway"), f"{project.project}-local"
    assert not [a for a in apigw.get_rest_apis()["items"] if a["name"] == prefix]
    assert not [p for p in apigw.get_usage_plans()["items"] if p["name"] == prefix]
    assert not [k for k in apigw.get_api_keys()["items"] if k["name"].startswith(prefix)]
    groups = [g["logGroupName"] for g in emulator_client("logs").describe_log_groups()["logGroups"]]
    assert not [g for g in groups if f"apigateway/{prefix}/" in g or api_id in g]
    roles = [r["RoleName"] for r in emulator_client("iam").list_roles()["Roles"]]
    assert f"{prefix}-apigateway" not in roles
    assert project("gateway", "status").returncode == 0
