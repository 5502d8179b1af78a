"""inference.py as the serving container runs it: imported from the trained model's code/ folder (the folder first
on sys.path, so its `import mlops_schema` finds the bundled copy), model_fn on the model folder, then input_fn →
predict_fn → output_fn per request. The churn (binary) model first; then multiclass and regression models trained
on generated data, and models a user's own training script could write under the model contract."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.container.conftest import SEGMENTS, generated_schema, read_output
from tests.container.contract import JobResult, imported_handler
from tests.container.user_models import plain_features, write_user_model

ROWS = 40  # sample rows per request: enough to cover missing values and both labels, quick to score


@pytest.fixture(scope="module")
def model_dir(trained: JobResult) -> Path:
    return trained.opt_ml / "model"


@pytest.fixture(scope="module")
def handler(model_dir: Path) -> Iterator[ModuleType]:
    """code/inference.py imported the container's way, the test process's own copies of the modules set aside."""
    code = model_dir / "code"
    with imported_handler(code) as module:
        assert Path(module.__file__).parent == code
        assert Path(module.ms.__file__).parent == code
        yield module


@pytest.fixture
def model(handler: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Loaded afresh for every test: model_fn also sets what input_fn checks against, which some tests change."""
    monkeypatch.delenv("MLOPS_MAX_ROWS", raising=False)
    monkeypatch.delenv("SAGEMAKER_MULTI_MODEL", raising=False)
    return handler.model_fn(str(model_dir))


@pytest.fixture(scope="module")
def sample(preprocessed: JobResult) -> pd.DataFrame:
    """Rows of the held-out test split, every field as its text in the file."""
    return read_output(preprocessed, "test").head(ROWS)


def feature_names(schema: dict[str, Any]) -> list[str]:
    return [c["name"] for c in schema["columns"] if c["name"] not in (schema["key"], schema["target"])]


def json_record(row: pd.Series, schema: dict[str, Any], with_key: bool = True) -> dict[str, Any]:
    """A record as a JSON client sends it: numbers as numbers, null for a gap, text for the rest."""
    record: dict[str, Any] = {schema["key"]: row[schema["key"]]} if with_key else {}
    for column in schema["columns"]:
        name, text = column["name"], row[column["name"]]
        if name in (schema["key"], schema["target"]):
            continue
        if column["type"] in ("int", "float"):
            record[name] = None if text == "" else (int(text) if column["type"] == "int" else float(text))
        else:
            record[name] = text
    return record


def json_body(sample: pd.DataFrame, schema: dict[str, Any], with_key: bool = True) -> str:
    return json.dumps({"instances": [json_record(row, schema, with_key) for _, row in sample.iterrows()]})


def csv_body(sample: pd.DataFrame, schema: dict[str, Any]) -> str:
    return sample[feature_names(schema)].to_csv(header=False, index=False)


def expected_probabilities(model: Any, sample: pd.DataFrame, schema: dict[str, Any]) -> np.ndarray:
    """P(yes) from the pipeline on the same rows, framed with plain pandas (NaN for gaps, numbers as floats)."""
    return model.pipeline.predict_proba(plain_features(sample, schema))[:, 1]


def serve(handler: ModuleType, model: Any, body: str | bytes, content_type: str | None, accept: str | None) -> Any:
    return handler.output_fn(handler.predict_fn(handler.input_fn(body, content_type), model), accept)


def check_predictions(predictions: list[dict[str, Any]], expected: np.ndarray) -> None:
    assert len(predictions) == len(expected)
    for prediction, probability in zip(predictions, expected, strict=True):
        assert prediction["probability"] == pytest.approx(probability, abs=5e-7)
        assert prediction["probability"] == round(prediction["probability"], 6)
        assert prediction["label"] == ("yes" if probability >= 0.5 else "no")


def test_a_json_request_gets_one_prediction_per_row_with_the_key_back(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any]
) -> None:
    body, content_type = serve(handler, model, json_body(sample, schema), "application/json", "application/json")
    assert content_type == "application/json"
    predictions = json.loads(body)["predictions"]
    check_predictions(predictions, expected_probabilities(model, sample, schema))
    assert [p["customer_id"] for p in predictions] == list(sample["customer_id"])
    assert {p["label"] for p in predictions} == {"yes", "no"}  # the sample covers both outcomes
    assert any(value == "" for value in sample[feature_names(schema)].to_numpy().ravel())  # ... and gaps


