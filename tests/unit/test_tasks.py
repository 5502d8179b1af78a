"""The dataset's task (binary, multiclass, regression) as the tool knows it: inferred from the target or declared and
checked against it, the objective and hyperparameters that suit it (refused with the rule and the setting's line
otherwise), schema.json's task and classes, the jobs' metric definitions, the pipeline's figures and smoke check, and
how each task's predictions and metrics look to a person."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.loader import load_config
from mlops_cli.config.models import Config, Objective, Register
from mlops_cli.config.tasks import DEFAULT_OBJECTIVES, METRICS
from mlops_cli.errors import ConfigError, UsageError
from mlops_cli.services import pipeline, register, train
from mlops_cli.services.deploy import Prediction
from mlops_cli.services.schema import schema_document
from mlops_cli.ui import deploy_views, job_views, pipeline_views, register_views
from tests.unit.conftest import make_config
from tests.unit.test_pipeline import newest_first, region  # noqa: F401 (autouse fixtures)
from tests.unit.test_register_runs import preprocessed, trained

SCRIPTS = Path(__file__).resolve().parents[2] / "mlops_cli" / "container_scripts"

# A project of its own (not churn): the target's declaration is the one thing each test changes
PROJECT = """\
project: shop
environment: test
aws:
  region: eu-west-1
dataset:
  name: orders
  key: id
  target: y
  columns:
    id: string
    size: {category: [s, m, l]}
    y: TARGET
"""
TARGETS = {
    "bool": "bool",
    "category2": "{category: [stay, leave]}",
    "category3": "{category: [low, mid, high]}",
    "int": "int",
    "float": "float",
    "string": "string",
}


def project(tmp_path: Path, target: str, extra: str = "") -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(PROJECT.replace("TARGET", TARGETS[target]) + extra)
    return path


def load(tmp_path: Path, target: str, *overrides: str, extra: str = "") -> Config:
    return load_config(project(tmp_path, target, extra), list(overrides)).config


def refused(tmp_path: Path, target: str, *overrides: str, extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, target, *overrides, extra=extra)
    return caught.value.problems


def script_module(name: str) -> ModuleType:
    """A container script module imported in-process (container_scripts/ is not a package)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


def cells(shown: str, first: str) -> list[str]:
    """The cells of the first table line of `shown` whose first cell is `first`."""
    for line in shown.splitlines():
        found = [cell.strip() for cell in re.split("[┃│]", line)[1:-1]]
        if found and found[0] == first:
            return found
    raise AssertionError(f"no line starts with {first!r} in:\n{shown}")


def text(renderable: Any) -> str:
    console = Console(width=300, record=True)
    console.print(renderable)
    return console.export_text()


# --- the task: inferred, or declared and checked against the target ---------------------------------------------


@pytest.mark.parametrize(
    ("target", "task"),
    [
        ("bool", "binary"),
        ("category2", "binary"),
        ("category3", "multiclass"),
        ("int", "regression"),
        ("float", "regression"),
    ],
)
def test_the_task_follows_the_target_type_when_not_declared(tmp_path: Path, target: str, task: str) -> None:
    assert load(tmp_path, target).dataset.task == task


def test_a_text_target_is_refused_at_the_target_with_what_to_declare(tmp_path: Path) -> None:
    [problem] = refused(tmp_path, "string")
    assert problem.startswith(f"{tmp_path / 'shop.yaml'}:8 dataset.target: the target 'y' is a string column")
    assert "declare the target as a category with its values, or a number" in problem


