from __future__ import annotations

import datetime as dt

import pytest

from mlops_cli.aws.naming import ResourceNames, bucket_name_problems, sagemaker_name_problems


@pytest.mark.parametrize("name", ["churn-prod-123456789012-eu-west-1-data", "a.b-c", "abc"])
def test_valid_bucket_names(name: str) -> None:
    assert bucket_name_problems(name) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("Upper", "lowercase"),
        ("under_score", "lowercase"),
        ("-start", "begin and end"),
        ("two..dots", "adjacent dots"),
        ("192.168.1.1", "IP address"),
        ("xn--bucket", "'xn--'"),
        ("sthree-bucket", "'sthree-'"),
        ("bucket-s3alias", "'-s3alias'"),
        ("bucket--ol-s3", "'--ol-s3'"),
    ],
)
def test_invalid_bucket_names_say_which_rule(name: str, rule: str) -> None:
    assert any(rule in problem for problem in bucket_name_problems(name))


def test_sagemaker_names() -> None:
    assert sagemaker_name_problems("churn-prod-train-20260101-120000") == []
    assert sagemaker_name_problems("a" * 64)
    assert sagemaker_name_problems("bad_name")
    assert sagemaker_name_problems("-x")


def test_derived_names_are_deterministic() -> None:
    names = ResourceNames("churn", "prod", "eu-west-1", "123456789012")
    assert names.data_bucket == "churn-prod-123456789012-eu-west-1-data"
    assert names.log_bucket == "churn-prod-123456789012-eu-west-1-logs"
    assert names.kms_alias == "alias/churn-prod-data"
    assert names.problems() == {}


LONGEST = ResourceNames("p" * 20, "e" * 10, "ap-southeast-2")  # the longest project and environment a config takes


@pytest.mark.parametrize("kind", ["pre", "trn", "evl"])
def test_job_names_started_in_the_same_second_differ_and_fit(kind: str) -> None:
    now = dt.datetime(2026, 1, 5, 3, 4, 5)
    started = {LONGEST.job_name(kind, now) for _ in range(200)}
    assert len(started) == 200  # a name in use would be refused (ResourceInUse)
    for name in started:
        assert name.startswith(f"{LONGEST.prefix}-{kind}-20260105-030405-")
        assert len(name) <= 63 and sagemaker_name_problems(name) == []


@pytest.mark.parametrize("names", [LONGEST, ResourceNames("churn", "prod", "eu-west-1")])
def test_tuning_job_names_started_in_the_same_second_differ_and_fit_32_characters(names: ResourceNames) -> None:
    now = dt.datetime(2026, 1, 5, 3, 4, 5)
    started = {names.tuning_job_name(now) for _ in range(200)}
    assert len(started) == 200
    for name in started:
        # the prefix model choice lists tuning jobs by (the project and environment tags then decide)
        assert name.startswith(names.tuning_job_prefix) and name.startswith(f"{names.prefix[:17]}-260105-")
        assert len(name) <= 32 and sagemaker_name_problems(name) == []