def test_a_csv_request_in_schema_order_gives_the_same_probabilities(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any]
) -> None:
    body, content_type = serve(handler, model, csv_body(sample, schema), "text/csv", "text/csv")
    assert content_type == "text/csv"
    lines = body.splitlines()
    assert len(lines) == len(sample) and body.endswith("\n")
    predictions = [{"label": label, "probability": float(p)} for label, p in (line.split(",") for line in lines)]
    assert all(len(line.split(",")[1].split(".")[1]) == 6 for line in lines)
    check_predictions(predictions, expected_probabilities(model, sample, schema))


def test_a_record_without_the_key_gets_no_key_back_and_the_target_is_ignored(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any]
) -> None:
    records = [json_record(row, schema, with_key=False) for _, row in sample.head(3).iterrows()]
    records[1]["churned"] = "not even yes/no"  # the target is not a feature: never read
    records[2]["customer_id"] = "C42"
    body, _ = serve(handler, model, json.dumps({"instances": records}), "application/json", None)
    predictions = json.loads(body)["predictions"]
    assert [set(p) for p in predictions] == [{"label", "probability"}] * 2 + [{"customer_id", "label", "probability"}]
    assert predictions[2]["customer_id"] == "C42"


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", None, ""])
def test_json_content_type_parameters_case_and_absence(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any], content_type: str | None
) -> None:
    """With parameters the container hands over bytes (it only decodes the exact type); no type means JSON."""
    body = json_body(sample.head(5), schema).encode("utf-8")
    answer, _ = serve(handler, model, body, content_type, "application/json")
    check_predictions(json.loads(answer)["predictions"], expected_probabilities(model, sample.head(5), schema))


def test_csv_with_charset_and_crlf_line_ends(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any]
) -> None:
    body = csv_body(sample.head(5), schema).replace("\n", "\r\n").encode("utf-8")
    answer, _ = serve(handler, model, body, "text/csv; charset=UTF-8", "application/json")
    check_predictions(json.loads(answer)["predictions"], expected_probabilities(model, sample.head(5), schema))


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("text/csv", "text/csv"),
        ("TEXT/CSV", "text/csv"),
        ("text/*", "text/csv"),
        ("text/html, text/csv;q=0.5, application/json;q=0.9", "application/json"),
        ("application/json;q=0, text/csv", "text/csv"),
    ],
)
def test_accept_chooses_the_response_type(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any], accept: str | None, expected: str
) -> None:
    status, body, content_type = handler.invoke(model, json_body(sample.head(3), schema), "application/json", accept)
    assert (status, content_type) == (200, expected)
    assert len(json.loads(body)["predictions"] if expected == "application/json" else body.splitlines()) == 3


@pytest.mark.parametrize("accept", ["application/x-npy", "text/html", "application/json;q=0"])
def test_an_unsupported_accept_is_406(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any], accept: str
) -> None:
    predictions = handler.predict_fn(handler.input_fn(json_body(sample.head(2), schema), "application/json"), model)
    with pytest.raises(handler.UnsupportedAcceptError) as raised:
        handler.output_fn(predictions, accept)
    assert raised.value.status_code == 406
    assert f"cannot answer in '{accept}'" in str(raised.value)
    status, body, content_type = handler.invoke(model, json_body(sample.head(2), schema), "application/json", accept)
    assert (status, content_type) == (406, "application/json")
    assert json.loads(body) == {"error": "UnsupportedAcceptError", "error-message": str(raised.value)}


@pytest.mark.parametrize("content_type", ["application/x-npy", "text/plain", "application/jsonl"])
def test_an_unsupported_content_type_is_415(handler: ModuleType, model: Any, content_type: str) -> None:
    with pytest.raises(handler.UnsupportedContentTypeError) as raised:
        handler.input_fn('{"instances": []}', content_type)
    assert raised.value.status_code == 415
    assert f"content type '{content_type}' is not supported" in raised.value.message
    assert handler.invoke(model, "1,2", content_type, None)[0] == 415


def instances(*records: dict[str, Any]) -> str:
    return json.dumps({"instances": list(records)})


