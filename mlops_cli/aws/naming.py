"""Deterministic resource names derived from the config, and AWS's naming rules checked before any call.

Pure functions (no boto3; new job names take a random part): the config loader uses them to reject a name AWS
would reject.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import string
from dataclasses import dataclass

# A 12-digit stand-in, so derived names can be length-checked before the account is known.
PLACEHOLDER_ACCOUNT = "000000000000"

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_KMS_ALIAS = re.compile(r"^alias/[a-zA-Z0-9/_-]{1,250}$")


def _random_base36(length: int) -> str:
    return "".join(secrets.choice(string.digits + string.ascii_lowercase) for _ in range(length))


def bucket_name_problems(name: str) -> list[str]:
    """Every S3 general-purpose bucket naming rule that `name` breaks (empty when valid)."""
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append(f"must be 3 to 63 characters long (it has {len(name)})")
    if not _BUCKET_CHARS.match(name):
        problems.append(
            "may hold only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit"
        )
    if ".." in name:
        problems.append("must not contain two adjacent dots")
    try:
        ipaddress.IPv4Address(name)
        problems.append("must not be formatted as an IP address")
    except ValueError:
        pass
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            problems.append(f"must not start with '{prefix}'")
    for suffix in ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"):
        if name.endswith(suffix):
            problems.append(f"must not end with '{suffix}'")
    return problems


def sagemaker_name_problems(name: str) -> list[str]:
    """SageMaker resource names: 1-63 letters, digits and hyphens, starting and ending with a letter or digit."""
    if _SAGEMAKER_NAME.match(name):
        return []
    return [
        f"'{name}' is not a valid SageMaker name: 1 to 63 letters, digits and hyphens, "
        "starting and ending with a letter or digit"
    ]


def kms_alias_problems(alias: str) -> list[str]:
    if not _KMS_ALIAS.match(alias):
        return [f"'{alias}' is not a valid KMS alias: 'alias/' then letters, digits, '/', '_' or '-'"]
    if alias.startswith("alias/aws/"):
        return [f"'{alias}' is reserved for AWS managed keys"]
    return []


@dataclass(frozen=True)
class ResourceNames:
    """Every name the tool derives from (project, environment, region, account)."""

    project: str
    environment: str
    region: str
    account: str = PLACEHOLDER_ACCOUNT
    bucket_override: str | None = None
    log_bucket_override: str | None = None

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def data_bucket(self) -> str:
        return self.bucket_override or f"{self.prefix}-{self.account}-{self.region}-data"

    @property
    def log_bucket(self) -> str:
        return self.log_bucket_override or f"{self.prefix}-{self.account}-{self.region}-logs"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}-data"

    def access_log_prefix(self) -> str:
        return f"s3-access/{self.data_bucket}/"

    @property
    def execution_role(self) -> str:
        return f"{self.prefix}-sagemaker-execution"

    def job_name(self, kind: str, now: dt.datetime, unique: str | None = None) -> str:
        """A new job's name, <project>-<env>-<kind>-<YYYYMMDD-HHMMSS>-<8 random hex digits>: at most 60 characters
        (SageMaker takes 63). The random part keeps jobs started in the same second (cron on two machines, two
        operators) apart: a name in use is refused (ResourceInUse)."""
        return f"{self.prefix}-{kind}-{now:%Y%m%d-%H%M%S}-{unique or secrets.token_hex(4)}"

    @property
    def tuning_job_prefix(self) -> str:
        """What every tuning job name of this project and environment starts with. Tuning job names are at most
        32 characters, so it keeps 17 of <project>-<env>: two configs may share it, and their jobs' tags tell them
        apart."""
        return f"{self.prefix[:17].rstrip('-')}-"

    def tuning_job_name(self, now: dt.datetime, unique: str | None = None) -> str:
        """A new tuning job's name, <prefix>-<YYMMDD>-<7 random base-36 characters>: at most 32 characters. The time
        to the second would leave no room for a random part; 36**7 values keep jobs started together apart."""
        return f"{self.tuning_job_prefix}{now:%y%m%d}-{unique or _random_base36(7)}"

    def problems(self) -> dict[str, list[str]]:
        """Naming problems keyed by the config field that decides the name."""
        found: dict[str, list[str]] = {}
        bucket_field = "storage.bucket" if self.bucket_override else "project"
        for field, name in ((bucket_field, self.data_bucket), ("storage.log_bucket", self.log_bucket)):
            if field == "storage.log_bucket" and not self.log_bucket_override:
                field = "project"
            for problem in bucket_name_problems(name):
                found.setdefault(field, []).append(f"bucket name '{name}' {problem}")
        for problem in kms_alias_problems(self.kms_alias):
            found.setdefault("project", []).append(problem)
        return found