def test_a_category_target_of_one_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(PROJECT.replace("TARGET", "{category: [only]}"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:8 dataset.target: the target 'y' is a category of one value: a model needs at least 2 classes "
        "to tell apart"
    ]


@pytest.mark.parametrize(
    ("target", "task", "rule"),
    [
        (
            "int",
            "binary",
            "task binary needs a bool target or a category with exactly 2 values; the target 'y' is an int column",
        ),
        (
            "category3",
            "binary",
            "task binary needs a bool target or a category with exactly 2 values; the target 'y' is a category of 3 value(s)",
        ),
        (
            "bool",
            "multiclass",
            "task multiclass needs a category target (its values are the classes); the target 'y' is a bool column",
        ),
        (
            "float",
            "multiclass",
            "task multiclass needs a category target (its values are the classes); the target 'y' is a float column",
        ),
        ("bool", "regression", "task regression needs an int or float target; the target 'y' is a bool column"),
        (
            "category3",
            "regression",
            "task regression needs an int or float target; the target 'y' is a category of 3 value(s)",
        ),
    ],
)
def test_a_declared_task_that_does_not_fit_the_target_is_refused_at_the_task(
    tmp_path: Path, target: str, task: str, rule: str
) -> None:
    assert refused(tmp_path, target, extra=f"  task: {task}\n") == [f"{tmp_path / 'shop.yaml'}:13 dataset.task: {rule}"]


@pytest.mark.parametrize(
    ("target", "task"),
    [
        ("bool", "binary"),
        ("category2", "binary"),
        ("category2", "multiclass"),
        ("category3", "multiclass"),
        ("int", "regression"),
    ],
)
def test_a_declared_task_that_fits_is_kept(tmp_path: Path, target: str, task: str) -> None:
    assert load(tmp_path, target, f"dataset.task={task}").dataset.task == task


def test_an_unknown_task_names_the_three(tmp_path: Path) -> None:
    [problem] = refused(tmp_path, "bool", "dataset.task=ranking")
    assert "dataset.task: must be 'binary', 'multiclass' or 'regression'" in problem


# --- the objective: the task's by default; one the task's jobs do not report is refused ----------------------------


@pytest.mark.parametrize(
    ("target", "metric", "goal"),
    [
        ("bool", "validation:auc", "maximize"),
        ("category3", "validation:macro_f1", "maximize"),
        ("float", "validation:rmse", "minimize"),
    ],
)
def test_the_default_objective_follows_the_task(tmp_path: Path, target: str, metric: str, goal: str) -> None:
    objective = load(tmp_path, target).train.objective
    assert (objective.metric, objective.goal) == (metric, goal)


def test_the_defaults_are_the_container_scripts_own() -> None:
    metrics = script_module("mlops_metrics")
    assert METRICS == metrics.METRICS and DEFAULT_OBJECTIVES == metrics.DEFAULT_OBJECTIVES


def test_a_metric_named_without_a_goal_gets_the_direction_it_improves_in(tmp_path: Path) -> None:
    assert load(tmp_path, "float", "train.objective.metric=validation:mae").train.objective.goal == "minimize"
    assert load(tmp_path, "float", "train.objective.metric=validation:r2").train.objective.goal == "maximize"
    assert load(tmp_path, "category3", "train.objective.metric=validation:logloss").train.objective.goal == "minimize"
    # a goal given alone is kept with the task's metric
    objective = load(tmp_path, "bool", "train.objective.goal=maximize").train.objective
    assert (objective.metric, objective.goal) == ("validation:auc", "maximize")


def test_an_objective_the_task_does_not_report_is_refused_with_the_tasks_metrics(tmp_path: Path) -> None:
    extra = "train:\n  objective: {metric: 'validation:auc', goal: maximize}\n"
    assert refused(tmp_path, "float", extra=extra) == [
        f"{tmp_path / 'shop.yaml'}:14 train.objective.metric: validation:auc is not a metric of the regression task; "
        "its training jobs report train:rmse, train:mae, train:r2, validation:rmse, validation:mae, validation:r2"
    ]
    [problem] = refused(tmp_path, "category3", "train.objective.metric=validation:auc")
    assert "validation:auc is not a metric of the multiclass task" in problem and "validation:macro_f1" in problem
    [problem] = refused(tmp_path, "bool", "train.objective.metric=validation:rmse")
    assert "validation:rmse is not a metric of the binary task" in problem


def test_a_goal_against_the_metric_is_refused(tmp_path: Path) -> None:
    [problem] = refused(tmp_path, "float", "train.objective={metric: 'validation:rmse', goal: maximize}")
    assert problem.endswith(
        "train.objective.goal: goal maximize would prefer the worst models: rmse is better lower (goal: minimize)"
    )


def test_a_threshold_the_objective_can_never_reach_is_refused(tmp_path: Path) -> None:
    [problem] = refused(tmp_path, "bool", "register.approval=auto", "register.min_metric=1.2")
    assert problem.endswith(
        "register.min_metric: 1.2 can never be reached: validation:auc is at most 1 (goal maximize)"
    )
    [problem] = refused(tmp_path, "float", "register.approval=auto", "register.min_metric=-1")
    assert "validation:rmse is at least 0 (goal minimize)" in problem
    assert load(tmp_path, "float", "register.approval=auto", "register.min_metric=2.5").registry.min_metric == 2.5


def test_a_minimized_objective_is_approved_at_or_below_min_metric() -> None:
    policy = Register(approval="auto", min_metric=2.5)
    rmse = Objective(metric="validation:rmse", goal="minimize")
    assert register.decide_approval(policy, rmse, 2.5).status == register.APPROVED
    rejected = register.decide_approval(policy, rmse, 2.51)
    assert rejected.status == register.REJECTED
    assert rejected.reason == (
        "Automatic approval: validation:rmse 2.5100 is above the maximum 2.5 (register.min_metric, goal minimize)."
    )


def test_churn_keeps_its_objective_and_hyperparameters() -> None:
    config = make_config()
    assert config.dataset.task == "binary"
    assert (config.train.objective.metric, config.train.objective.goal) == ("validation:auc", "maximize")
    assert config.train.hyperparameters == {"algorithm": "logistic_regression", "C": 1.0, "class_weight": "none"}


# --- hyperparameters and tuning ranges per task ------------------------------------------------------------------


REGRESSION_REFUSED = {
    "C": (
        ["train.hyperparameters.C=1.0"],
        "train.hyperparameters.C: hyperparameter C does not apply to regression: C is LogisticRegression's "
        "regularization strength, and regression has no logistic_regression (ridge's is alpha)",
    ),
    "class_weight": (
        ["train.hyperparameters.class_weight=balanced"],
        "train.hyperparameters.class_weight: hyperparameter class_weight does not apply to regression: class_weight "
        "weighs the classes of a classifier, and a regression target has no classes",
    ),
    "logistic_regression": (
        ["train.hyperparameters.algorithm=logistic_regression"],
        "train.hyperparameters.algorithm: algorithm 'logistic_regression' is not for regression (the regression task "
        "has ridge, random_forest, hist_gradient_boosting)",
    ),
    "alpha of zero": (
        ["train.hyperparameters={algorithm: ridge, alpha: 0}"],
        "hyperparameter alpha=0 must be a number > 0 (Ridge's rule for alpha)",
    ),
    "forest without trees": (
        ["train.hyperparameters={algorithm: random_forest, n_estimators: 0}"],
        "hyperparameter n_estimators=0 must be a whole number >= 1 and <= 2147483647 (RandomForestRegressor's rule",
    ),
    "boosting at rate zero": (
        ["train.hyperparameters.learning_rate=0"],
        "hyperparameter learning_rate=0 must be a number > 0 (HistGradientBoostingRegressor's rule",
    ),
    "leaf of zero rows": (
        ["train.hyperparameters.min_samples_leaf=0"],
        "hyperparameter min_samples_leaf=0 must be a whole number >= 1",
    ),
    "C range": (
        ["train.tuning.ranges.C={type: continuous, min: 0.1, max: 10}"],
        "train.tuning.ranges.C: hyperparameter C does not apply to regression",
    ),
    "alpha range from zero": (
        ["train.tuning.ranges.alpha={type: continuous, min: 0, max: 10}", "train.hyperparameters.algorithm=ridge"],
        "train.tuning.ranges.alpha: hyperparameter alpha=0.0 must be a number > 0 (Ridge's rule for alpha)",
    ),
    "classifier among the algorithms tried": (
        ["train.tuning.ranges.algorithm={type: categorical, values: [ridge, logistic_regression]}"],
        "train.tuning.ranges.algorithm: algorithm 'logistic_regression' is not for regression",
    ),
    "class weights tried": (
        ["train.tuning.ranges.class_weight={type: categorical, values: [none, balanced]}"],
        "train.tuning.ranges.class_weight: hyperparameter class_weight does not apply to regression",
    ),
}


@pytest.mark.parametrize("case", REGRESSION_REFUSED)
def test_regression_refuses_what_its_estimators_cannot_take(tmp_path: Path, case: str) -> None:
    overrides, message = REGRESSION_REFUSED[case]
    [problem] = refused(tmp_path, "float", *overrides)
    assert message in problem


CLASSIFICATION_REFUSED = {
    "ridge": (
        ["train.hyperparameters.algorithm=ridge"],
        "train.hyperparameters.algorithm: algorithm 'ridge' is not for classification (the multiclass task has "
        "logistic_regression, random_forest, hist_gradient_boosting)",
    ),
    "alpha": (
        ["train.hyperparameters.alpha=1"],
        "train.hyperparameters.alpha: hyperparameter alpha does not apply to multiclass classification: alpha is "
        "Ridge's regularization strength, and ridge is a regressor (logistic_regression's is C)",
    ),
    "alpha range": (
        ["train.tuning.ranges.alpha={type: continuous, min: 0.1, max: 1}"],
        "train.tuning.ranges.alpha: hyperparameter alpha does not apply to multiclass classification",
    ),
    "ridge among the algorithms tried": (
        ["train.tuning.ranges.algorithm={type: categorical, values: [random_forest, ridge]}"],
        "algorithm 'ridge' is not for classification",
    ),
    "negative C": (
        ["train.hyperparameters={algorithm: logistic_regression, C: -1}"],
        "hyperparameter C=-1 must be a number > 0 (LogisticRegression's rule for C)",
    ),
}


@pytest.mark.parametrize("case", CLASSIFICATION_REFUSED)
def test_classification_refuses_what_its_estimators_cannot_take(tmp_path: Path, case: str) -> None:
    overrides, message = CLASSIFICATION_REFUSED[case]
    [problem] = refused(tmp_path, "category3", *overrides)
    assert message in problem


def test_a_hyperparameter_refused_for_the_task_is_located_at_its_line(tmp_path: Path) -> None:
    extra = "train:\n  hyperparameters:\n    algorithm: random_forest\n    class_weight: balanced\n"
    assert refused(tmp_path, "int", extra=extra) == [
        f"{tmp_path / 'shop.yaml'}:16 train.hyperparameters.class_weight: hyperparameter class_weight does not apply "
        "to regression: class_weight weighs the classes of a classifier, and a regression target has no classes"
    ]


def test_the_tasks_problems_are_listed_with_the_other_sections(tmp_path: Path) -> None:
    found = refused(
        tmp_path,
        "float",
        "train.hyperparameters={algorithm: logistic_regression, C: 1.0}",
        "gateway.throttle.rate=0",
    )
    assert {p.split(": ", 1)[0].rsplit(" ", 1)[-1] for p in found} == {
        "train.hyperparameters.algorithm",
        "train.hyperparameters.C",
        "gateway.throttle.rate",
    }


def test_regression_takes_its_estimators_and_ranges(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "float",
        "train.hyperparameters={algorithm: ridge, alpha: 0.5, random_state: 7}",
        "train.tuning.strategy=Random",
        "train.tuning.ranges={alpha: {type: continuous, min: 0.01, max: 10, scaling: Logarithmic},"
        " algorithm: {type: categorical, values: [ridge, random_forest, hist_gradient_boosting]},"
        " max_depth: {type: integer, min: 2, max: 8}}",
    )
    assert config.train.hyperparameters["alpha"] == 0.5
    assert {r["Name"] for r in train._parameter_ranges(config)["CategoricalParameterRanges"]} == {"algorithm"}


def test_overrides_are_checked_for_the_task(tmp_path: Path) -> None:
    config = load(tmp_path, "float", "train.hyperparameters={algorithm: ridge}")
    assert train._hyperparameters(config, {"alpha": "2"}) == {"algorithm": "ridge", "alpha": 2.0}
    with pytest.raises(UsageError, match="hyperparameter C does not apply to regression"):
        train._hyperparameters(config, {"C": "1"})
    with pytest.raises(UsageError, match="algorithm 'logistic_regression' is not for regression"):
        train._hyperparameters(config, {"algorithm": "logistic_regression"})
    with pytest.raises(UsageError, match="algorithm 'ridge' is not for classification"):
        train._hyperparameters(make_config(), {"algorithm": "ridge"})


# --- schema.json --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "task", "classes", "positive"),
    [
        ("bool", "binary", ["no", "yes"], "yes"),
        ("category2", "binary", ["stay", "leave"], "leave"),
        ("category3", "multiclass", ["low", "mid", "high"], None),
        ("category2", "multiclass", ["stay", "leave"], None),
        ("float", "regression", None, None),
        ("int", "regression", None, None),
    ],
)
def test_schema_json_says_the_task_and_its_classes(
    tmp_path: Path, target: str, task: str, classes: list[str] | None, positive: str | None
) -> None:
    overrides = [f"dataset.task={task}"] if target == "category2" else []
    document = schema_document(load(tmp_path, target, *overrides).dataset)
    assert (document["task"], document.get("classes"), document.get("positive_label")) == (task, classes, positive)
    assert ("classes" in document) == (task != "regression") and ("positive_label" in document) == (task == "binary")
    # the container scripts read it as the same task and classes
    schema = script_module("mlops_schema").schema_from_dict(document)
    assert (schema.task, list(schema.classes), schema.positive_label) == (task, classes or [], positive)


