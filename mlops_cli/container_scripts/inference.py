"""Inference handler for SageMaker's prebuilt scikit-learn serving container (and the project's local emulator).

It travels inside model.tar.gz as code/inference.py, next to the mlops_*.py modules it imports; train.py puts it
there. The container (SAGEMAKER_PROGRAM=inference.py, SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code) imports it and
calls, per worker process, `model_fn(model_dir)` once, then per request
`output_fn(predict_fn(input_fn(body, content_type), model), accept)`.

Requests (content types compared without parameters and case-insensitively: `application/json; charset=utf-8` is
application/json; no Content-Type at all is application/json, as in the container):
    application/json   {"instances": [{"tenure_months": 12, "plan": "pro", ...}, ...]} and nothing else: one
                       shape, also for a single record (a one-element list). Each record carries every feature of
                       the schema (null or "" = missing); it may also carry the key (customer_id), which is echoed
                       back, and the target, which is ignored. Any other field is an error (usually a typo).
                       Numbers may be JSON numbers or strings; bool features take yes/no, true/false (also JSON
                       booleans) or 1/0.
    text/csv           one record per line, no header: exactly the feature columns in schema order (schema.json's
                       columns without the key and the target), values as in the raw data (yes/no, category
                       names, numbers; an empty field = missing). Trailing line breaks are ignored; a blank line
                       elsewhere is a record with the wrong number of values.
    JSON is read strictly: NaN and Infinity are not JSON (null is the missing value), and a body nested deeper than
    the parser's stack, text with a lone surrogate (a `\\ud800` escape) or a gzip-compressed body (SageMaker passes
    no Content-Encoding to the container) is refused. A record's unknown fields are named up to LISTED_FIELDS, with
    a closest-name hint for the first SUGGESTED_FIELDS of the request: the work per request stays small whatever
    the body holds.
    Values are checked with mlops_schema, the rules preprocessing applied to the training data. A request holds 1 to
    MAX_ROWS records (1000; the environment variable MLOPS_MAX_ROWS of the model overrides it). Rows are counted
    from 0: `instances[3]`, or the fourth line of a CSV body, is "row 3". input_fn receives no model, so it checks
    against the schema of the model that model_fn last loaded in this process (both servers load one model per
    worker process).

Responses (Accept: application/json, text/csv, */*, application/* → JSON, text/* → CSV; none or empty → JSON; a
list with q-values picks the preferred supported type), one prediction per record, in request order, by the
schema's task (schema.json's `task`; a model from before tasks is binary):
    binary             JSON {"predictions": [{"customer_id": "C0001", "label": "yes", "probability": 0.812345}, ...]}
                       (customer_id, the schema's key, only for records that carried it); probability is
                       P(label = positive_label), 6 decimals; label is the positive label ("yes" for a bool target)
                       when that probability (unrounded) is at least mlops_metrics.THRESHOLD (0.5), else the other
                       class. CSV: one line per record, `label,probability` (yes,0.812345), no header.
    multiclass         JSON {"predictions": [{"customer_id": "C0001", "label": "gold",
                       "probabilities": {"bronze": 0.1, "silver": 0.2, "gold": 0.7}}, ...]}: every class of the
                       schema, in its declared order, 6 decimals (0 for a class the model never saw in training);
                       label is the most probable class (the model's first on a tie, as its predict). CSV:
                       `label,p1,p2,...` (gold,0.100000,0.200000,0.700000), the probabilities in that class order.
    regression         JSON {"predictions": [{"customer_id": "C0001", "value": 12.345678}, ...]}: the model's
                       prediction, 6 decimals. CSV: one line per record, the value (12.345678).

Errors: every problem of the request raises an InferenceError subclass carrying `status_code` and `message`:
    BadRequestError             400  empty, compressed or non-UTF-8 body, not (strict) JSON, wrong shape, too many
                                     rows, a record that breaks the schema: "row 3: plan: 'enterprise' is not one
                                     of basic, pro, team"
                                     (up to 10 rows listed, each with all its problems)
    UnsupportedContentTypeError 415  a Content-Type other than application/json or text/csv
    UnsupportedAcceptError      406  an Accept that allows neither application/json nor text/csv
Anything else (a broken model folder, a bug) is a server error: 500.

How the scikit-learn image turns these into HTTP statuses, from its source (sagemaker-scikit-learn-container
src/sagemaker_sklearn_container/serving.py; sagemaker-containers 2.8.6.post2, which the image pins,
src/sagemaker_containers/_transformer.py, _functions.py, _worker.py):
  - single-model endpoints (the default; Flask behind gunicorn): Transformer wraps every user function in
    `_functions.error_wrapper`, which re-raises ANY exception as `_errors.ClientError`. Its `except
    UnsupportedFormatError` (the 415/406 answers with a {"error", "error-message", "stack-trace"} body) therefore only
    catches errors of its own default handlers, and an exception from our functions reaches Flask as a ClientError:
    HTTP 500 with Flask's HTML "Internal Server Error" page, the message lost (InvokeEndpoint reports ModelError 424,
    OriginalStatusCode 500). A handler cannot choose the status by raising. What it can do: output_fn may return a
    Response object (`worker.Response`, a flask.Response) instead of a `(body, content_type)` tuple, and
    `Transformer.transform` returns it as it is, status included. So, where that server runs, input_fn and
    output_fn do not raise an InferenceError: input_fn returns it wrapped, predict_fn passes it on, and output_fn
    answers it with a Response of its status and the JSON body {"error": "<class>", "error-message": "<message>"}
    (the shape the toolkit's own 415/406 answers use). InvokeEndpoint then raises ModelError with
    OriginalStatusCode 400/415/406 and that body as OriginalMessage.
  - multi-model endpoints (SAGEMAKER_MULTI_MODEL set; Multi Model Server with the image's
    mms_patch/mms_transformer.py): an exception that is a sagemaker_inference BaseInferenceToolkitError is answered
    with its `status_code` and `message`; InferenceError subclasses it there, and the functions raise.
  - anywhere else (our venv, the local emulator), the functions raise InferenceError.

model_fn refuses a model folder that does not hang together (ModelLoadError, so the endpoint never serves wrong
answers): a file missing, schema.json's features (metadata.json's feature_columns, else the pipeline's
feature_names_in_ when it has them) or task not the trained model's, a binary model that never learned
the positive class (1, or its name), a multiclass model whose classes_ are not metadata.json's classes (as text) or not the
target's values, a regression model without predict.

The local emulator serves the same functions: call `model_fn(model_dir)` once, then per request
`input_fn` → `predict_fn` → `output_fn` and answer an InferenceError with `error_response(error)` (status, body,
content type), or simply call `invoke(model, body, content_type, accept)`, which does exactly that and returns
(status, body, content type) for every outcome but a server error.

Imports only the standard library, pandas, scikit-learn, joblib and the bundled mlops_* modules (numpy through
them): the image's packages; the toolkits only inside try/except, so the module imports anywhere. Python 3.9 syntax.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import mlops_schema as ms
import pandas as pd
import sklearn
from mlops_metrics import THRESHOLD

try:  # present in the scikit-learn image; its Multi Model Server answers these errors with their status
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # our venv and the local emulator

    class _ToolkitError(Exception):  # type: ignore[no-redef]
        """Stand-in for sagemaker_inference's base class: an error that carries its HTTP status."""


