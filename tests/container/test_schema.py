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
        ({"target": "plan"}, "the target 'plan' must be a bool"),
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