def test_churns_schema_json_only_gains_the_task_keys() -> None:
    dataset = make_config().dataset
    document = schema_document(dataset)
    assert set(document) == {"name", "key", "target", "columns", "task", "classes", "positive_label"}
    assert (document["task"], document["classes"], document["positive_label"]) == ("binary", ["no", "yes"], "yes")
    assert [c["name"] for c in document["columns"]] == list(dataset.columns)


# --- the jobs' metric definitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_metric_definitions_catch_every_metric_line_the_task_prints(task: str) -> None:
    metrics = script_module("mlops_metrics")
    values = {name: 0.25 + i / 10 for i, name in enumerate(metrics.METRICS[task])}
    log = "\n".join(metrics.metric_lines("train", values) + metrics.metric_lines("validation", values))
    definitions = train.metric_definitions(task)
    assert len(definitions) <= train.MAX_METRIC_DEFINITIONS
    found = {d["Name"]: float(re.findall(d["Regex"], log)[-1]) for d in definitions}
    assert {name.split(":", 1)[1] for name in found} == set(metrics.METRICS[task])
    assert all(found[name] == pytest.approx(values[name.split(":", 1)[1]]) for name in found)
    assert found.keys() >= {DEFAULT_OBJECTIVES[task][0]}


def test_binary_jobs_define_the_metrics_they_always_did() -> None:
    assert [d["Name"] for d in train.metric_definitions("binary")] == [
        "train:auc",
        "train:accuracy",
        "validation:auc",
        "validation:accuracy",
        "validation:f1",
        "validation:precision",
        "validation:recall",
        "validation:logloss",
    ]


