"""The config loader: every problem reported at once with file, line and field; overlays, variables, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_cli.config.loader import load_config
from mlops_cli.config.masking import MASK, masked
from mlops_cli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

MINIMAL = """\
project: churn
environment: test
aws:
  region: eu-west-1
dataset:
  name: churn
  key: id
  target: churned
  columns:
    id: string
    plan: {category: [basic, pro]}
    churned: bool
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value.problems


@pytest.mark.parametrize("name", ["local", "dev", "prod"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(CONFIGS / f"{name}.yaml").config
    assert config.project == "churn"
    assert config.environment == name
    assert config.dataset.target == "churned"


def test_minimal_config_gets_secure_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL)).config
    assert config.storage.encryption == "kms"
    assert config.storage.access_logging is True
    assert config.dataset.columns["plan"].values == ["basic", "pro"]
    assert config.dataset.features.keys() == {"plan"}


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("  region: eu-west-1\n", "  region: eu-west-1\n  regoin: x\n"))
    assert problems(path) == [
        f"{path}:5 aws.regoin: unknown setting 'regoin' (see `mlops config schema` for the allowed keys)"
    ]


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "storage:\n  log_retention_days: forever\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:14 storage.log_retention_days:")
    assert "integer" in problem


def test_invalid_bucket_name_gives_the_rule(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "storage:\n  bucket: My_Bucket\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:14 storage.bucket:")
    assert "lowercase letters, digits, dots and hyphens" in problem


def test_derived_bucket_name_too_long(tmp_path: Path) -> None:
    text = MINIMAL.replace("project: churn", "project: customer-churn-model").replace(
        "environment: test", "environment: staging123"
    )
    path = write(tmp_path, text.replace("eu-west-1", "ap-southeast-2"))
    [problem] = problems(path)
    assert problem.startswith(f"{path}:1 project: bucket name 'customer-churn-model-staging123-")
    assert "3 to 63 characters long (it has 64)" in problem
    assert "set storage.bucket" in problem


def test_missing_region_is_an_error_unless_the_environment_gives_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, MINIMAL.replace("  region: eu-west-1\n", "  profile: x\n"))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3 aws.region: required setting is missing")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert load_config(path).config.aws.region == "us-west-2"


def test_unset_variable_is_reported_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_TEST_TEAM", raising=False)
    path = write(tmp_path, MINIMAL + "tags:\n  team: ${MLOPS_TEST_TEAM}\n")
    assert problems(path) == [
        f"{path}:14 tags.team: environment variable MLOPS_TEST_TEAM is not set (use ${{MLOPS_TEST_TEAM:-default}})"
    ]
    monkeypatch.setenv("MLOPS_TEST_TEAM", "ml")
    assert load_config(path).config.tags == {"team": "ml"}


def test_variable_defaults_and_escapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_TEST_DAYS", raising=False)
    path = write(
        tmp_path,
        MINIMAL
        + "lb:\n  allowed_cidrs: [10.0.0.0/8]\n  ssl_policy: cost $$5\n"
        + "storage:\n  log_retention_days: ${MLOPS_TEST_DAYS:-30}\n",
    )
    config = load_config(path).config
    assert config.storage.log_retention_days == 30
    assert config.lb is not None and config.lb.ssl_policy == "cost $5"  # (tags may not hold '$')


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "storage:\n  encryption: [kms\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "invalid YAML" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = MINIMAL.replace("environment: test", "environment: Test!") + "storage:\n  encryption: kms2\n  bogus: 1\n"
    found = problems(write(tmp_path, text))
    assert len(found) == 3
    assert {p.split(" ")[1] for p in found} == {"environment:", "storage.encryption:", "storage.bogus:"}


def test_extends_overlays_mappings_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL + "tags: {team: ml, owner: a}\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nenvironment: staging\ntags: {owner: b}\n", "staging.yaml")
    config = load_config(child).config
    assert config.environment == "staging"
    assert config.tags == {"team": "ml", "owner": "b"}
    assert config.dataset.name == "churn"


def test_error_in_a_base_file_names_the_base_file(tmp_path: Path) -> None:
    base = write(tmp_path, MINIMAL + "storage:\n  encryption: nope\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nenvironment: prod\n", "prod.yaml")
    [problem] = problems(child)
    assert problem.startswith(f"{base.resolve()}:14 storage.encryption:")


