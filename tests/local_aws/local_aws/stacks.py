"""CloudFormation: what the pipeline stack (scripts/cloudformation/pipeline.yaml) needs that
moto's CloudFormation lacks, as AWS's CloudFormation documents it.

Parameter constraints
  moto takes any parameter value. CloudFormation checks each against its declaration before
  it makes anything, and refuses the whole CreateStack / CreateChangeSet / UpdateStack with a
  ValidationError naming the first that fails: ``AllowedPattern`` (the whole value must match),
  ``AllowedValues``, ``MinLength`` / ``MaxLength``, ``MinValue`` / ``MaxValue`` and ``Number``
  (a value that is not a number). The message is CloudFormation's: ``Parameter 'X' failed to
  satisfy constraint: <ConstraintDescription>`` when the parameter has one, otherwise the
  rule's own (``must match pattern ...``, ``must be a number not less than 2``, ...). Nothing
  is created: no stack, no change set.

Change sets
  moto leaves a stack that a change set made or changed (what ``aws cloudformation deploy``
  does) without its Outputs; here DescribeStacks answers them once the change set has run,
  as AWS does.

AWS::CodeBuild::Project
  moto has CodeBuild's API but no CloudFormation resource for it (it skips the resource with
  a warning). Here the resource creates the project in moto's CodeBuild backend from the
  documented properties (Name, Description, Source with Auth, SourceVersion, Artifacts,
  Environment with its EnvironmentVariables, ServiceRole, TimeoutInMinutes,
  QueuedTimeoutInMinutes, LogsConfig, Tags), so BatchGetProjects answers with them in the
  API's shape; ``Triggers`` (Webhook, FilterGroups) becomes the project's ``webhook``, as
  AWS's CreateWebhook would make it. Ref is the project's name; GetAtt Arn its ARN. Deleting
  the stack deletes the project.

AWS::S3::Bucket, AWS::S3::BucketPolicy
  moto's bucket resource applies BucketEncryption and Tags only; here also
  VersioningConfiguration, PublicAccessBlockConfiguration and OwnershipControls. moto has no
  BucketPolicy resource: here it puts the policy on the bucket (GetBucketPolicy answers it)
  and deleting the stack removes it.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import ValidationError
from moto.codebuild.models import codebuild_backends
from moto.core.common_models import CloudFormationModel
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition


def _refusal(name: str, spec: dict[str, Any], value: str) -> str | None:
    """Why CloudFormation refuses `value` for parameter `name` declared as `spec`, or None."""

    def fails(rule: str) -> str:
        if "ConstraintDescription" in spec:
            return f"Parameter '{name}' failed to satisfy constraint: {spec['ConstraintDescription']}"
        return f"Parameter '{name}' {rule}"

    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return fails("must be a number")
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return fails(f"must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return fails(f"must be a number not greater than {spec['MaxValue']}")
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return fails("must be one of AllowedValues")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return fails(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return fails(f"must contain at most {spec['MaxLength']} characters")
    if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], value) is None:
        return fails(f"must match pattern {spec['AllowedPattern']}")
    return None


def check_parameters(template: str, parameters: dict[str, Any] | None) -> None:
    """Raises CloudFormation's ValidationError for the first parameter value (given, or the
    default) its declaration refuses."""
    declared = (cfn_models.Stack.parse_template(template) or {}).get("Parameters", {}) or {}
    given = parameters or {}
    for name, spec in declared.items():
        value = given.get(name, spec.get("Default"))
        if value is None:
            continue  # moto's own check says it is missing
        why = _refusal(name, spec, str(value))
        if why:
            raise ValidationError(message=why)


_API_NAMES = {"BuildSpec": "buildspec"}


def _api_shape(value: Any) -> Any:
    """CloudFormation's property names (PascalCase) as the API's (camelCase), all the way down."""
    if isinstance(value, dict):
        return {_API_NAMES.get(k, k[:1].lower() + k[1:]): _api_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    return value


class CodeBuildProject(CloudFormationModel):
    """AWS::CodeBuild::Project, on moto's CodeBuild backend."""

    def __init__(self, name: str, arn: str):
        self.name = name
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::Project"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "CodeBuildProject":
        p = cloudformation_json["Properties"]
        name = p.get("Name", resource_name)
        backend = codebuild_backends[account_id][region_name]
        metadata = backend.create_project(
            project_name=name,
            description=p.get("Description"),
            project_source=_api_shape(p["Source"]),
            artifacts=_api_shape(p["Artifacts"]),
            environment=_api_shape(p["Environment"]),
            service_role=p["ServiceRole"],
            tags=[{"key": t["Key"], "value": t["Value"]} for t in p.get("Tags", [])],
            cache=_api_shape(p["Cache"]) if "Cache" in p else None,
            timeout=int(p.get("TimeoutInMinutes", 60)),
            queued_timeout=int(p.get("QueuedTimeoutInMinutes", 480)),
            source_version=p.get("SourceVersion"),
            logs_config=_api_shape(p["LogsConfig"]) if "LogsConfig" in p else None,
            vpc_config=_api_shape(p["VpcConfig"]) if "VpcConfig" in p else None,
        )
        triggers = p.get("Triggers") or {}
        if str(triggers.get("Webhook", "false")).lower() == "true":
            url = f"https://codebuild.{region_name}.amazonaws.com/webhooks?t=local&v=1"
            metadata["webhook"] = {
                "url": url,
                "payloadUrl": url,
                "buildType": triggers.get("BuildType", "BUILD"),
                "filterGroups": _api_shape(triggers.get("FilterGroups", [])),
            }
        return cls(name, metadata["arn"])

    def delete(self, account_id: str, region_name: str) -> None:
        codebuild_backends[account_id][region_name].delete_project(self.name)