# --- a regression project through the services: the training request and the pipeline's figures --------------------


REGRESSION = (
    "storage.encryption=s3",
    "dataset.target=monthly_charges",
    "train.hyperparameters={algorithm: ridge, alpha: 2.0}",
    "train.objective={metric: 'validation:rmse'}",
    "train.tuning={ranges: {alpha: {type: continuous, min: 0.1, max: 10}}}",
)


def test_a_regression_training_job_reports_the_regression_metrics(clients: AwsClients) -> None:
    config = make_config(*REGRESSION)
    assert (config.dataset.task, config.train.objective.goal) == ("regression", "minimize")
    preprocessed(clients, config)
    sent: list[dict[str, Any]] = []
    clients.client("sagemaker").meta.events.register(
        "provide-client-params.sagemaker.CreateTrainingJob", lambda params, **_: sent.append(params)
    )
    trained(clients, config, metrics={"validation:rmse": 3.5})
    [request] = sent
    names = [d["Name"] for d in request["AlgorithmSpecification"]["MetricDefinitions"]]
    assert names == ["train:rmse", "train:mae", "train:r2", "validation:rmse", "validation:mae", "validation:r2"]
    assert request["HyperParameters"]["alpha"] == "2.0" and request["HyperParameters"]["algorithm"] == '"ridge"'


