"""mlops_schema in-process: the validation rules every container script (and the inference handler) relies on."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.container.conftest import load_script_module


@pytest.fixture(scope="module")
def ms() -> ModuleType:
    return load_script_module("mlops_schema")


@pytest.fixture(scope="module")
def churn(ms: ModuleType, schema: dict[str, Any]) -> Any:
    return ms.schema_from_dict(schema)


def record(**overrides: str) -> dict[str, str]:
    row = {
        "customer_id": "C0000001",
        "tenure_months": "12",
        "monthly_charges": "49.90",
        "total_charges": "598.80",
        "plan": "pro",
        "contract": "monthly",
        "payment_method": "card",
        "support_calls": "1",
        "has_partner": "no",
        "paperless_billing": "yes",
        "region": "north",
        "last_login_days": "3",
        "churned": "no",
    }
    return {**row, **overrides}


@pytest.mark.parametrize(
    ("overrides", "reason", "kind"),
    [
        ({"plan": "enterprise"}, "plan: 'enterprise' is not one of basic, pro, team", "plan:not_allowed"),
        ({"tenure_months": "-3"}, "tenure_months: -3 is below the minimum 0", "tenure_months:below_min"),
        ({"tenure_months": "601"}, "tenure_months: 601 is above the maximum 600", "tenure_months:above_max"),
        ({"tenure_months": "2.5"}, "tenure_months: 2.5 is not an integer", "tenure_months:not_an_integer"),
        ({"tenure_months": "ten"}, "tenure_months: 'ten' is not an integer", "tenure_months:not_a_number"),
        ({"monthly_charges": "n/a"}, "monthly_charges: 'n/a' is not a number", "monthly_charges:not_a_number"),
        ({"monthly_charges": "inf"}, "monthly_charges: 'inf' is not a number", "monthly_charges:not_a_number"),
        ({"churned": ""}, "churned: missing target", "churned:missing_target"),
        ({"churned": "maybe"}, "churned: 'maybe' is not yes/no", "churned:not_bool"),
        ({"customer_id": " "}, "customer_id: missing value", "customer_id:missing_value"),
        (
            {"plan": "gold", "churned": "maybe"},
            "plan: 'gold' is not one of basic, pro, team; churned: 'maybe' is not yes/no",
            "plan:not_allowed; churned:not_bool",
        ),
    ],
)
def test_a_bad_value_is_rejected_with_its_reason(
    ms: ModuleType, churn: Any, overrides: dict[str, str], reason: str, kind: str
) -> None:
    clean, rejects = ms.validate(pd.DataFrame([record(), record(**{"customer_id": "C2", **overrides})]), churn)
    assert list(clean["customer_id"]) == ["C0000001"]
    assert rejects[ms.REJECT_REASON].tolist() == [reason]
    assert rejects[ms.REJECT_KIND].tolist() == [kind]
    assert rejects.index.tolist() == [1]  # the caller can map a reject back to its input row


def test_accepted_spellings_become_canonical(ms: ModuleType, churn: Any) -> None:
    rows = [
        record(has_partner="TRUE", paperless_billing="0", churned="Yes", tenure_months="3.0"),
        record(customer_id="C2", region="", total_charges="", last_login_days="", monthly_charges=" 1e2 "),
    ]
    clean, rejects = ms.validate(pd.DataFrame(rows), churn)
    assert rejects.empty
    assert clean.loc[0, ["has_partner", "paperless_billing", "churned"]].tolist() == ["yes", "no", "yes"]
    assert str(clean["tenure_months"].dtype) == "Int64" and clean.loc[0, "tenure_months"] == 3
    assert clean.loc[1, "monthly_charges"] == 100.0
    assert pd.isna(clean.loc[1, "region"]) and pd.isna(clean.loc[1, "total_charges"])
    assert pd.isna(clean.loc[1, "last_login_days"])
    assert clean.to_csv(index=False).splitlines()[2].endswith(",,no")  # missing → empty field


def test_typed_values_from_a_json_request_are_judged_by_their_text(ms: ModuleType, churn: Any) -> None:
    request = record()
    request.pop("churned")
    typed: dict[str, Any] = {**request, "tenure_months": 12, "monthly_charges": 49.9, "region": None}
    clean, rejects = ms.validate(pd.DataFrame([typed]), churn, require_target=False)
    assert rejects.empty
    assert "churned" not in clean.columns
    features = ms.model_inputs(clean, churn)
    assert list(features.columns) == [c.name for c in churn.features]
    assert features["tenure_months"].dtype == np.float64
    assert features["region"].dtype == object and np.isnan(features.loc[0, "region"])


def test_a_missing_column_is_named(ms: ModuleType, churn: Any) -> None:
    frame = pd.DataFrame([record()]).drop(columns=["churned", "plan"])
    with pytest.raises(ms.MissingColumnError) as error:
        ms.validate(frame, churn)
    assert str(error.value).startswith("missing columns 'plan', 'churned' (expected the columns customer_id, ")
    ms.check_columns(frame.assign(plan="pro"), churn, require_target=False)  # the target may be absent


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "plan"}, r"the target 'plan' has 3 values \(basic, pro, team\); binary classification needs "),
        ({"key": "id"}, "the key column 'id' is not among the columns"),
        ({"columns": [{"name": "churned", "type": "boolean"}]}, "unknown type 'boolean'"),
        ({"columns": [{"name": "plan", "type": "category"}]}, "category column 'plan' has no 'values'"),
    ],
)
def test_a_wrong_schema_is_refused(
    ms: ModuleType, schema: dict[str, Any], tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({**schema, **change}))
    with pytest.raises(ms.SchemaError, match=message):
        ms.load_schema(path)


def test_a_repeated_index_is_kept_and_does_not_mix_rows(ms: ModuleType, churn: Any) -> None:
    frame = pd.DataFrame([record(), record(customer_id="C2", plan="gold")], index=["a", "a"])
    clean, rejects = ms.validate(frame, churn)
    assert clean.index.tolist() == ["a"] and clean["customer_id"].tolist() == ["C0000001"]
    assert rejects["customer_id"].tolist() == ["C2"]
    assert rejects[ms.REJECT_REASON].tolist() == ["plan: 'gold' is not one of basic, pro, team"]


def generated(task: str | None, target: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A two-column schema.json: a key and the target; `task` None leaves the field out (an older schema.json)."""
    columns = [{"name": "id", "type": "string", "nullable": False}, {"name": "y", "nullable": False, **target}]
    document: dict[str, Any] = {"name": "t", "key": "id", "target": "y", "columns": columns, **fields}
    if task is not None:
        document["task"] = task
    return document