try:  # the image's single-model server (sagemaker-containers): only a returned Response can set the status
    from sagemaker_containers.beta.framework import worker as _flask_worker
except ImportError:
    _flask_worker = None

JSON = "application/json"
CSV = "text/csv"
ANY = "*/*"
MAX_ROWS = 1000
MAX_ROWS_ENV = "MLOPS_MAX_ROWS"
DECIMALS = 6
LISTED_ROWS = 10  # an error message names at most this many bad rows
LISTED_FIELDS = 5  # ... and at most this many unknown fields of a record
SUGGESTED_FIELDS = 5  # closest-name suggestions per request: difflib costs milliseconds a field
SHOWN_CHARACTERS = 100  # of a name an error message repeats
GZIP_MAGIC = b"\x1f\x8b"
COMPRESSED = "the request body is gzip-compressed: send it uncompressed (no Content-Encoding)"
MODEL_FILES = ("model.joblib", "schema.json", "metadata.json")
# Accept media ranges → the response type they allow (a wildcard picks JSON, the default).
ACCEPTED = {JSON: JSON, CSV: CSV, ANY: JSON, "application/*": JSON, "text/*": CSV}
JSON_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}

logger = logging.getLogger(__name__)


class InferenceError(_ToolkitError):
    """A request the handler will not serve; `status_code` is the HTTP status, `message` says what to fix."""

    status_code = 500

    def __init__(self, message: str) -> None:
        # sagemaker_inference's __init__ would put (status, message, phrase) in args; str(error) stays the message.
        Exception.__init__(self, message)
        self.message = message
        self.phrase = message  # what Multi Model Server sends as the reason phrase

    def __str__(self) -> str:
        return self.message