def test_the_pipelines_test_figure_follows_the_objective(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(*REGRESSION)
    preprocessed(clients, config)
    trained(clients, config, metrics={"validation:rmse": 3.5})
    evaluation = {"task": "regression", "metrics": {"rmse": 3.25, "mae": 2.5, "r2": 0.75}, "rows": 40}
    monkeypatch.setattr(train, "read_evaluation", lambda clients, uri: evaluation)
    result = pipeline.run(clients, config, pipeline.Options(stages=["train", "evaluate"]), lambda event: None)
    assert result.exit_code == 0, result.error
    train_stage, evaluate_stage = result.stages
    assert train_stage.figures["validation_rmse"] == 3.5 and evaluate_stage.figures["test_rmse"] == 3.25
    assert "test_auc" not in evaluate_stage.figures
    assert "validation RMSE 3.5000" in pipeline_views.figures_text(train_stage.figures)
    assert "test RMSE 3.2500" in pipeline_views.figures_text(evaluate_stage.figures)


@pytest.mark.parametrize(
    ("overrides", "path", "comparison", "threshold"),
    [
        ((), "metrics.auc", "GreaterThanOrEqualTo", 0.0),  # churn, as before
        (REGRESSION, "metrics.rmse", "LessThanOrEqualTo", sys.float_info.max),
        ((*REGRESSION, "register={approval: auto, min_metric: 4.5}"), "metrics.rmse", "LessThanOrEqualTo", 4.5),
        (
            (*REGRESSION, "train.objective.metric=validation:r2"),
            "metrics.r2",
            "GreaterThanOrEqualTo",
            -sys.float_info.max,
        ),
    ],
)
def test_a_scheduled_pipeline_registers_what_passes_the_objective_in_its_direction(
    clients: AwsClients, overrides: tuple[str, ...], path: str, comparison: str, threshold: float
) -> None:
    """Without register.min_metric every model passes the condition, whichever way the objective improves."""
    from mlops_cli.services import pipeline_definition, schedule

    config = make_config(
        "storage.encryption=s3",
        "preprocess.schedule.expression=rate(1 day)",
        "preprocess.schedule.continuous_training=true",
        "register={approval: manual}",
        *overrides,
    )
    preprocessed(clients, config)
    definition = pipeline_definition.build_definition(clients, config, schedule.pipeline_inputs(clients, config))
    [check] = [step for step in definition["Steps"] if step["Name"] == "CheckObjective"]
    [condition] = check["Arguments"]["Conditions"]
    assert (condition["Type"], condition["LeftValue"]["Std:JsonGet"]["Path"]) == (comparison, path)
    assert {"Name": "MinMetric", "Type": "Float", "DefaultValue": threshold} in definition["Parameters"]


def test_churns_pipeline_figures_read_as_before() -> None:
    assert pipeline_views.figures_text({"test_auc": 0.8312, "test_rows": 300}) == "test AUC 0.8312"
    assert pipeline_views.figures_text({"validation_macro_f1": 0.5, "test_r2": 0.25}) == (
        "validation macro-F1 0.5000; test R² 0.2500"
    )


# --- the smoke check: the shipped handler's answer per task -------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "prediction"),
    [
        ("binary", {"id": "a", "label": "yes", "probability": 0.8}),
        ("multiclass", {"label": "mid", "probabilities": {"low": 0.1, "mid": 0.7, "high": 0.2}}),
        ("regression", {"id": "a", "value": 12.5}),
        ("regression", {"value": 3}),
    ],
)
def test_the_smoke_check_takes_the_tasks_answer(task: str, prediction: dict[str, Any]) -> None:
    assert pipeline.prediction_shape_problem(task, [prediction, prediction]) is None