THREE = {"type": "category", "values": ["low", "mid", "high"]}
TWO = {"type": "category", "values": ["stay", "leave"]}


@pytest.mark.parametrize(
    ("task", "target", "fields", "message"),
    [
        ("binary", {"type": "float"}, {}, "the target 'y' is a float column; binary classification needs a category"),
        ("binary", THREE, {}, r"has 3 values \(low, mid, high\); binary classification needs exactly 2"),
        ("multiclass", {"type": "bool"}, {}, "the target 'y' is a bool column; multiclass needs a category"),
        ("multiclass", {"type": "string"}, {}, "the target 'y' is a string column; multiclass classification needs"),
        ("multiclass", {"type": "category", "values": ["only"]}, {}, "has one value; multiclass needs 2 or more"),
        ("regression", THREE, {}, "the target 'y' is a category column; regression needs an int or float target"),
        ("regression", {"type": "bool"}, {}, "the target 'y' is a bool column; regression needs an int or float"),
        ("regression", {"type": "int"}, {"classes": ["a"]}, "a regression schema has no 'classes'"),
        ("ranking", {"type": "int"}, {}, r"unknown task 'ranking' \(one of binary, multiclass, regression\)"),
        ("multiclass", THREE, {"classes": ["low", "mid"]}, r"classes \['low', 'mid'\] must be the target 'y' values"),
        ("multiclass", THREE, {"positive_label": "high"}, "'positive_label' is for binary classification only"),
        ("binary", TWO, {"positive_label": "stay"}, "positive_label 'stay' must be the last of the classes"),
        (None, {"type": "float"}, {}, "the target 'y' must be a bool .* has no 'task', so it is binary"),
        (None, TWO, {}, "the target 'y' must be a bool"),
    ],
)
def test_a_task_that_does_not_fit_the_target_is_refused(
    ms: ModuleType, task: str | None, target: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ms.SchemaError, match=message):
        ms.schema_from_dict(generated(task, target, **fields))


def test_an_old_schema_without_a_task_is_binary_with_a_bool_target(
    ms: ModuleType, schema: dict[str, Any], tmp_path: Path
) -> None:
    """schema.json of a model trained before tasks existed (no task, classes, positive_label) still loads."""
    old = {key: value for key, value in schema.items() if key not in ("task", "classes", "positive_label")}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(old))
    loaded = ms.load_schema(path)
    assert (loaded.task, loaded.classes, loaded.positive_label) == ("binary", ("no", "yes"), "yes")
    assert loaded == ms.schema_from_dict(schema)  # the same as the tool's schema.json today
    clean, _ = ms.validate(pd.DataFrame([record(churned="yes"), record(customer_id="C2", churned="No")]), loaded)
    labels = ms.labels(clean, loaded)
    assert labels.tolist() == [1, 0] and labels.dtype == np.int64


def test_labels_follow_the_task(ms: ModuleType) -> None:
    rows = pd.DataFrame({"id": ["a", "b", "c"], "y": ["high", "low", "high"]})

    multiclass = ms.schema_from_dict(generated("multiclass", THREE))
    assert (multiclass.classes, multiclass.positive_label) == (("low", "mid", "high"), None)
    clean, _ = ms.validate(rows, multiclass)
    names = ms.labels(clean, multiclass)
    assert names.dtype == object and names.tolist() == ["high", "low", "high"]

    binary = ms.schema_from_dict(generated("binary", TWO))
    assert (binary.classes, binary.positive_label) == (("stay", "leave"), "leave")  # the last value is positive
    clean, _ = ms.validate(pd.DataFrame({"id": ["a", "b"], "y": ["leave", "stay"]}), binary)
    assert ms.labels(clean, binary).tolist() == [1, 0]

    regression = ms.schema_from_dict(generated("regression", {"type": "int"}))
    assert (regression.classes, regression.positive_label) == ((), None)
    clean, _ = ms.validate(pd.DataFrame({"id": ["a", "b"], "y": ["3", "-12"]}), regression)
    values = ms.labels(clean, regression)
    assert values.dtype == np.float64 and values.tolist() == [3.0, -12.0]


def test_declared_classes_keep_their_order(ms: ModuleType) -> None:
    """classes may list the values in another order than the column; that order is the schema's."""
    loaded = ms.schema_from_dict(generated("multiclass", THREE, classes=["high", "low", "mid"]))
    assert loaded.classes == ("high", "low", "mid")