def test_set_overrides_one_value_and_is_named_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert load_config(path, ["storage.encryption=s3"]).config.storage.encryption == "s3"
    [problem] = problems(path, ["storage.log_retention_days=-1"])
    assert problem.startswith("--set storage.log_retention_days storage.log_retention_days:")
    assert problems(path, ["novalue"]) == ["--set novalue: expected key.path=value"]


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such config file"]


def test_category_column_needs_values(tmp_path: Path) -> None:
    text = MINIMAL.replace("plan: {category: [basic, pro]}", "plan: category")
    found = problems(write(tmp_path, text))
    assert any("dataset.columns.plan" in p and "needs 'values'" in p for p in found)


def test_secrets_are_masked() -> None:
    data = {"gateway": {"api_token": "abc", "name": "x"}, "db_password": "p", "empty_secret": None}
    assert masked(data) == {"gateway": {"api_token": MASK, "name": "x"}, "db_password": MASK, "empty_secret": None}


def test_a_duplicate_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "storage:\n  encryption: s3\nstorage:\n  access_logging: false\n")
    assert problems(path) == [f"{path}:15 storage: duplicate key (first at line 13); merge the two"]


def test_every_problem_in_file_order_with_the_rule_it_breaks(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "storage:\n  encryption: kms2\n  access_logging: maybe\n  readers: {a: 1}\n"
        + "network:\n  vpc: 3\ntags:\n  team: [1]\n"
    )
    path = write(tmp_path, text.replace("environment: test", "environment: Test!"))
    assert problems(path) == [
        f"{path}:2 environment: 'Test!' does not match the rule ^[a-z][a-z0-9]{{0,9}}$",
        f"{path}:14 storage.encryption: must be 'kms' or 's3' (not 'kms2')",
        f"{path}:15 storage.access_logging: must be a valid boolean, unable to interpret input (not 'maybe')",
        f"{path}:16 storage.readers: must be a valid list (not a mapping)",
        f"{path}:18 network.vpc: must be a mapping of settings, not 3",
        f"{path}:20 tags.team: must be a valid string (not a list)",
    ]


def test_union_branch_names_are_not_reported_as_fields() -> None:
    from mlops_cli.config.loader import _field_path

    data = {"train": {"hyperparameters": {"n_estimators": "x"}}, "lb": {"target": {}}}
    assert _field_path(("train", "hyperparameters", "n_estimators", "int"), data) == (
        "train",
        "hyperparameters",
        "n_estimators",
    )
    assert _field_path(("lb", "target", "function-after[_check(), IpTarget]", "port"), data) == ("lb", "target", "port")
    # a setting left to its default is absent from the data and still the field to name
    assert _field_path(("deploy", "instance_count"), data) == ("deploy", "instance_count")


def test_a_refused_secret_is_not_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "tags:\n  db_password: 123456789\n  api_token: [s3cr3t]\n  team: 42\n")
    assert problems(path) == [
        f"{path}:14 tags.db_password: must be a valid string (not {MASK})",
        f"{path}:15 tags.api_token: must be a valid string (not {MASK})",
        f"{path}:16 tags.team: must be a valid string (not 42)",
    ]


def test_an_overlays_columns_replace_the_base_schema(tmp_path: Path) -> None:
    """A schema is never merged: a project extending another's config declares its own columns, and only those."""
    base = write(tmp_path, (ROOT / "configs" / "base.yaml").read_text(), "base.yaml")
    path = write(
        tmp_path,
        f"extends: {base.name}\nenvironment: dev\naws: {{region: eu-west-1}}\n"
        "dataset:\n  name: flats\n  key: flat_id\n  target: sold\n"
        "  columns: {flat_id: string, rooms: int, area: float, sold: bool}\n",
    )
    config = load_config(path).config
    assert list(config.dataset.columns) == ["flat_id", "rooms", "area", "sold"]


def test_an_overlay_that_keeps_the_base_target_but_not_its_column_is_refused(tmp_path: Path) -> None:
    base = write(tmp_path, (ROOT / "configs" / "base.yaml").read_text(), "base.yaml")
    path = write(
        tmp_path,
        f"extends: {base.name}\nenvironment: dev\naws: {{region: eu-west-1}}\n"
        "dataset:\n  columns: {customer_id: string, tenure_months: int}\n",
    )
    found = problems(path)
    assert any("dataset" in p and "'churned' is not among the declared columns" in p for p in found), found
