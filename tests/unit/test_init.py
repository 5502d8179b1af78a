"""`mlops init`: the schema inferred from a CSV, the key and the task, the refusals (nothing written), and configs
that load as `mlops config validate` loads them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.config.loader import load_config
from mlops_cli.services.scaffold import inference
from mlops_cli.services.scaffold.project import CONTAINER_SCRIPTS, project_name
from tests.unit.conftest import run

TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def mixed_rows(count: int = 60) -> list[list[Any]]:
    """Every kind of column: an id, a yes/no flag in mixed case, a signed int, a float with gaps, a category, free
    text, a 1/0 flag, and a 3-class target."""
    rows = []
    for i in range(count):
        rows.append(
            [
                f"r{i:04d}",
                ["Yes", "NO", "true", "false"][i % 4],
                i - 10,
                "" if i % 7 == 0 else f"{i * 1.5:.2f}",
                ["red", "green", "blue"][i % 3],
                f"comment number {i}",
                i % 2,
                ["low", "mid", "high"][(i // 3) % 3],
            ]
        )
    return rows


HEADER = ["order_id", "flag", "delta", "amount", "colour", "comment", "binary01", "grade"]


def init(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = run(["init", *args, "--json"])
    captured = capsys.readouterr()
    try:
        document = json.loads(captured.out)
    except ValueError:
        document = None
    return code, document, captured.err


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "Orders 2026.csv", HEADER, mixed_rows())


def test_every_column_type_is_inferred_with_preprocessings_rules(mixed: Path) -> None:
    found = inference.infer_dataset(mixed, target="grade")
    columns = found.column
    assert [c.name for c in found.columns] == HEADER  # file order
    assert columns["order_id"].type == "string" and not columns["order_id"].nullable  # the key, as text
    assert columns["flag"].type == "bool" and not columns["flag"].nullable
    assert columns["binary01"].type == "bool"  # 1/0 only
    assert columns["delta"].type == "int" and columns["delta"].min is None  # negatives: no min
    assert columns["amount"].type == "float" and columns["amount"].nullable and columns["amount"].min == 0
    assert columns["colour"].type == "category" and columns["colour"].values == ("blue", "green", "red")
    assert columns["comment"].type == "string"
    assert found.key == "order_id" and found.key_inferred
    assert found.task == "multiclass" and found.classes == ("high", "low", "mid")
    assert found.rows_read == 60 and found.complete
    assert any("'comment' holds free text" in warning for warning in found.warnings)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([f"v{i % 20}" for i in range(40)], "category"),  # 20 values, each twice
        ([f"v{i % 21}" for i in range(42)], "string"),  # 21 values: too many for a category
        ([f"v{i % 20}" for i in range(39)], "string"),  # 20 values in 39 rows: not seen twice on average
        (["1", "2", "3.5"], "float"),
        (["1", "-2", "+3"], "int"),
        (["1.0", "2.0"], "float"),  # written with a decimal point: a float
        (["1_000", "2"], "string"),  # Python reads 1_000 as a number; pandas and the API do not
        (["nan", "1"], "string"),
        (["inf", "1"], "string"),
        (["", " ", ""], "string"),  # empty everywhere
    ],
)
def test_the_type_rules(tmp_path: Path, values: list[str], kind: str) -> None:
    rows = [[f"id{i}", value, i % 2] for i, value in enumerate(values)]
    found = inference.infer_dataset(write_csv(tmp_path / "d.csv", ["id", "x", "y"], rows), target="y")
    assert found.column["x"].type == kind


def test_the_key_prefers_an_id_like_name_and_can_be_given(tmp_path: Path) -> None:
    rows = [[f"name {i}", 1000 + i, i % 2] for i in range(30)]
    path = write_csv(tmp_path / "d.csv", ["name", "customerId", "y"], rows)
    assert inference.infer_dataset(path, target="y").key == "customerId"
    given = inference.infer_dataset(path, target="y", key="name")
    assert given.key == "name" and not given.key_inferred
    assert given.column["customerId"].type == "int"  # no longer the key: a number again


@pytest.mark.parametrize(
    ("header", "rows", "args", "expected"),
    [
        (["a", "y"], [[i % 3, i % 2] for i in range(20)], [], 'awk \'{print (NR == 1 ? "row_id" : NR - 1)'),
        (["a", "y"], [[i % 3, i % 2] for i in range(20)], ["--key", "a"], "repeats values"),
        (["a", "y"], [[i, i % 2] for i in range(20)], ["--key", "b"], "--key 'b' is not a column"),
        (["a", "y"], [["" if i == 3 else i, i % 2] for i in range(20)], ["--key", "a"], "empty in 1 of the 20"),
        (["a", "y"], [[i, i % 2] for i in range(20)], ["--key", "y"], "name the same column"),
        (["value", "y"], [[i, i % 2] for i in range(20)], ["--key", "value"], "clash with the prediction's"),
    ],
)
def test_key_refusals(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: list[str],
    rows: list[list[Any]],
    args: list[str],
    expected: str,
) -> None:
    data = write_csv(tmp_path / "d.csv", header, rows)
    code, document, err = init(tmp_path, capsys, str(tmp_path / "proj"), "--data", str(data), "--target", "y", *args)
    assert code == 2 and expected in document["error"]["message"] + err
    assert not (tmp_path / "proj").exists()


def test_tasks_from_the_target(tmp_path: Path) -> None:
    def task_of(values: list[Any], **kwargs: Any) -> inference.InferredDataset:
        rows = [[i, value] for i, value in enumerate(values)]
        return inference.infer_dataset(write_csv(tmp_path / "t.csv", ["id", "t"], rows), target="t", **kwargs)

    binary = task_of(["yes", "no"] * 10)
    assert (binary.task, binary.classes, binary.column["t"].type) == ("binary", ("no", "yes"), "bool")
    two = task_of(["spam", "ham"] * 10)
    assert (two.task, two.classes, two.column["t"].values) == ("binary", ("ham", "spam"), ("ham", "spam"))
    numbers = [1.5, 2.5, 4.0, 8.25] * 5
    regression = task_of(numbers)
    assert regression.task == "regression" and regression.classes == ()
    assert regression.target_std == pytest.approx(statistics.pstdev(numbers))
    codes = task_of([0, 1, 2, 10] * 5)
    assert codes.task == "regression" and any("--task multiclass" in w for w in codes.warnings)
    classes = task_of([0, 1, 2, 10] * 5, task="multiclass")
    assert classes.column["t"].type == "category" and classes.classes == ("0", "1", "2", "10")  # numeric order
    assert task_of(["a", "b"] * 10, task="multiclass").classes == ("a", "b")


@pytest.mark.parametrize(
    ("values", "task", "expected"),
    [
        (["a", "b", "c"] * 5, "regression", "needs a numeric target"),
        (["a", "b", "c"] * 5, "binary", "needs a target with two values"),
        (["yes", "no"] * 5, "multiclass", "that is a binary task"),
        ([f"text {i}" for i in range(30)], None, "free text"),
        ([f"t{i}" for i in range(12)] + ["t0", "t1"], None, "Pass --task multiclass"),
        ([f"t{i}" for i in range(60)] * 2, "multiclass", "more than 50 distinct values"),
        ([3.0] * 10, None, "single value"),
        (["only"] * 10, None, "single value"),
    ],
)
def test_a_task_that_does_not_fit_the_target_is_refused(
    tmp_path: Path, values: list[Any], task: str | None, expected: str
) -> None:
    rows = [[i, value] for i, value in enumerate(values)]
    path = write_csv(tmp_path / "t.csv", ["id", "t"], rows)
    with pytest.raises(inference.UsageError) as refused:
        inference.infer_dataset(path, target="t", task=task)  # type: ignore[arg-type]
    assert expected in refused.value.message + (refused.value.hint or "")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"id,y\n", "no data rows"),
        (b"id,y\n1,caf\xe9\n", "not UTF-8 text (an invalid byte at offset 10)"),
        (b"id,y,id\n1,2,3\n", "names a column twice: 'id'"),
        (b"id;y\n1;2\n", "not comma-separated"),
        (b"id,y\n1,yes\n2,no,3\n", "line 3: 3 fields"),
        (b"id,,y\n1,2,yes\n", "an empty name"),
        (b",x,y\n0,1,yes\n", "the first column has no name (an index saved by pandas' to_csv?)"),
        (b"id, y\n1,yes\n", "' y' starts or ends with a space"),
        (b"id,reject_reason,y\n1,a,yes\n", "preprocessing adds to rejected rows"),
        (b"id,x\n1,2\n", "--target 'y' is not a column"),
        (b"id,y\n1,yes\n2,\n3,no\n", "the target 'y' is empty in 1 of the 3 rows"),
    ],
)
def test_files_that_cannot_be_used_are_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    data = tmp_path / "in.csv"
    data.write_bytes(content)
    code, document, err = init(tmp_path, capsys, str(tmp_path / "proj"), "--data", str(data), "--target", "y")
    assert code == 2
    assert expected in document["error"]["message"], document
    assert "Traceback" not in err
    assert not (tmp_path / "proj").exists()


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,y\n".encode() + "".join(f"{i},{'yes' if i % 2 else 'no'}\n" for i in range(10)).encode())
    assert [c.name for c in inference.infer_dataset(path, target="y").columns] == ["id", "y"]


def test_only_the_first_rows_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "MAX_ROWS", 20)
    rows = [[i, i % 2, i] for i in range(20)] + [[i, i % 2, "text"] for i in range(20, 40)]
    found = inference.infer_dataset(write_csv(tmp_path / "d.csv", ["id", "y", "n"], rows), target="y")
    assert found.rows_read == 20 and not found.complete
    assert found.column["n"].type == "int"


def generated(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> dict[str, Any]:
    code, document, err = init(tmp_path, capsys, str(tmp_path / "My Shop_2026"), "--data", str(data), *args)
    assert code == 0, err
    return dict(document)


def test_the_project_is_written_and_every_environment_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mixed: Path
) -> None:
    document = generated(tmp_path, capsys, mixed, "--target", "grade")
    root = tmp_path / "My Shop_2026"
    batch = f"data/orders-2026/ingest_date={TODAY}/Orders 2026.csv"
    assert document["files"] == [
        "configs/base.yaml",
        "configs/local.yaml",
        "configs/dev.yaml",
        "configs/prod.yaml",
        batch,
    ]
    assert (root / batch).read_bytes() == mixed.read_bytes()
    assert document["next_command"] == f"cd '{root}' && mlops pipeline run -c configs/local.yaml"
    assert (document["project"], document["dataset"], document["task"]) == ("my-shop-2026", "orders-2026", "multiclass")
    configs = {env: load_config(root / "configs" / f"{env}.yaml").config for env in ("local", "dev", "prod")}
    local = configs["local"]
    assert local.project == "my-shop-2026" and local.aws.is_local
    dataset = local.dataset
    assert (dataset.name, dataset.key, dataset.target, dataset.task) == (
        "orders-2026",
        "order_id",
        "grade",
        "multiclass",
    )
    assert list(dataset.columns) == HEADER
    assert dataset.columns["grade"].values == ["high", "low", "mid"]
    assert dataset.columns["amount"].min == 0 and dataset.columns["amount"].max is None
    assert local.train.objective.metric == "validation:macro_f1" and local.train.objective.goal == "maximize"
    assert local.train.tuning.strategy == "Grid" and local.train.tuning.grid_size == 2
    assert local.train.tuning.ranges["algorithm"].values == ["logistic_regression", "hist_gradient_boosting"]
    assert local.registry.approval == "auto" and local.registry.min_metric == 0.34  # above 1/3
    assert local.lb is not None and local.lb.allowed_cidrs == ["127.0.0.1/32"]
    assert configs["prod"].registry.approval == "manual" and configs["prod"].deploy.instance_count == 2
    assert configs["dev"].dataset == dataset  # one schema for every environment


def test_a_regression_project_is_approved_below_the_targets_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = [100 + 7.5 * i for i in range(40)]
    data = write_csv(tmp_path / "houses.csv", ["id", "rooms", "price"], [[i, i % 5, p] for i, p in enumerate(prices)])
    document = generated(tmp_path, capsys, data, "--target", "price", "--name", "homes")
    local = load_config(tmp_path / "My Shop_2026" / "configs" / "local.yaml").config
    assert local.dataset.task == "regression" and local.dataset.name == "homes"
    assert local.train.objective.metric == "validation:rmse" and local.train.objective.goal == "minimize"
    assert local.registry.min_metric == pytest.approx(statistics.pstdev(prices), rel=1e-3)
    assert document["min_metric"] == local.registry.min_metric
    assert local.train.tuning.ranges["algorithm"].values == ["ridge", "hist_gradient_boosting"]


def test_names_and_values_yaml_would_misread_come_back_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ["id", "on", "1st", "a: b", "#tag", "größe", "y"]
    values = ["yes?", "01", "2026-01-05", "n/a", "null", "x: y", "'q'", "Ünïcode"]
    rows = [[i, values[i % 8], i, i, i, i, ["no", "yes"][i % 2]] for i in range(32)]
    data = write_csv(tmp_path / "odd.csv", header, rows)
    generated(tmp_path, capsys, data, "--target", "y")
    dataset = load_config(tmp_path / "My Shop_2026" / "configs" / "local.yaml").config.dataset
    assert list(dataset.columns) == header
    assert dataset.columns["on"].values == sorted(values)


def test_no_file_is_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str], mixed: Path) -> None:
    root = tmp_path / "shop"
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "local.yaml").write_text("mine\n")
    code, document, _ = init(tmp_path, capsys, str(root), "--data", str(mixed), "--target", "grade")
    assert code == 2 and "configs/local.yaml" in document["error"]["message"]
    assert "nothing was written" in document["error"]["message"]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["configs", "configs/local.yaml"]
    assert (root / "configs" / "local.yaml").read_text() == "mine\n"


def test_scripts_are_copied_and_the_configs_point_at_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mixed: Path
) -> None:
    document = generated(tmp_path, capsys, mixed, "--target", "grade", "--scripts")
    root = tmp_path / "My Shop_2026"
    shipped = sorted(p.name for p in CONTAINER_SCRIPTS.glob("*.py"))
    assert {"preprocess.py", "train.py", "evaluate.py", "inference.py"} <= set(shipped)
    assert sorted(p.name for p in (root / "scripts").iterdir()) == shipped
    assert [f for f in document["files"] if f.startswith("scripts/")] == [f"scripts/{name}" for name in shipped]
    for name in shipped:
        assert (root / "scripts" / name).read_bytes() == (CONTAINER_SCRIPTS / name).read_bytes()
    config = load_config(root / "configs" / "local.yaml").config
    specs = {"preprocess": config.preprocess.script, "train": config.train.script, "inference": config.deploy.inference}
    for stage, spec in specs.items():
        assert spec.entry_point == f"{stage}.py"
        assert Path(spec.source_dir).resolve() == (root / "scripts").resolve()


@pytest.mark.parametrize(
    ("folder", "name"),
    [("My Shop_2026", "my-shop-2026"), ("2026-forecast", "forecast"), ("a" * 30, "a" * 20), ("x--y--", "x-y")],
)
def test_the_project_name_comes_from_the_folder(tmp_path: Path, folder: str, name: str) -> None:
    assert project_name(tmp_path / folder) == name


def test_a_folder_name_without_a_project_name_in_it_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mixed: Path
) -> None:
    code, document, _ = init(tmp_path, capsys, str(tmp_path / "42"), "--data", str(mixed), "--target", "grade")
    assert code == 2 and "cannot make a project name from the folder name '42'" in document["error"]["message"]
    code, document, _ = init(
        tmp_path, capsys, str(tmp_path / "ok"), "--data", str(mixed), "--target", "grade", "--name", "Bad Name"
    )
    assert code == 2 and "--name 'Bad Name'" in document["error"]["message"]
    assert not (tmp_path / "ok").exists()


def test_people_see_the_schema_the_files_and_the_next_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mixed: Path
) -> None:
    root = tmp_path / "shop"
    assert run(["init", str(root), "--data", str(mixed), "--target", "grade"]) == 0
    captured = capsys.readouterr()
    for text in ("order_id", "category", "high, low, mid", "task: multiclass", "≥ 0.34", "configs/prod.yaml"):
        assert text in captured.out
    assert f"Next: cd {root} && mlops pipeline run -c configs/local.yaml" in captured.out
    assert "'comment' holds free text" in captured.err  # warnings go to stderr


def test_a_folder_that_cannot_be_written_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        if "readonly" in self.parts:
            raise PermissionError(13, "Permission denied")
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, document, err = init(tmp_path, capsys, str(tmp_path / "readonly"), "--data", str(mixed), "--target", "grade")
    assert code == 2 and "Traceback" not in err
    assert document["error"]["message"] == f"cannot write {tmp_path / 'readonly/configs/base.yaml'}: Permission denied."