@pytest.mark.parametrize(
    ("task", "prediction", "problem"),
    [
        ("binary", {"value": 1.0}, "prediction 1 has no label (binary predictions hold label, probability)"),
        ("multiclass", {"label": "mid", "probability": 0.7}, "prediction 1 has no probabilities"),
        ("multiclass", {"label": "top", "probabilities": {"low": 1.0}}, "its label 'top' has no probability"),
        ("regression", {"value": "12"}, "prediction 1 has no value (regression predictions hold value)"),
        ("regression", {"value": True}, "prediction 1 has no value"),
        ("regression", [12.5], "prediction 1 is not a JSON object"),
    ],
)
def test_the_smoke_check_refuses_another_tasks_answer(task: str, prediction: Any, problem: str) -> None:
    found = pipeline.prediction_shape_problem(task, [prediction])
    assert found is not None and problem in found


# --- how each task looks to a person ------------------------------------------------------------------------------


def test_deploy_invoke_shows_a_multiclass_label_and_its_probability() -> None:
    body = {
        "predictions": [
            {"id": "o1", "label": "mid", "probabilities": {"low": 0.1, "mid": 0.7, "high": 0.2}},
            {"id": "o2", "label": "high", "probabilities": {"low": 0.05, "mid": 0.15, "high": 0.8}},
        ]
    }
    shown = text(deploy_views.prediction_view(Prediction("application/json", body)))
    assert cells(shown, "row") == ["row", "id", "label", "probability"]
    assert cells(shown, "0") == ["0", "o1", "mid", "0.7"] and cells(shown, "1") == ["1", "o2", "high", "0.8"]
    assert "low" not in shown  # the other classes are in --json's full answer


def test_deploy_invoke_shows_a_regression_value() -> None:
    body = {"predictions": [{"id": "o1", "value": 12.345678}, {"value": 0.5}]}
    shown = text(deploy_views.prediction_view(Prediction("application/json", body)))
    assert cells(shown, "row") == ["row", "id", "value"]
    assert cells(shown, "0") == ["0", "o1", "12.345678"] and cells(shown, "1") == ["1", "", "0.5"]
    assert "probability" not in shown and "label" not in shown