class BadRequestError(InferenceError):
    """The body cannot be read, has the wrong shape or size, or a record breaks the schema."""

    status_code = 400


class UnsupportedContentTypeError(InferenceError):
    """The request's Content-Type is neither application/json nor text/csv."""

    status_code = 415


class UnsupportedAcceptError(InferenceError):
    """The request's Accept allows neither application/json nor text/csv."""

    status_code = 406


class ModelLoadError(Exception):
    """The model folder is incomplete or inconsistent: the endpoint must not start serving wrong answers."""


@dataclass(frozen=True)
class Model:
    """What model_fn returns: the fitted pipeline and what is needed to check requests for it."""

    pipeline: Any
    schema: ms.Schema
    metadata: dict[str, Any]
    max_rows: int = MAX_ROWS

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def positive_column(self) -> int:
        """Binary: predict_proba's column for label 1 (mlops_schema.labels' positive label), or for the positive
        label's name when the model learned the names themselves: found by class, not assumed to be the last."""
        learned = list(self.pipeline.classes_)
        if 1 in learned:
            return learned.index(1)
        return [str(name) for name in learned].index(str(self.schema.positive_label))

    @property
    def learned_classes(self) -> list[str]:
        """Multiclass: the pipeline's classes_ as text, predict_proba's column order."""
        return [str(name) for name in self.pipeline.classes_]


class _NoKey:
    """Marks a record that did not carry the key: nothing to echo back (None would be an echoed null)."""

    def __repr__(self) -> str:
        return "NO_KEY"


NO_KEY = _NoKey()


@dataclass(frozen=True)
class Batch:
    """What input_fn returns: the checked records as the pipeline takes them, and the key each one carried."""

    features: pd.DataFrame
    keys: tuple[Any, ...]


@dataclass(frozen=True)
class Deferred:
    """An InferenceError carried from input_fn through predict_fn to output_fn, which answers it with its status
    (on the single-model server, where raising would only ever give a 500)."""

    error: InferenceError


_loaded: Model | None = None  # set by model_fn: input_fn gets no model argument, yet needs the schema


# ---------------------------------------------------------------------------------------------------------- model_fn


def model_fn(model_dir: str) -> Model:
    """Load model.joblib with the schema and metadata train.py saved next to it, and check they belong together."""
    global _loaded
    folder = Path(model_dir)
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(f"{folder} lacks {', '.join(missing)}: use a model.tar.gz written by train.py")
    schema = ms.load_schema(folder / "schema.json")
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    if "feature_columns" in metadata:  # train.py records them; a user's own training script may not
        _check_features(schema, metadata["feature_columns"], "the trained model's")
    _warn_on_version_skew(metadata)
    model = Model(joblib.load(folder / "model.joblib"), schema, metadata, max_rows_setting())
    if "feature_columns" not in metadata and hasattr(model.pipeline, "feature_names_in_"):
        _check_features(schema, list(model.pipeline.feature_names_in_), "the model's feature_names_in_")
    _check_model(model)
    _loaded = model
    return model


def _check_model(model: Model) -> None:
    """The pipeline answers what the task needs: P(1) for binary, the metadata's classes for multiclass, a value
    for regression."""
    task = model.metadata.get("task", "binary")  # models from before tasks were all binary
    if task != model.task:
        raise ModelLoadError(f"metadata.json's task '{task}' differs from schema.json's '{model.task}'")
    if model.task == "regression":
        if not callable(getattr(model.pipeline, "predict", None)):
            raise ModelLoadError("the regression model has no predict method")
        return
    learned = list(getattr(model.pipeline, "classes_", []))
    if model.task == "binary":
        if 1 not in learned and model.schema.positive_label not in [str(name) for name in learned]:
            raise ModelLoadError(
                f"the model's classes are {learned}: it never learned '{model.schema.positive_label}' (1)"
            )
        return
    recorded = [str(name) for name in model.metadata.get("classes") or []]
    if model.learned_classes != recorded:
        raise ModelLoadError(
            f"the model's classes {model.learned_classes} differ from metadata.json's classes {recorded}"
        )
    unknown = [name for name in recorded if name not in model.schema.classes]
    if unknown:
        raise ModelLoadError(f"the model's classes {unknown} are not the target's values {list(model.schema.classes)}")


def _check_features(schema: ms.Schema, trained: list[str], source: str) -> None:
    """A schema.json swapped after training would make the handler accept records the pipeline cannot read."""
    expected = [column.name for column in schema.features]
    if [str(name) for name in trained] != expected:
        raise ModelLoadError(f"schema.json's features {expected} differ from {source} {trained}")


def _warn_on_version_skew(metadata: dict[str, Any]) -> None:
    """A pickle from another scikit-learn version may load yet predict differently: say so in the endpoint's log."""
    trained = metadata.get("sklearn_version")
    if trained and trained != sklearn.__version__:
        logger.warning("model trained with scikit-learn %s, served with %s", trained, sklearn.__version__)


def max_rows_setting() -> int:
    """MAX_ROWS, or MLOPS_MAX_ROWS from the model's environment; a bad value stops model loading, not requests."""
    text = os.environ.get(MAX_ROWS_ENV, "").strip()
    if not text:
        return MAX_ROWS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ModelLoadError(f"{MAX_ROWS_ENV}={text!r} is not a positive whole number of rows")
    return value


def _current_model() -> Model:
    if _loaded is None:
        raise RuntimeError("input_fn was called before model_fn: the request schema is not loaded")
    return _loaded


# ---------------------------------------------------------------------------------------------------------- input_fn


def input_fn(request_body: str | bytes, request_content_type: str | None) -> Batch | Deferred:
    """Read and check the request against the schema bundled with the model model_fn loaded (see the module doc)."""
    try:
        return parse_request(request_body, request_content_type, _current_model())
    except InferenceError as error:
        if _response_class() is None:
            raise
        return Deferred(error)


def parse_request(body: str | bytes, content_type: str | None, model: Model) -> Batch:
    """The records of a request, checked and converted; raises an InferenceError naming every problem."""
    kind = media_type(content_type) or JSON  # no Content-Type: the container assumes JSON too
    if kind not in (JSON, CSV):
        raise UnsupportedContentTypeError(f"content type '{content_type}' is not supported: send {JSON} or {CSV}")
    text = _body_text(body)
    if not text.strip():
        raise BadRequestError("the request body is empty")
    reader = _read_json if kind == JSON else _read_csv
    frame, keys, problems = reader(text, model.schema, model.max_rows)
    clean = _checked(frame, model.schema, problems)
    return Batch(ms.model_inputs(clean, model.schema), keys)


def media_type(header: str | None) -> str:
    """`Application/JSON; charset=utf-8` → `application/json`: the parameters do not change how we read it."""
    return (header or "").split(";", 1)[0].strip().lower()


def _body_text(body: str | bytes | bytearray) -> str:
    """The container hands over text only when the Content-Type is exactly application/json or text/csv (decoded
    from UTF-8 with replacement: werkzeug's get_data(as_text=True)), bytes otherwise."""
    if isinstance(body, str):
        # The container decodes the two text types itself, each invalid byte becoming U+FFFD: a request meant
        # that character no more than it meant a gzip header
        if body.startswith("\x1f\ufffd"):
            raise BadRequestError(COMPRESSED)
        if "\ufffd" in body:
            raise BadRequestError(
                "the request body is not UTF-8 text (it holds U+FFFD, the mark of bytes that are not)"
            )
        return body
    data = bytes(body)
    if data.startswith(GZIP_MAGIC):
        # SageMaker passes no Content-Encoding to the container: a compressed body arrives as it was sent
        raise BadRequestError(COMPRESSED)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"the request body is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _check_row_count(count: int, limit: int) -> None:
    if count == 0:
        raise BadRequestError("the request holds no records")
    if count > limit:
        raise BadRequestError(f"too many rows: {count} (at most {limit} per request; send the rest in more requests)")