class BucketPolicy(CloudFormationModel):
    """AWS::S3::BucketPolicy: the policy document on the bucket."""

    def __init__(self, bucket: str, account_id: str, region_name: str):
        self.bucket = bucket
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "BucketPolicy":
        p = cloudformation_json["Properties"]
        backend = s3_backends[account_id][get_partition(region_name)]
        backend.put_bucket_policy(p["Bucket"], json.dumps(p["PolicyDocument"]).encode())
        return cls(p["Bucket"], account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        # moto deletes a stack's resources in no dependency order: the bucket may be gone
        # already, and its policy with it.
        try:
            s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(self.bucket)
        except MissingBucket:
            pass


def _bucket_with_the_rest(original: Any) -> Any:
    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        bucket = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        p = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id][get_partition(region_name)]
        if "VersioningConfiguration" in p:
            backend.put_bucket_versioning(resource_name, p["VersioningConfiguration"]["Status"])
        if "PublicAccessBlockConfiguration" in p:
            config = {k: str(v).lower() for k, v in p["PublicAccessBlockConfiguration"].items()}
            backend.put_public_access_block(resource_name, config)
        for rule in (p.get("OwnershipControls") or {}).get("Rules", []):
            backend.put_bucket_ownership_controls(resource_name, rule["ObjectOwnership"])
        return bucket

    return classmethod(create)


def install() -> None:
    backend = cfn_models.CloudFormationBackend
    for method in ("create_stack", "create_change_set", "update_stack"):
        original = getattr(backend, method)

        def checked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            call = inspect.signature(__original).bind(self, *args, **kwargs).arguments
            template, parameters = call.get("template"), call.get("parameters")
            if isinstance(parameters, list):  # UpdateStack's: [{ParameterKey, ParameterValue}]
                parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in parameters if "ParameterValue" in p}
            if template:
                check_parameters(template, parameters)
            return __original(self, *args, **kwargs)

        setattr(backend, method, checked)
    execute = backend.execute_change_set

    def execute_with_outputs(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        execute(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(
            cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name
        )
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    backend.execute_change_set = execute_with_outputs
    FakeBucket.create_from_cloudformation_json = _bucket_with_the_rest(FakeBucket.create_from_cloudformation_json)
    # moto finds resource types among CloudFormationModel's subclasses, once: made anew.
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()
    assert cfn_parsing.get_model_map()["AWS::CodeBuild::Project"] is CodeBuildProject
    assert cfn_parsing.get_model_map()["AWS::S3::BucketPolicy"] is BucketPolicy