def test_deploy_invoke_shows_binary_as_before() -> None:
    body = {"predictions": [{"customer_id": "C1", "label": "yes", "probability": 0.812345}]}
    shown = text(deploy_views.prediction_view(Prediction("application/json", body)))
    assert cells(shown, "row") == ["row", "customer_id", "label", "probability"]
    assert cells(shown, "0") == ["0", "C1", "yes", "0.812345"]


MULTICLASS_EVALUATION = {
    "task": "multiclass",
    "metrics": {"accuracy": 0.75, "macro_f1": 0.7, "logloss": 0.61},
    "rows": 8,
    "confusion_matrix": {"labels": ["low", "mid", "high"], "matrix": [[2, 1, 0], [0, 3, 0], [0, 1, 1]]},
    "recall_per_class": {"low": 0.6667, "mid": 1.0, "high": 0.5},
}
REGRESSION_EVALUATION = {"task": "regression", "metrics": {"rmse": 3.25, "mae": 2.5, "r2": None}, "rows": 40}


def test_train_evaluate_shows_a_multiclass_result() -> None:
    run = train.EvaluateRun("evl-1", "trn-1", "s3://b/m.tar.gz", "s3://b/test", "s3://b/evaluation")
    shown = text(job_views.evaluation_view(run, MULTICLASS_EVALUATION))
    assert re.search(r"test macro_f1 +│ 0\.7000", shown) and re.search(r"test logloss +│ 0\.6100", shown)
    assert re.search(r"confusion matrix, true low +│ low 2, mid 1, high 0", shown)
    assert re.search(r"confusion matrix, true high +│ low 0, mid 1, high 1", shown)
    assert re.search(r"recall of high +│ 0\.5000", shown)
    assert "[[tn, fp], [fn, tp]]" not in shown


def test_train_evaluate_shows_a_regression_result() -> None:
    run = train.EvaluateRun("evl-1", "trn-1", "s3://b/m.tar.gz", "s3://b/test", "s3://b/evaluation")
    shown = text(job_views.evaluation_view(run, REGRESSION_EVALUATION))
    assert re.search(r"test rmse +│ 3\.2500", shown) and re.search(r"test mae +│ 2\.5000", shown)
    assert re.search(r"test r2 +│ +│", shown)  # undefined on these rows: blank, not a crash
    assert "confusion" not in shown and "recall" not in shown


def test_register_show_shows_the_tasks_test_metrics() -> None:
    version = register.ModelVersion(
        arn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/shop-test/1",
        number=1,
        status="Approved",
        model_data_url="s3://b/models/orders/trn-1/output/model.tar.gz",
        image="image",
        environment={},
        objective=3.5,
        training_job="trn-1",
        created=None,
        objective_metric="validation:rmse",
    )
    details = register.VersionDetails(version, MULTICLASS_EVALUATION, {"validation:macro_f1": 0.7}, False, None)
    shown = text(register_views.version_view(details))
    assert re.search(r"test macro_f1 +│ 0\.7", shown) and re.search(
        r"test confusion matrix, true mid +│ low 0, mid 3", shown
    )
    details = register.VersionDetails(version, REGRESSION_EVALUATION, {"validation:rmse": 3.5}, False, None)
    shown = text(register_views.version_view(details))
    assert re.search(r"objective +│ validation:rmse=3\.5000", shown) and re.search(r"test rmse +│ 3\.25", shown)


def test_tuning_lists_a_minimized_objective_best_first() -> None:
    trials = [
        {"job_name": "t-1", "status": "Completed", "objective": 4.0, "hyperparameters": {"alpha": "1"}},
        {"job_name": "t-2", "status": "Failed", "objective": None, "hyperparameters": {"alpha": "9"}},
        {"job_name": "t-3", "status": "Completed", "objective": 2.0, "hyperparameters": {"alpha": "0.1"}},
    ]
    result = train.TuningResult("tun-1", "Completed", "minimize validation:rmse", "t-3", 2.0, {}, {}, trials)
    shown = text(job_views.tuning_result_view(result))
    assert [shown.index(name) for name in ("t-3", "t-1", "t-2")] == sorted(
        shown.index(n) for n in ("t-3", "t-1", "t-2")
    )