Problems = dict[int, str]  # row number → what is wrong with it (several problems joined with "; ")


def _read_json(text: str, schema: ms.Schema, limit: int) -> tuple[pd.DataFrame, tuple[Any, ...], Problems]:
    """{"instances": [...]} → (records with a valid structure, every record's key, structural problems by row)."""
    document = _parse_json(text)
    instances = _instances(document)
    _check_row_count(len(instances), limit)
    problems: Problems = {}
    rows, records = [], []
    names = frozenset(schema.names)
    suggestions = [SUGGESTED_FIELDS]  # left for this request
    for row, record in enumerate(instances):
        found = _record_problems(record, schema, names, suggestions)
        if found:
            problems[row] = ms.SEPARATOR.join(found)
        else:
            rows.append(row)
            records.append([record[column.name] for column in schema.features])
    names = [column.name for column in schema.features]
    frame = pd.DataFrame(records, columns=names, index=rows, dtype=object)
    keys = tuple(record.get(schema.key, NO_KEY) if isinstance(record, dict) else NO_KEY for record in instances)
    return frame, keys, problems


def _parse_json(text: str) -> Any:
    """The JSON document, strictly: NaN and Infinity are not JSON (Python's parser would take them, and a NaN
    feature would pass as a missing value), and nesting deeper than the parser's stack is a client's error."""
    try:
        return json.loads(text, parse_constant=_not_json)
    except RecursionError as exc:
        raise BadRequestError(
            'the body is not valid JSON for a request: it is nested too deeply (a request is {"instances": '
            "[{feature: value, ...}, ...]}: three levels)"
        ) from exc
    except ValueError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from exc


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value (send null for a missing value)")


def _instances(document: Any) -> list[Any]:
    shape = '{"instances": [{feature: value, ...}, ...]}'
    if not isinstance(document, dict):
        raise BadRequestError(f"the body is {_json_type(document)}; expected {shape}")
    if "instances" not in document:
        raise BadRequestError(f"the body has no 'instances'; expected {shape}")
    extra = [key for key in document if key != "instances"]
    if extra:
        more = f" and {len(extra) - LISTED_FIELDS} more" if len(extra) > LISTED_FIELDS else ""
        shown = _quoted(sorted(_shortened(key) for key in extra[:LISTED_FIELDS]))
        raise BadRequestError(f"unknown key {shown}{more} in the body; expected only {shape}")
    instances = document["instances"]
    if not isinstance(instances, list):
        raise BadRequestError(f"'instances' is {_json_type(instances)}; expected a list of records: {shape}")
    return instances


def _record_problems(record: Any, schema: ms.Schema, names: frozenset[str], suggestions: list[int]) -> list[str]:
    """What makes a record unusable before its values are judged: not an object, unknown or missing fields, lists,
    text that is not Unicode. `suggestions` holds how many closest-name hints the request may still get."""
    if not isinstance(record, dict):
        return [f"expected an object of feature values, got {_json_type(record)}"]
    unknown = [name for name in record if name not in names]
    problems = [_unknown_field(name, schema, suggestions) for name in unknown[:LISTED_FIELDS]]
    if len(unknown) > LISTED_FIELDS:
        problems.append(f"and {len(unknown) - LISTED_FIELDS} more unknown features")
    problems += [f"missing feature '{column.name}'" for column in schema.features if column.name not in record]
    for name in [*(column.name for column in schema.features), schema.key]:
        value = record.get(name)
        if isinstance(value, (dict, list)):
            problems.append(f"{name}: expected a single value, got {_json_type(value)}")
        elif isinstance(value, str) and not _is_unicode(value):
            problems.append(f"{name}: {json.dumps(value)} is not Unicode text (it holds a lone surrogate)")
    return problems


