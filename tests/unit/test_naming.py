from __future__ import annotations

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
