"""Calling a deployed REST API: its invoke URL, and HTTP requests to it, with an API key or signed with SigV4
(service `execute-api`) by botocore, sent through botocore's own HTTP session (proxies, TLS verification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_cli.errors import OperationFailed


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def invoke_url(endpoint_url: str | None, api_id: str, region: str, stage: str) -> str:
    """AWS: `https://{id}.execute-api.{region}.amazonaws.com/{stage}`. A custom endpoint (the emulator) serves
    deployed APIs under `/restapis/{id}/{stage}/_user_request_`, the convention local AWS emulators share."""
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/restapis/{api_id}/{stage}/_user_request_"
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def send(
    session: Any,
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    sign_for_region: str | None = None,
    proxies: dict[str, str] | None = None,
    timeout: float = 60,
) -> HttpAnswer:
    """One HTTP request. With `sign_for_region`, signed with the session's credentials (SigV4, execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import HTTPClientError
    from botocore.httpsession import URLLib3Session

    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    if sign_for_region is not None:
        credentials = session.get_credentials()
        if credentials is None:
            raise OperationFailed(
                "No AWS credentials to sign the request with.", hint="Configure a profile or AWS_* variables."
            )
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", sign_for_region).add_auth(request)
    http = URLLib3Session(proxies=proxies, timeout=timeout)
    try:
        response = http.send(request.prepare())
    except HTTPClientError as exc:
        raise OperationFailed(f"Could not reach {url}: {exc}") from None
    finally:
        http.close()
    return HttpAnswer(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, bytes(response.content)
    )
