"""A Lambda function behind an Application Load Balancer that signs and forwards requests to a SageMaker endpoint
(a load balancer cannot call InvokeEndpoint itself: it needs SigV4). Handler: `endpoint_proxy.handler`.

Environment: ENDPOINT_NAME (required); HEALTH_PATH (default /health).

- GET <HEALTH_PATH>: DescribeEndpoint; 200 {"status": "ok", "endpoint": ...} when it is InService, else 503.
- POST to any other path: InvokeEndpoint with the request's body, Content-Type (default application/json) and
  Accept; the answer is the model's body and content type. A ModelError answers the model's own status code with
  {"message": <the model's message>}; a missing endpoint or another refusal of SageMaker's is a 502. A gzip or
  deflate body (Content-Encoding) is decompressed first, as API Gateway does (InvokeEndpoint has no such parameter:
  the model would get the compressed bytes); another coding 415. What SageMaker would refuse is answered here, as a
  client's error: a body over 6 MB (decompressed) 413, a Content-Type or Accept that is not ASCII or longer than
  1024 characters 400.
- Any other method: 405.

Request and response follow the ALB Lambda target contract: the event carries httpMethod, path, headers (lower-case
names), queryStringParameters, body and isBase64Encoded; the function returns statusCode, statusDescription,
headers, body and isBase64Encoded. Standard library and boto3 only, as in the Lambda Python runtime.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from http import HTTPStatus
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

JSON = "application/json"
MAX_BODY_BYTES = 6_291_456  # InvokeEndpoint's Body
MAX_HEADER_CHARACTERS = 1024  # InvokeEndpoint's ContentType and Accept (ASCII)
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}  # deflate is the zlib format (RFC 9110)
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """One boto3 client per service, kept between invocations of the same execution environment."""
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error" if status >= 400 else "OK"


def respond(
    status: int, body: bytes | str | dict[str, Any], content_type: str = JSON, **headers: str
) -> dict[str, Any]:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, bytes):
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text, encoded = body, False
    return {
        "statusCode": status,
        "statusDescription": f"{status} {_phrase(status)}",
        "headers": {"Content-Type": content_type, **headers},
        "body": text,
        "isBase64Encoded": encoded,
    }


def health(endpoint: str) -> dict[str, Any]:
    try:
        status = client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except (ClientError, BotoCoreError) as error:
        return respond(503, {"status": "unavailable", "endpoint": endpoint, "message": str(error)})
    if status != "InService":
        return respond(503, {"status": "unavailable", "endpoint": endpoint, "endpointStatus": status})
    return respond(200, {"status": "ok", "endpoint": endpoint})


class Refused(Exception):
    """A request SageMaker would refuse (or the model could not read as sent): answered here, with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def request_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError as error:
        raise Refused(400, f"the request body is marked Base64 but is not: {error}") from error


def decompressed(body: bytes, encoding: str) -> bytes:
    """The body as the model must get it: InvokeEndpoint has no Content-Encoding, so a gzip or deflate body is
    decompressed here, as API Gateway does (to SageMaker's limit at most: a small body must not inflate without
    bound); another coding, or a body not compressed so, is 415."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in _WBITS:
        raise Refused(415, f"Content-Encoding {encoding!r} is not supported: send the body as it is, gzip or deflate")
    inflater = zlib.decompressobj(_WBITS[coding])
    try:
        data = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as error:
        raise Refused(
            415, f"the request body is not {coding}-compressed as its Content-Encoding says: {error}"
        ) from error
    if len(data) <= MAX_BODY_BYTES and not inflater.eof:
        raise Refused(415, f"the request body is not {coding}-compressed as its Content-Encoding says: it is cut short")
    return data


def invoke_arguments(endpoint: str, event: dict[str, Any]) -> dict[str, Any]:
    """InvokeEndpoint's parameters for the request; Refused for what SageMaker would refuse or misread."""
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    arguments: dict[str, Any] = {"EndpointName": endpoint, "ContentType": headers.get("content-type") or JSON}
    if headers.get("accept"):
        arguments["Accept"] = headers["accept"]
    for name, header in (("ContentType", "Content-Type"), ("Accept", "Accept")):
        value = arguments.get(name)
        if value is not None and (not value.isascii() or len(value) > MAX_HEADER_CHARACTERS):
            raise Refused(400, f"the {header} header must be ASCII text of at most {MAX_HEADER_CHARACTERS} characters")
    body = decompressed(request_body(event), headers.get("content-encoding", ""))
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"the request body is larger than SageMaker's limit of {MAX_BODY_BYTES} bytes (6 MB)")
    arguments["Body"] = body
    return arguments


def invoke(endpoint: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        arguments = invoke_arguments(endpoint, event)
    except Refused as refused:
        return respond(refused.status, {"message": refused.message})
    try:
        answer = client("sagemaker-runtime").invoke_endpoint(**arguments)
    except ClientError as error:
        details = error.response
        if details.get("Error", {}).get("Code") == "ModelError":
            status = int(details.get("OriginalStatusCode") or 500)
            status = status if 400 <= status <= 599 else 500
            return respond(status, {"message": details.get("OriginalMessage") or details["Error"].get("Message", "")})
        return respond(502, {"message": details.get("Error", {}).get("Message") or str(error)})
    except BotoCoreError as error:
        return respond(502, {"message": str(error)})
    return respond(200, answer["Body"].read(), answer.get("ContentType") or JSON)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    endpoint = os.environ["ENDPOINT_NAME"]
    health_path = os.environ.get("HEALTH_PATH") or "/health"
    method = str(event.get("httpMethod") or "GET").upper()
    if event.get("path") == health_path:
        if method == "GET":
            return health(endpoint)
        return respond(405, {"message": f"{method} is not allowed on {health_path}: use GET"}, Allow="GET")
    if method == "POST":
        return invoke(endpoint, event)
    return respond(405, {"message": f"{method} is not allowed: POST the records to predict"}, Allow="POST")
