"""Tags in the shapes the different AWS APIs expect."""

from __future__ import annotations


def as_key_value(tags: dict[str, str]) -> list[dict[str, str]]:
    """S3, IAM, SageMaker, ELBv2: [{"Key": k, "Value": v}]."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def as_tag_key_value(tags: dict[str, str]) -> list[dict[str, str]]:
    """KMS: [{"TagKey": k, "TagValue": v}]."""
    return [{"TagKey": key, "TagValue": value} for key, value in sorted(tags.items())]


def from_key_value(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tag_list or []}
