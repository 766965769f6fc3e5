"""Launch template versions as AWS keeps them: numbered for ever, deletable (200 a call, the
default refused), idempotent creates (ClientToken) that copy SourceVersion, paged describes,
InvalidLaunchTemplateId.NotFound for a missing template (moto answers an empty list), and
ResolveAlias=true answering a `resolve:ssm:` ImageId with the parameter's value."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidLaunchTemplateVersionNotFound,
)
from moto.ec2.models import launch_templates as lt_models
from moto.ec2.responses.launch_templates import LaunchTemplates
from .core import paged, _authorize, LOCK



# ---------------------------------------------------------------------------------------------
# Launch template versions: numbered for ever, deletable, idempotent creates.


def _lt_create_version(self: lt_models.LaunchTemplate, data: dict[str, Any], description: str) -> Any:
    number = getattr(self, "_next_version_number", None) or (
        max((v.number for v in self.versions), default=0) + 1
    )
    version = lt_models.LaunchTemplateVersion(self, number, data, description)
    self.versions.append(version)
    self._next_version_number = number + 1
    return version


def _lt_find(self: lt_models.LaunchTemplate, number: int) -> Any:
    for v in self.versions:
        if v.number == number:
            return v
    raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=str(number))


def _lt_get_version(self: lt_models.LaunchTemplate, num: Any) -> Any:
    text = str(num).lower()
    if text == "$latest":
        return self.versions[-1]
    if text == "$default":
        return self.default_version()
    try:
        number = int(num)
    except (TypeError, ValueError):
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=str(num))
    return _lt_find(self, number)


def _lt_default_version(self: lt_models.LaunchTemplate) -> Any:
    return _lt_find(self, self.default_version_number)


def _template_from_params(resp: LaunchTemplates) -> Any:
    name = resp._get_param("LaunchTemplateName")
    tmpl_id = resp._get_param("LaunchTemplateId")
    if tmpl_id:
        return resp.ec2_backend.get_launch_template(tmpl_id)
    return resp.ec2_backend.get_launch_template_by_name(name)


def _version_dict(resp: LaunchTemplates, template: Any, version: Any) -> dict[str, Any]:
    return {
        "CreateTime": version.create_time,
        "CreatedBy": f"arn:{resp.partition}:iam::{resp.current_account}:root",
        "DefaultVersion": template.is_default(version),
        "LaunchTemplateData": version.data,
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "VersionDescription": version.description,
        "VersionNumber": version.number,
    }


_original_create_version_response = LaunchTemplates.create_launch_template_version


def _create_version_from_source(self: LaunchTemplates) -> ActionResult:
    """moto ignores SourceVersion; AWS starts from that version's data and overrides the
    top-level parameters given in LaunchTemplateData."""
    source = self._get_param("SourceVersion")
    if source is None:
        return _original_create_version_response(self)
    template = _template_from_params(self)
    base = template.get_version(source).data
    given = self._get_param("LaunchTemplateData", {})
    merged = {**base, **given}
    original_get_param = self._get_param

    def get_param(name: str, default: Any = None) -> Any:
        if name == "LaunchTemplateData":
            return merged
        return original_get_param(name, default)

    self._get_param = get_param  # type: ignore[method-assign]
    try:
        return _original_create_version_response(self)
    finally:
        del self._get_param


_original_describe_launch_templates = LaunchTemplates.describe_launch_templates


def describe_launch_templates(self: LaunchTemplates) -> ActionResult:
    for template_id in self._get_param("LaunchTemplateIds", []) or []:
        self.ec2_backend.get_launch_template(template_id)  # InvalidLaunchTemplateId.NotFound
    return _original_describe_launch_templates(self)


def create_launch_template_version(self: LaunchTemplates) -> ActionResult:
    token = self._get_param("ClientToken")
    if token and not self._get_param("DryRun", False):
        template = _template_from_params(self)
        tokens = template.__dict__.setdefault("_client_tokens", {})
        with LOCK:
            if token in tokens:
                version = _lt_find(template, tokens[token])
                return ActionResult({"LaunchTemplateVersion": _version_dict(self, template, version)})
            result = _create_version_from_source(self)
            tokens[token] = template.versions[-1].number
            return result
    return _create_version_from_source(self)


def describe_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    template_id = self._get_param("LaunchTemplateId")
    name = self._get_param("LaunchTemplateName")
    self.error_on_dryrun()
    if not template_id and not name:
        # All templates' $Latest / $Default: moto's own code handles this form.
        result = _original_describe_versions(self)
        result.result["LaunchTemplateVersions"] = _resolve_alias(self, result.result["LaunchTemplateVersions"])
        return result
    template = _template_from_params(self)
    wanted = self._get_param("Versions", [])
    min_version = self._get_int_param("MinVersion")
    max_version = self._get_int_param("MaxVersion")
    if wanted:
        versions = [template.get_version(v) for v in wanted]
    else:
        versions = [
            v
            for v in template.versions
            if (min_version is None or v.number >= min_version)
            and (max_version is None or v.number <= max_version)
        ]
    token, size = self._get_param("NextToken"), self._get_int_param("MaxResults")
    return paged("LaunchTemplateVersions", versions, token, size, lambda page: _resolve_alias(self, [_version_dict(self, template, v) for v in page]))


_original_describe_versions = LaunchTemplates.describe_launch_template_versions


def delete_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    template = _template_from_params(self)
    versions = self._get_param("Versions", [])
    if len(versions) > 200:
        raise EC2ClientError(
            "InvalidParameterValue",
            "You can specify a maximum of 200 launch template versions in a single request.",
        )
    self.error_on_dryrun()
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with LOCK:
        for raw in versions:
            item = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name}
            try:
                number = int(raw)
                version = _lt_find(template, number)
            except (ValueError, EC2ClientError):
                failed.append(
                    {
                        **item,
                        "VersionNumber": int(raw) if str(raw).isdigit() else 0,
                        "ResponseError": {
                            "Code": "launchTemplateVersionDoesNotExist",
                            "Message": "The specified launch template version does not exist.",
                        },
                    }
                )
                continue
            if template.is_default(version):
                failed.append(
                    {
                        **item,
                        "VersionNumber": number,
                        "ResponseError": {
                            "Code": "unexpectedError",
                            "Message": "Cannot delete the default version of a launch template. "
                            "Use DeleteLaunchTemplate to delete all versions.",
                        },
                    }
                )
                continue
            template.versions.remove(version)
            ok.append({**item, "VersionNumber": number})
    return ActionResult(
        {
            "SuccessfullyDeletedLaunchTemplateVersions": ok,
            "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
        }
    )




def _resolve_alias(resp: LaunchTemplates, versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AWS answers ResolveAlias=true with the AMI ID a `resolve:ssm:` ImageId points at."""
    if not resp._get_bool_param("ResolveAlias", False):
        return versions
    from moto.ssm.models import ssm_backends

    ssm = ssm_backends[resp.current_account][resp.region]
    out = []
    for v in versions:
        image = (v.get("LaunchTemplateData") or {}).get("ImageId")
        if isinstance(image, str) and image.startswith("resolve:ssm:"):
            _authorize(resp.region, "ssm:GetParameters")
            param = ssm.get_parameter(image[len("resolve:ssm:"):])
            if param is not None:
                v = {**v, "LaunchTemplateData": {**v["LaunchTemplateData"], "ImageId": param.value}}
        out.append(v)
    return out


def install() -> None:
    # AutoScalingResponse's own call_action (a CRC header) calls this one: each call counts once.
    lt_models.LaunchTemplate.create_version = _lt_create_version
    lt_models.LaunchTemplate.get_version = _lt_get_version
    lt_models.LaunchTemplate.default_version = _lt_default_version
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions
    LaunchTemplates.describe_launch_templates = describe_launch_templates
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions
