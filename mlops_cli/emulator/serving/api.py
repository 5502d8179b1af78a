"""The endpoint operations, wired into moto as reversible patches of its response classes.

SageMaker: CreateEndpoint (refuses a duplicate; the endpoint starts Creating), UpdateEndpoint (moto lacks it),
DeleteEndpoint, DescribeEndpoint, UpdateEndpointWeightsAndCapacities (read the served fleets), and CreateModel /
CreateEndpointConfig refusing a name in use as AWS does (moto overwrites).
SageMaker Runtime: InvokeEndpoint reaches the endpoint's servers (moto answers canned bytes for any name), with the
request body kept as raw bytes whatever its ContentType (moto would decode it as UTF-8, parse a form body and then
not find the action).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from mlops_cli.emulator.extensions.patching import Patch, add, replace
from mlops_cli.emulator.serving import invocations
from mlops_cli.emulator.serving.host import host


def _request(response: SageMakerResponse) -> dict[str, Any]:
    return dict(response.params)  # every field as botocore's model parses it


def create_endpoint(self: SageMakerResponse) -> ActionResult:
    return ActionResult({"EndpointArn": host.create(self.sagemaker_backend, _request(self))})


def update_endpoint(self: SageMakerResponse) -> ActionResult:
    return ActionResult({"EndpointArn": host.update(self.sagemaker_backend, _request(self))})


def delete_endpoint(self: SageMakerResponse) -> EmptyResult:
    host.delete(self.sagemaker_backend, self._get_param("EndpointName"))
    return EmptyResult()


def describe_endpoint(self: SageMakerResponse) -> ActionResult:
    return ActionResult(host.describe(self.sagemaker_backend, self._get_param("EndpointName")))


def update_endpoint_weights_and_capacities(self: SageMakerResponse) -> ActionResult:
    return ActionResult({"EndpointArn": host.update_weights_and_capacities(self.sagemaker_backend, _request(self))})


def _refusing_existing_model(method: Any) -> Any:
    def create_model(self: SageMakerResponse) -> Any:
        backend = self.sagemaker_backend
        name = self._get_param("ModelName")
        if name in backend._models:
            arn = arn_formatter("model", name, backend.account_id, backend.region_name)
            raise ValidationError(f'Cannot create already existing model "{arn}".')
        result = method(self)
        # moto 5.2.5 drops EnableNetworkIsolation: DescribeModel reports it and the endpoint's server runs with it
        backend._models[name].enable_network_isolation = bool(self._get_param("EnableNetworkIsolation"))
        return result

    return create_model


def _refusing_existing_config(method: Any) -> Any:
    def create_endpoint_config(self: SageMakerResponse) -> Any:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointConfigName")
        if name in backend.endpoint_configs:
            arn = FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)
            raise ValidationError(f'Cannot create already existing endpoint configuration "{arn}".')
        return method(self)

    return create_endpoint_config


def invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    # In server mode the name is only in the path: /endpoints/<name>/invocations
    name = unquote(self.path.split("?", 1)[0].split("/")[2])
    headers = self.headers
    request = invocations.Request(
        endpoint=name,
        body=self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode(),
        content_type=headers.get("Content-Type"),
        accept=headers.get("Accept"),
        custom_attributes=headers.get("X-Amzn-SageMaker-Custom-Attributes"),
        target_variant=headers.get("X-Amzn-SageMaker-Target-Variant"),
        inference_id=headers.get("X-Amzn-SageMaker-Inference-Id"),
    )
    result = host.invoke(self.current_account, self.region, request)
    answer_headers = {"Content-Type": result.content_type, "x-Amzn-Invoked-Production-Variant": result.variant}
    if result.custom_attributes:
        answer_headers["X-Amzn-SageMaker-Custom-Attributes"] = result.custom_attributes
    return 200, answer_headers, result.body


def setup_keeping_the_raw_body(self: SageMakerRuntimeResponse, request: Any, *args: Any, **kwargs: Any) -> None:
    # werkzeug parses a form body (a client may send any ContentType) and then has no bytes left for the model:
    # reading them first caches them for both.
    request.get_data(cache=True)
    BaseResponse.setup_class(self, request, *args, **kwargs)


def action_by_path(self: SageMakerRuntimeResponse) -> str:
    # moto looks for the action in a form body first; InvokeEndpoint is known by its path whatever the body is
    if _INVOCATIONS.match(self.path.split("?", 1)[0]):
        return "InvokeEndpoint"
    return BaseResponse._get_action(self)


def runtime_protocol(self: SageMakerRuntimeResponse, service_model: Any) -> str:
    # moto picks the error's serialisation from the request's Content-Type (a form body would make it "query",
    # which sagemaker-runtime does not speak); the runtime always answers in its own protocol
    return str(service_model.protocol)


_INVOCATIONS = re.compile(r"^/endpoints/[^/]+/invocations$")

PATCHES: list[Patch] = [
    replace(SageMakerResponse, "create_endpoint", create_endpoint),
    add(SageMakerResponse, "update_endpoint", update_endpoint),
    replace(SageMakerResponse, "delete_endpoint", delete_endpoint),
    replace(SageMakerResponse, "describe_endpoint", describe_endpoint),
    replace(SageMakerResponse, "update_endpoint_weights_and_capacities", update_endpoint_weights_and_capacities),
    Patch(SageMakerResponse, "create_model", _refusing_existing_model),
    Patch(SageMakerResponse, "create_endpoint_config", _refusing_existing_config),
    replace(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint),
    add(SageMakerRuntimeResponse, "use_raw_body", True),
    add(SageMakerRuntimeResponse, "setup_class", setup_keeping_the_raw_body),
    add(SageMakerRuntimeResponse, "_get_action", action_by_path),
    add(SageMakerRuntimeResponse, "determine_response_protocol", runtime_protocol),
]