def good(**changes: Any) -> dict[str, Any]:
    record = {
        "customer_id": "C1",
        "tenure_months": 12,
        "monthly_charges": 49.9,
        "total_charges": 598.8,
        "plan": "pro",
        "contract": "monthly",
        "payment_method": "card",
        "support_calls": 1,
        "has_partner": "no",
        "paperless_billing": True,
        "region": "north",
        "last_login_days": 3,
    }
    record.update(changes)
    return {name: value for name, value in record.items() if value is not ...}


GOOD_CSV = "12,49.9,598.8,pro,monthly,card,1,no,yes,north,3"

BAD_REQUESTS = [
    ("empty json body", "", "application/json", "the request body is empty"),
    ("blank csv body", " \n\n", "text/csv", "the request body is empty"),
    ("not json", "{'instances': []}", "application/json", "the body is not valid JSON: "),
    ("not utf-8", b'{"instances": ["\xff"]}', "application/json", "the request body is not UTF-8 text"),
    ("a list body", "[]", "application/json", 'the body is a list; expected {"instances": [{feature: value, ...}'),
    ("no instances", json.dumps(good()), "application/json", "the body has no 'instances'"),
    ("other keys", json.dumps({"instances": [good()], "foo": 1}), "application/json", "unknown key 'foo' in the"),
    ("instances not a list", '{"instances": {"a": 1}}', "application/json", "'instances' is an object; expected a"),
    ("no records", '{"instances": []}', "application/json", "the request holds no records"),
    ("a record not an object", instances(good(), [1, 2]), "application/json", "row 1: expected an object of"),
    ("missing feature", instances(good(), good(), good(plan=...)), "application/json", "row 2: missing feature 'plan'"),
    (
        "unknown feature",
        instances(good(tenure_months=..., tenur_months=3)),
        "application/json",
        "row 0: unknown feature 'tenur_months' (did you mean 'tenure_months'?); missing feature 'tenure_months'",
    ),
    ("a list value", instances(good(plan=["pro"])), "application/json", "row 0: plan: expected a single value, got a"),
    (
        "wrong type",
        instances(good(), good(), good(), good(tenure_months="abc")),
        "application/json",
        "row 3: tenure_months: 'abc' is not an integer",
    ),
    ("not an integer", instances(good(support_calls=1.5)), "application/json", "row 0: support_calls: 1.5 is not an"),
    (
        "category outside the schema",
        instances(good(), good(), good(), good(plan="enterprise")),
        "application/json",
        "row 3: plan: 'enterprise' is not one of basic, pro, team",
    ),
    ("not yes/no", instances(good(has_partner="maybe")), "application/json", "row 0: has_partner: 'maybe' is not yes"),
    ("out of range", instances(good(tenure_months=700)), "application/json", "row 0: tenure_months: 700 is above the"),
    (
        "below range",
        instances(good(monthly_charges=-1)),
        "application/json",
        "monthly_charges: -1 is below the minimum",
    ),
    (
        "several problems in several rows",
        instances(good(plan="gold", region="up"), good(), good(last_login_days=-2)),
        "application/json",
        "row 0: plan: 'gold' is not one of basic, pro, team; region: 'up' is not one of north, south, east, west; "
        "row 2: last_login_days: -2 is below the minimum 0",
    ),
    ("csv field count", f"{GOOD_CSV}\n{GOOD_CSV},no\n", "text/csv", "row 1: expected 11 values (tenure_months, "),
    ("csv blank line", f"{GOOD_CSV}\n\n{GOOD_CSV}\n", "text/csv", "row 1: expected 11 values"),
    (
        "csv header",
        "tenure_months,monthly_charges,total_charges,plan,contract,payment_method,support_calls,has_partner,"
        f"paperless_billing,region,last_login_days\n{GOOD_CSV}\n",
        "text/csv",
        "row 0: a header line: text/csv requests have none",
    ),
    ("csv bad value", f"{GOOD_CSV}\n{GOOD_CSV.replace('pro', 'enterprise')}", "text/csv", "row 1: plan: 'enterprise'"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "message"), [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS]
)
def test_a_bad_request_is_400_naming_the_problem_and_row(
    handler: ModuleType, model: Any, body: str | bytes, content_type: str, message: str
) -> None:
    with pytest.raises(handler.BadRequestError) as raised:
        handler.input_fn(body, content_type)
    assert raised.value.status_code == 400
    assert message in str(raised.value)
    status, answer, answer_type = handler.invoke(model, body, content_type, "application/json")
    assert (status, answer_type) == (400, "application/json")
    assert json.loads(answer) == {"error": "BadRequestError", "error-message": str(raised.value)}


def test_the_good_record_and_line_used_above_are_accepted(handler: ModuleType, model: Any) -> None:
    assert handler.invoke(model, instances(good(), good(customer_id=...)), "application/json", None)[0] == 200
    assert handler.invoke(model, f"{GOOD_CSV}\n{GOOD_CSV.replace('12', '')}\n", "text/csv", "text/csv")[0] == 200


def test_at_most_ten_bad_rows_are_listed(handler: ModuleType, model: Any) -> None:
    body = instances(*(good(plan=f"p{n}") for n in range(15)))
    with pytest.raises(handler.BadRequestError) as raised:
        handler.input_fn(body, "application/json")
    assert "row 9: plan: 'p9'" in str(raised.value) and "row 10:" not in str(raised.value)
    assert str(raised.value).endswith("(and 5 more invalid rows)")


def test_more_rows_than_the_limit_is_400(handler: ModuleType, model: Any) -> None:
    assert handler.MAX_ROWS == 1000 == model.max_rows
    handler.input_fn(instances(*[good()] * 1000), "application/json")
    with pytest.raises(handler.BadRequestError, match=r"too many rows: 1001 \(at most 1000 per request"):
        handler.input_fn(instances(*[good()] * 1001), "application/json")
    status, _, _ = handler.invoke(model, "\n".join([GOOD_CSV] * 1001), "text/csv", None)
    assert status == 400


