"""The SageMaker Model Registry as AWS documents it (contract section 8), where moto falls short:

- UpdateModelPackage changes only what the call names (moto sets every omitted field to None): ModelApprovalStatus,
  ApprovalDescription, CustomerMetadataProperties (merged into the existing ones), CustomerMetadataPropertiesToRemove,
  AdditionalInferenceSpecificationsToAdd, InferenceSpecification, ModelCard, ModelLifeCycle, SourceUri.
- DeleteModelPackage and DeleteModelPackageGroup exist; a group that still holds versions cannot be deleted
  (ConflictException).
- Version numbers are never reused: after deleting version 2 of 3 the next one is 4 (moto counts the versions left,
  and would overwrite version 3).
- AddTags / ListTags / DeleteTags work on model package (version) ARNs (moto answers 500), and AddTags replaces the
  value of a key it already has instead of adding a duplicate.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ConflictException, ValidationError
from moto.sagemaker.models import ModelPackage, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from mlops_cli.emulator.extensions.patching import Patch, add, replace

_UPDATABLE = {  # request field -> ModelPackage attribute, set as given
    "ApprovalDescription": "approval_description",
    "InferenceSpecification": "inference_specification",
    "ModelCard": "model_card",
    "ModelLifeCycle": "model_life_cycle",
    "SourceUri": "source_uri",
}
_VERSIONS = "emulator_model_package_versions"  # backend attribute: group -> highest version ever created


def _package(backend: SageMakerModelBackend, name_or_arn: str) -> ModelPackage:
    arn = backend.model_package_name_mapping.get(name_or_arn, name_or_arn)
    package = backend.model_packages.get(arn)
    if package is None:
        raise ValidationError(f"Model package {name_or_arn} does not exist.")
    return package


# ------------------------------------------------------------------------------------------------- operations


def update_model_package(self: SageMakerResponse) -> ActionResult:
    request = dict(self.params)
    package = _package(self.sagemaker_backend, request["ModelPackageArn"])
    if "ModelApprovalStatus" in request:
        package.set_model_approval_status(request["ModelApprovalStatus"])  # validates the value
    for field, attribute in _UPDATABLE.items():
        if field in request:
            setattr(package, attribute, request[field])
    if "CustomerMetadataProperties" in request:
        package.customer_metadata_properties = {
            **(package.customer_metadata_properties or {}),
            **request["CustomerMetadataProperties"],
        }
    for key in request.get("CustomerMetadataPropertiesToRemove") or []:
        (package.customer_metadata_properties or {}).pop(key, None)
    if package.customer_metadata_properties == {}:
        package.customer_metadata_properties = None  # describe leaves an empty map out, as AWS does
    if request.get("AdditionalInferenceSpecificationsToAdd"):
        package.add_additional_inference_specifications(request["AdditionalInferenceSpecificationsToAdd"])
    package.modifications_done()
    return ActionResult({"ModelPackageArn": package.arn})


def delete_model_package(self: SageMakerResponse) -> EmptyResult:
    backend = self.sagemaker_backend
    package = _package(backend, self._get_param("ModelPackageName"))
    del backend.model_packages[package.arn]
    for name, arn in list(backend.model_package_name_mapping.items()):
        if arn == package.arn:
            del backend.model_package_name_mapping[name]
    if package.model_package_group_name:
        # moto maps the group name to its latest version: point it at the latest one left.
        left = _group_packages(backend, package.model_package_group_name)
        if left:
            backend.model_package_name_mapping[package.model_package_group_name] = left[-1].arn
    return EmptyResult()


def delete_model_package_group(self: SageMakerResponse) -> EmptyResult:
    backend = self.sagemaker_backend
    name = self._get_param("ModelPackageGroupName").split("/")[-1]  # a name or an ARN
    group = backend.describe_model_package_group(name)  # ValidationError: ... does not exist.
    versions = _group_packages(backend, name)
    if versions:
        raise ConflictException(
            f"Model Package Group {group.arn} cannot be deleted because it contains {len(versions)} model "
            f"package(s). Delete them first."
        )
    del backend.model_package_groups[name]
    getattr(backend, _VERSIONS, {}).pop(name, None)  # a group created again under this name starts at 1
    return EmptyResult()


def _group_packages(backend: SageMakerModelBackend, group: str) -> list[ModelPackage]:
    packages = [package for package in backend.model_packages.values() if package.model_package_group_name == group]
    return sorted(packages, key=lambda package: package.model_package_version or 0)


# -------------------------------------------------------------------------------------------- backend methods


def _never_reusing_versions(method: Any) -> Any:
    def create_model_package(self: SageMakerModelBackend, **kwargs: Any) -> str:
        group = kwargs.get("model_package_group_name")
        if not group or kwargs.get("model_package_name") or group not in self.model_package_groups:
            return str(method(self, **kwargs))  # moto's checks and errors, and unversioned packages
        versions: dict[str, int] = self.__dict__.setdefault(_VERSIONS, {})
        version = 1 + max(
            [versions.get(group, 0), *(p.model_package_version or 0 for p in _group_packages(self, group))]
        )
        fields = {key: value for key, value in kwargs.items() if key != "model_package_name"}
        if not fields.get("model_approval_status"):
            fields["model_approval_status"] = "PendingManualApproval"  # AWS's default for a version
        package = ModelPackage(
            model_package_name=group,
            model_package_version=version,
            approval_description=None,
            region_name=self.region_name,
            account_id=self.account_id,
            model_package_type="Versioned",
            **fields,
        )
        versions[group] = version
        self.model_package_name_mapping[group] = package.arn  # the group's name stands for its latest version
        self.model_package_name_mapping[package.arn] = package.arn
        self.model_packages[package.arn] = package
        return str(package.arn)

    return create_model_package


def _finding_model_packages(method: Any) -> Any:
    def _get_resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
        # "...:model-package/<group>/<version>" has two slashes, which moto cannot split.
        if arn.split(":")[-1].startswith("model-package/"):
            package = self.model_packages.get(self.model_package_name_mapping.get(arn, arn))
            if package is None:
                raise ValidationError(message=f"Could not find model-package with name {arn.split(':')[-1][14:]}")
            if package.tags is None:
                package.tags = []
            return package
        resource = method(self, arn)
        if resource is not None and getattr(resource, "tags", []) is None:
            resource.tags = []
        return resource

    return _get_resource_from_arn


def add_tags(self: SageMakerModelBackend, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
    """AWS semantics: a key already present gets the new value."""
    resource = self._get_resource_from_arn(arn)
    new = {tag["Key"]: tag for tag in tags}
    resource.tags = [tag for tag in resource.tags if tag["Key"] not in new] + list(new.values())
    return list(resource.tags)


PATCHES = [
    replace(SageMakerResponse, "update_model_package", update_model_package),
    add(SageMakerResponse, "delete_model_package", delete_model_package),
    add(SageMakerResponse, "delete_model_package_group", delete_model_package_group),
    Patch(SageMakerModelBackend, "create_model_package", _never_reusing_versions),
    Patch(SageMakerModelBackend, "_get_resource_from_arn", _finding_model_packages),
    replace(SageMakerModelBackend, "add_tags", add_tags),
]