def _is_unicode(text: str) -> bool:
    """False for text with a lone surrogate: JSON's \\ud800 escapes can make one, UTF-8 cannot carry it."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unknown_field(name: str, schema: ms.Schema, suggestions: list[int]) -> str:
    """A misspelt feature would otherwise leave the real one missing; suggest the closest name (for the first few
    unknown fields of a request only: a body of half a million unknown fields must not cost seconds)."""
    if suggestions[0] <= 0:
        return f"unknown feature '{_shortened(name)}'"
    suggestions[0] -= 1
    close = difflib.get_close_matches(name[:SHOWN_CHARACTERS], [column.name for column in schema.features], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown feature '{_shortened(name)}'{hint}"


def _shortened(text: str) -> str:
    """A name as an error message shows it: a megabyte-long field name is not repeated back in full."""
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "..."


def _read_csv(text: str, schema: ms.Schema, limit: int) -> tuple[pd.DataFrame, tuple[Any, ...], Problems]:
    """Header-less lines of the feature columns in schema order → (rows with the right field count, no keys,
    field-count problems by row)."""
    names = [column.name for column in schema.features]
    try:
        lines = list(csv.reader(io.StringIO(text.rstrip("\r\n"))))
    except csv.Error as exc:
        raise BadRequestError(f"the body is not valid CSV: {exc}") from exc
    _check_row_count(len(lines), limit)
    problems: Problems = {}
    rows, records = [], []
    for row, fields in enumerate(lines):
        if [field.strip() for field in fields] == names:
            problems[row] = f"a header line: text/csv requests have none, only values in the order {', '.join(names)}"
        elif len(fields) != len(names):
            problems[row] = f"expected {len(names)} values ({', '.join(names)}), got {len(fields)}"
        else:
            rows.append(row)
            records.append(fields)
    frame = pd.DataFrame(records, columns=names, index=rows, dtype=object)
    return frame, (NO_KEY,) * len(lines), problems


def _checked(frame: pd.DataFrame, schema: ms.Schema, problems: Problems) -> pd.DataFrame:
    """Judge the values with the preprocessing rules; raise one 400 naming every bad row (the first ten)."""
    clean, rejects = ms.validate(frame, schema, require_target=False, require_key=False)
    for row, reason in rejects[ms.REJECT_REASON].items():
        problems[int(row)] = reason
    if problems:
        raise BadRequestError(_describe(problems))
    return clean


def _describe(problems: Problems) -> str:
    """One line naming each bad row in order, `row 3: plan: 'enterprise' is not one of basic, pro, team; row 7: ...`,
    the first LISTED_ROWS of them: a client fixes its batch from this message alone."""
    rows = sorted(problems)
    text = "; ".join(f"row {row}: {problems[row]}" for row in rows[:LISTED_ROWS])
    more = len(rows) - LISTED_ROWS
    return f"{text} (and {more} more invalid rows)" if more > 0 else text


def _json_type(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


# -------------------------------------------------------------------------------------------------------- predict_fn


def predict_fn(input_data: Batch | Deferred, model: Model) -> list[dict[str, Any]] | Deferred:
    """The task's prediction for every record (see the module doc), the key echoed back when the record carried
    it."""
    if isinstance(input_data, Deferred):
        return input_data
    return predict(input_data, model)


def predict(batch: Batch, model: Model) -> list[dict[str, Any]]:
    if model.task == "multiclass":
        answers = _multiclass(batch, model)
    elif model.task == "regression":
        answers = _regression(batch, model)
    else:
        answers = _binary(batch, model)
    predictions = []
    for row, answer in enumerate(answers):
        prediction: dict[str, Any] = {}
        if batch.keys[row] is not NO_KEY:
            prediction[model.schema.key] = batch.keys[row]
        prediction.update(answer)
        predictions.append(prediction)
    return predictions


def _binary(batch: Batch, model: Model) -> list[dict[str, Any]]:
    probabilities = model.pipeline.predict_proba(batch.features)[:, model.positive_column]
    negative, positive = model.schema.classes
    return [
        {"label": positive if p >= THRESHOLD else negative, "probability": round(float(p), DECIMALS)}
        for p in probabilities
    ]


def _multiclass(batch: Batch, model: Model) -> list[dict[str, Any]]:
    learned = model.learned_classes
    probabilities = model.pipeline.predict_proba(batch.features)
    columns = {name: learned.index(name) for name in model.schema.classes if name in learned}
    answers = []
    for row in probabilities:
        shown = {
            name: round(float(row[columns[name]]), DECIMALS) if name in columns else 0.0
            for name in model.schema.classes
        }
        answers.append({"label": learned[int(row.argmax())], "probabilities": shown})
    return answers


def _regression(batch: Batch, model: Model) -> list[dict[str, Any]]:
    values = [float(value) for value in model.pipeline.predict(batch.features)]
    if not all(math.isfinite(value) for value in values):  # JSON has no NaN: a model fault, a server error
        raise ValueError("the model predicted a value that is not a finite number")
    return [{"value": round(value, DECIMALS)} for value in values]


# --------------------------------------------------------------------------------------------------------- output_fn


def output_fn(prediction: list[dict[str, Any]] | Deferred, accept: str | None) -> Any:
    """(body, content type) in the type the client accepts; an error answered with its status where the server
    needs a Response object for that (see the module doc)."""
    if isinstance(prediction, Deferred):
        return _status_response(prediction.error)
    try:
        return render(prediction, accept)
    except InferenceError as error:
        if _response_class() is None:
            raise
        return _status_response(error)


def render(predictions: list[dict[str, Any]], accept: str | None) -> tuple[str, str]:
    kind = response_type(accept)
    if kind == CSV:
        return "".join(_csv_line(p) + "\n" for p in predictions), CSV
    return json.dumps({"predictions": predictions}), JSON


def _csv_line(prediction: dict[str, Any]) -> str:
    """`label,probability` (binary), `label,p1,p2,...` (multiclass), `value` (regression); the key is not echoed."""
    if "value" in prediction:
        return f"{prediction['value']:.{DECIMALS}f}"
    if "probabilities" in prediction:
        shown = ",".join(f"{p:.{DECIMALS}f}" for p in prediction["probabilities"].values())
        return f"{_csv_field(prediction['label'])},{shown}"
    return f"{_csv_field(prediction['label'])},{prediction['probability']:.{DECIMALS}f}"


def _csv_field(text: str) -> str:
    """A class name as one CSV field: quoted when it holds a comma, a quote or a line break."""
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def response_type(accept: str | None) -> str:
    """JSON or CSV from an Accept header (`text/csv`, `*/*`, `text/csv;q=0.5, application/json`); 406 otherwise."""
    if not (accept or "").strip():
        return JSON
    for media in _media_ranges(accept or ""):
        if media in ACCEPTED:
            return ACCEPTED[media]
    raise UnsupportedAcceptError(f"cannot answer in '{accept}': accept {JSON} or {CSV}")


def _media_ranges(accept: str) -> list[str]:
    """The media ranges of an Accept header, most preferred first (by q, then in order), q=0 ones left out."""
    weighted = []
    for part in accept.split(","):
        media, _, parameters = part.partition(";")
        weighted.append((_quality(parameters), media.strip().lower()))
    ordered = sorted(weighted, key=lambda item: -item[0])  # stable: equal q keep their order
    return [media for quality, media in ordered if quality > 0]


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0


# ------------------------------------------------------------------------------------------------- errors, invoke


def error_response(error: InferenceError) -> tuple[int, str, str]:
    """(status, body, content type) for an InferenceError: what the container's Response and our server send."""
    body = json.dumps({"error": type(error).__name__, "error-message": error.message})
    return error.status_code, body, JSON


def invoke(model: Model, body: str | bytes, content_type: str | None, accept: str | None) -> tuple[int, str, str]:
    """One /invocations request for the local emulator's server: (status, body, content type). The checks run
    in the container's order (content type, body, records, accept); an exception other than InferenceError
    propagates (a 500)."""
    try:
        predictions = predict(parse_request(body, content_type, model), model)
        answer, answer_type = render(predictions, accept)
    except InferenceError as error:
        return error_response(error)
    return 200, answer, answer_type


def _response_class() -> Any:
    """flask Response of the single-model server, or None where a raised InferenceError keeps its status."""
    if _flask_worker is None or os.environ.get("SAGEMAKER_MULTI_MODEL"):
        return None
    return _flask_worker.Response


def _status_response(error: InferenceError) -> Any:
    """The error as the single-model server's Response: the only way a handler there sets the status."""
    logger.info("rejected request (%s): %s", error.status_code, error.message)
    status, body, content_type = error_response(error)
    return _response_class()(response=body, status=status, mimetype=content_type)