def test_the_row_limit_comes_from_mlops_max_rows(
    handler: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_MAX_ROWS", "3")
    limited = handler.model_fn(str(model_dir))
    assert limited.max_rows == 3
    handler.input_fn("\n".join([GOOD_CSV] * 3), "text/csv")
    with pytest.raises(handler.BadRequestError, match=r"too many rows: 4 \(at most 3 per request"):
        handler.input_fn("\n".join([GOOD_CSV] * 4), "text/csv")


@pytest.mark.parametrize("value", ["0", "-5", "many", "2.5"])
def test_a_bad_mlops_max_rows_stops_model_loading(
    handler: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MLOPS_MAX_ROWS", value)
    with pytest.raises(handler.ModelLoadError, match=f"MLOPS_MAX_ROWS='{value}' is not a positive whole number"):
        handler.model_fn(str(model_dir))


def test_input_fn_before_model_fn_is_a_server_error(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "_loaded", None)
    with pytest.raises(RuntimeError, match="input_fn was called before model_fn"):
        handler.input_fn(instances(good()), "application/json")


def test_model_fn_returns_the_pipeline_schema_and_metadata(handler: ModuleType, model: Any, model_dir: Path) -> None:
    assert model.schema == handler.ms.load_schema(model_dir / "schema.json")
    assert model.metadata == json.loads((model_dir / "metadata.json").read_text())
    assert list(model.pipeline.classes_) == [0, 1] and model.positive_column == 1


@pytest.mark.parametrize("damage", ["no metadata", "no model", "other features"])
def test_model_fn_refuses_an_incomplete_or_inconsistent_folder(
    handler: ModuleType, model_dir: Path, tmp_path: Path, damage: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    if damage == "no metadata":
        (folder / "metadata.json").unlink()
        message = "lacks metadata.json"
    elif damage == "no model":
        (folder / "model.joblib").unlink()
        message = "lacks model.joblib"
    else:
        metadata = json.loads((folder / "metadata.json").read_text())
        metadata["feature_columns"] = metadata["feature_columns"][1:]
        (folder / "metadata.json").write_text(json.dumps(metadata))
        message = "schema.json's features"
    with pytest.raises(handler.ModelLoadError, match=message):
        handler.model_fn(str(folder))


# The single-model server of the scikit-learn image, as sagemaker-containers 2.8.6.post2 runs the user functions:
# Transformer wraps each in _functions.error_wrapper (any exception re-raised as ClientError, which Flask answers
# with 500), and transform() turns a (body, content_type) result into a 200 Response and returns a Response as is.


class ClientError(Exception):
    """sagemaker_containers._errors.ClientError."""


class FakeResponse:
    """sagemaker_containers' worker.Response (a flask.Response): the arguments output_fn passes are kept."""

    def __init__(self, response: Any = None, status: int = 200, mimetype: str | None = None) -> None:
        self.response, self.status, self.mimetype = response, status, mimetype


def error_wrapper(fn: Any) -> Any:
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise ClientError(exc) from exc

    return wrapper


def container_transform(handler: ModuleType, model: Any, body: Any, content_type: str, accept: str) -> FakeResponse:
    data = error_wrapper(handler.input_fn)(body, content_type)
    prediction = error_wrapper(handler.predict_fn)(data, model)
    result = error_wrapper(handler.output_fn)(prediction, accept)
    return FakeResponse(response=result[0], mimetype=result[1]) if isinstance(result, tuple) else result


@pytest.fixture
def single_model_server(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "_flask_worker", SimpleNamespace(Response=FakeResponse))


@pytest.mark.usefixtures("single_model_server")
@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (instances(good(plan="enterprise")), "application/json", "text/csv", 400, "row 0: plan: 'enterprise' is not"),
        ("", "text/csv", "application/json", 400, "the request body is empty"),
        (instances(good()), "application/x-npy", "application/json", 415, "content type 'application/x-npy' is"),
        (instances(good()), "application/json", "image/png", 406, "cannot answer in 'image/png'"),
    ],
)
def test_in_the_single_model_server_errors_are_answered_with_their_status(
    handler: ModuleType, model: Any, body: str, content_type: str, accept: str, status: int, message: str
) -> None:
    response = container_transform(handler, model, body, content_type, accept)
    assert (response.status, response.mimetype) == (status, "application/json")
    error = json.loads(response.response)
    assert message in error["error-message"]
    assert (
        error["error"]
        == {400: "BadRequestError", 415: "UnsupportedContentTypeError", 406: "UnsupportedAcceptError"}[status]
    )


@pytest.mark.usefixtures("single_model_server")
def test_in_the_single_model_server_a_good_request_is_a_200_tuple(
    handler: ModuleType, model: Any, sample: pd.DataFrame, schema: dict[str, Any]
) -> None:
    response = container_transform(handler, model, csv_body(sample.head(4), schema), "text/csv", "text/csv")
    assert (response.status, response.mimetype) == (200, "text/csv")
    assert len(response.response.splitlines()) == 4


def test_without_that_server_a_raised_error_would_be_a_500(handler: ModuleType, model: Any) -> None:
    """Why the handler answers errors itself there: the toolkit hides the raised error's status behind a 500."""
    with pytest.raises(ClientError) as raised:
        container_transform(handler, model, "", "text/csv", "application/json")
    assert raised.value.args[0].status_code == 400


@pytest.mark.usefixtures("single_model_server")
def test_the_multi_model_server_gets_raised_errors_with_their_status(
    handler: ModuleType, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Multi Model Server (SAGEMAKER_MULTI_MODEL) answers a raised BaseInferenceToolkitError with status_code and
    message, so there the handler raises even though sagemaker-containers is importable."""
    monkeypatch.setenv("SAGEMAKER_MULTI_MODEL", "true")
    with pytest.raises(handler.BadRequestError) as raised:
        handler.input_fn("", "text/csv")
    assert (raised.value.status_code, raised.value.message) == (400, "the request body is empty")
    assert raised.value.phrase == raised.value.message


# ---------------------------------------------------------------------------------- multiclass and regression


@pytest.fixture(scope="module")
def multiclass_served(multiclass_trained: JobResult) -> Iterator[tuple[ModuleType, Any]]:
    """The multiclass model's own code/inference.py, and the model its model_fn loaded."""
    model_dir = multiclass_trained.opt_ml / "model"
    with imported_handler(model_dir / "code") as module:
        yield module, module.model_fn(str(model_dir))


@pytest.fixture(scope="module")
def regression_served(regression_trained: JobResult) -> Iterator[tuple[ModuleType, Any]]:
    model_dir = regression_trained.opt_ml / "model"
    with imported_handler(model_dir / "code") as module:
        yield module, module.model_fn(str(model_dir))


def task_sample(preprocessed: JobResult) -> pd.DataFrame:
    return read_output(preprocessed, "test").head(ROWS)


def expected_classes(pipeline: Any, rows: pd.DataFrame, schema: dict[str, Any]) -> tuple[list[str], list[dict]]:
    """The pipeline's own predict (as text) and predict_proba (by class name) on the rows."""
    x = plain_features(rows, schema)
    names = [str(name) for name in pipeline.classes_]
    probabilities = [dict(zip(names, row, strict=True)) for row in pipeline.predict_proba(x)]
    return [str(label) for label in pipeline.predict(x)], probabilities


def check_multiclass(predictions: list[dict[str, Any]], labels: list[str], probabilities: list[dict]) -> None:
    assert len(predictions) == len(labels)
    for prediction, label, expected in zip(predictions, labels, probabilities, strict=True):
        assert prediction["label"] == label
        assert list(prediction["probabilities"]) == SEGMENTS  # every class, in the schema's declared order
        for name in SEGMENTS:
            assert prediction["probabilities"][name] == pytest.approx(expected.get(name, 0.0), abs=5e-7)
            assert prediction["probabilities"][name] == round(prediction["probabilities"][name], 6)


def test_multiclass_json_answers_the_label_and_every_class_probability(
    multiclass_served: tuple[ModuleType, Any], multiclass_preprocessed: JobResult
) -> None:
    handler, model = multiclass_served
    schema = generated_schema("multiclass")
    sample = task_sample(multiclass_preprocessed)
    body, content_type = serve(handler, model, json_body(sample, schema), "application/json", "application/json")
    assert content_type == "application/json"
    predictions = json.loads(body)["predictions"]
    labels, probabilities = expected_classes(model.pipeline, sample, schema)
    check_multiclass(predictions, labels, probabilities)
    assert [p["id"] for p in predictions] == list(sample["id"])
    assert [set(p) for p in predictions] == [{"id", "label", "probabilities"}] * len(sample)
    assert set(labels) == set(SEGMENTS)  # the sample covers every class


def test_multiclass_csv_lines_are_the_label_then_the_probabilities_in_class_order(
    multiclass_served: tuple[ModuleType, Any], multiclass_preprocessed: JobResult
) -> None:
    handler, model = multiclass_served
    schema = generated_schema("multiclass")
    sample = task_sample(multiclass_preprocessed)
    body, content_type = serve(handler, model, csv_body(sample, schema), "text/csv", "text/csv")
    assert content_type == "text/csv" and body.endswith("\n")
    lines = [line.split(",") for line in body.splitlines()]
    assert all(len(fields) == 1 + len(SEGMENTS) for fields in lines)
    assert all(len(value.split(".")[1]) == 6 for fields in lines for value in fields[1:])
    answered = [{"label": f[0], "probabilities": dict(zip(SEGMENTS, map(float, f[1:]), strict=True))} for f in lines]
    check_multiclass(answered, *expected_classes(model.pipeline, sample, schema))


def test_regression_answers_the_model_value_in_json_and_csv(
    regression_served: tuple[ModuleType, Any], regression_preprocessed: JobResult
) -> None:
    handler, model = regression_served
    schema = generated_schema("regression")
    sample = task_sample(regression_preprocessed)
    expected = model.pipeline.predict(plain_features(sample, schema))
    body, _ = serve(handler, model, json_body(sample, schema), "application/json", None)
    predictions = json.loads(body)["predictions"]
    assert [set(p) for p in predictions] == [{"id", "value"}] * len(sample)
    assert [p["id"] for p in predictions] == list(sample["id"])
    assert [p["value"] for p in predictions] == [round(float(v), 6) for v in expected]
    body, content_type = serve(handler, model, csv_body(sample, schema), "text/csv", "text/csv")
    assert content_type == "text/csv"
    assert body == "".join(f"{v:.6f}\n" for v in expected)
    assert len(set(body.splitlines())) > len(sample) // 2  # values, not one constant


def test_a_task_request_is_checked_against_its_schema(
    multiclass_served: tuple[ModuleType, Any], regression_served: tuple[ModuleType, Any]
) -> None:
    for handler, model in (multiclass_served, regression_served):
        record = {"size": 80.5, "rooms": 12, "colour": "red", "garden": "no"}
        status, body, _ = handler.invoke(model, instances(record), "application/json", None)
        assert status == 400
        assert json.loads(body)["error-message"] == "row 0: rooms: 12 is above the maximum 9"


@pytest.fixture
def own_model(
    multiclass_served: tuple[ModuleType, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[ModuleType, Path]]:
    """The handler and a fresh folder for a user's model; the model the handler had loaded is put back after."""
    handler, _ = multiclass_served
    monkeypatch.setattr(handler, "_loaded", handler._loaded)
    yield handler, tmp_path / "model"


def test_a_multiclass_model_that_never_saw_a_class_gives_it_probability_zero(
    own_model: tuple[ModuleType, Path], multiclass_preprocessed: JobResult
) -> None:
    """A user's model in the contract (metadata.json with task and classes only, no feature_columns) that was
    trained without the 'high' rows."""
    handler, folder = own_model
    schema = generated_schema("multiclass")
    train = read_output(multiclass_preprocessed, "train")
    train = train[train["segment"] != "high"]
    metadata = {"task": "multiclass", "classes": ["low", "mid"]}
    pipeline = write_user_model(
        folder, LogisticRegression(max_iter=500), plain_features(train, schema), train["segment"], schema, metadata
    )
    model = handler.model_fn(str(folder))
    sample = task_sample(multiclass_preprocessed)
    body, _ = serve(handler, model, json_body(sample, schema, with_key=False), "application/json", None)
    predictions = json.loads(body)["predictions"]
    check_multiclass(predictions, *expected_classes(pipeline, sample, schema))
    assert all(p["probabilities"]["high"] == 0.0 for p in predictions)
    assert {p["label"] for p in predictions} == {"low", "mid"}


@pytest.mark.parametrize("learned", ["0/1", "names"])
def test_a_binary_category_target_answers_with_its_class_names(
    own_model: tuple[ModuleType, Path], multiclass_preprocessed: JobResult, learned: str
) -> None:
    """Binary with a 2-valued category target: the label is the positive label or the other class, by P(positive),
    whether the model learned 0/1 (as mlops_schema.labels gives them) or the class names themselves."""
    handler, folder = own_model
    schema = generated_schema("multiclass")
    schema["columns"][-1] = {**schema["columns"][-1], "values": ["other", "top"]}
    schema.update(task="binary", classes=["other", "top"], positive_label="top")
    train = read_output(multiclass_preprocessed, "train")
    positive = (train["segment"] == "high").to_numpy()
    y = positive.astype(int) if learned == "0/1" else np.where(positive, "top", "other")
    metadata = {"task": "binary", "classes": ["other", "top"], "positive_label": "top"}
    pipeline = write_user_model(
        folder, LogisticRegression(max_iter=500), plain_features(train, schema), y, schema, metadata
    )
    model = handler.model_fn(str(folder))
    sample = task_sample(multiclass_preprocessed)
    body, _ = serve(handler, model, csv_body(sample, schema), "text/csv", "application/json")
    predictions = json.loads(body)["predictions"]
    expected = pipeline.predict_proba(plain_features(sample, schema))[:, 1]  # classes_ sorted: other, top
    assert [p["probability"] for p in predictions] == [round(float(v), 6) for v in expected]
    assert [p["label"] for p in predictions] == ["top" if v >= 0.5 else "other" for v in expected]
    assert {p["label"] for p in predictions} == {"top", "other"}


@pytest.mark.parametrize("damage", ["classes in another order", "another task", "other features"])
def test_model_fn_refuses_a_multiclass_model_whose_files_disagree(
    own_model: tuple[ModuleType, Path], multiclass_trained: JobResult, damage: str
) -> None:
    handler, folder = own_model
    shutil.copytree(multiclass_trained.opt_ml / "model", folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    if damage == "classes in another order":
        metadata["classes"] = SEGMENTS  # predict_proba's columns are sorted: high, low, mid
        message = r"the model's classes \['high', 'low', 'mid'\] differ from metadata.json's classes \['low', 'mid'"
    elif damage == "another task":
        metadata["task"] = "regression"
        message = "metadata.json's task 'regression' differs from schema.json's 'multiclass'"
    else:  # without feature_columns, the pipeline's own feature names are compared
        del metadata["feature_columns"]
        schema = json.loads((folder / "schema.json").read_text())
        schema["columns"][1]["name"] = "area"
        (folder / "schema.json").write_text(json.dumps(schema))
        message = "differ from the model's feature_names_in_"
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(handler.ModelLoadError, match=message):
        handler.model_fn(str(folder))
