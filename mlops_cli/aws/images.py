"""URIs of SageMaker's prebuilt scikit-learn images (one image serves processing, training and inference).

The registry accounts are those the SageMaker Python SDK's image_uri_config/sklearn.json lists; boto3 has no
lookup for them."""

from __future__ import annotations

from mlops_cli.errors import UsageError

# The image versions the container scripts run on: Python 3.9+ and scikit-learn 1.2+ (class_weight on
# HistGradientBoostingClassifier came with 1.2). The SDK lists older ones too; this is why they are refused.
SKLEARN_VERSIONS = ("1.2-1", "1.4-2", "1.4-2-py312")
_OLD_PYTHON = "its image ships Python 3.7 or 3.8 and the container scripts need Python 3.9+"
REFUSED_SKLEARN_VERSIONS = {
    "0.20.0": _OLD_PYTHON,
    "0.23-1": _OLD_PYTHON,
    "1.0-1": _OLD_PYTHON + ", and its scikit-learn has no class_weight on HistGradientBoostingClassifier",
}

# The Python each image runs the team's scripts with (config validation parses them for it), from the images'
# Dockerfiles in github.com/aws/sagemaker-scikit-learn-container: docker/1.2-1/base (PYTHON_VERSION=3.9),
# docker/1.4-2/base (PYTHON_VERSION=3.10) and docker/1.4-2-py312/base (python3.12 from deadsnakes).
PYTHON_VERSIONS: dict[str, tuple[int, int]] = {"1.2-1": (3, 9), "1.4-2": (3, 10), "1.4-2-py312": (3, 12)}

_REGISTRY_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-central-1": "492215442770",
    "ap-northeast-1": "354813040037",
    "ap-southeast-2": "783357654285",
    "ap-south-1": "720646828776",
    "ca-central-1": "341280168497",
}


def sklearn_image_uri(region: str, framework_version: str) -> str:
    account = _REGISTRY_ACCOUNTS.get(region)
    if account is None:
        raise UsageError(
            f"mlops does not know the scikit-learn image registry for region {region}.",
            hint=f"Use one of {', '.join(sorted(_REGISTRY_ACCOUNTS))}.",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/sagemaker-scikit-learn:{framework_version}-cpu-py3"
