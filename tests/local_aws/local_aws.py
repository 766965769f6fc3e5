"""The local AWS: moto 5.2.5, extended with the calls the deploy tools need and moto lacks.

moto dispatches a call to the method named after the action, in snake_case, on the service's
response class; a method returns an ``ActionResult`` that moto serialises with botocore's
model of the reply, and errors are ``ServiceException`` subclasses. State lives in moto's
backends. ``install()`` patches all of this in place, so the stock ``moto.server`` serves the
extended API. What it adds, kept as close to AWS as we can make it:

EC2
  * DeleteLaunchTemplateVersions: AWS's reply shape (successful and unsuccessful lists, at
    most 200 versions a call, the default version refused). Deleted versions vanish from
    describes and lookups; version numbers keep counting up and are never reused.
  * CreateLaunchTemplateVersion copies SourceVersion's data, as AWS does, and honours ClientToken: a retried create with the same token
    returns the version the first one made, instead of making a second.
  * CreateImage takes TagSpecifications for the snapshots it makes, as AWS does.
  * DescribeLaunchTemplates with LaunchTemplateIds naming a template that does not exist
    answers InvalidLaunchTemplateId.NotFound, as AWS does (moto answers an empty list).
  * DescribeLaunchTemplateVersions and DescribeImages page with MaxResults / NextToken (moto
    returns everything, or silently cuts a list at 15).
  * AMIs are EBS-backed (moto makes an EBS root snapshot for each, but calls them
    "standard"), so Packer's amazon-ebs builder takes one as its source.
  * DescribeImages leaves out disabled AMIs unless IncludeDisabled=true (asked for by ID
    too), and deprecated AMIs of other owners unless IncludeDeprecated=true (an owner sees
    its own deprecated AMIs always), as AWS does; moto lists every AMI. Each image reports
    `Public` (from its launch permissions), `DeregistrationProtection` and `DeprecationTime`.
  * Deregistration protection: EnableImageDeregistrationProtection (WithCooldown) and
    DisableImageDeregistrationProtection set the image's DeregistrationProtection
    (`enabled-with-cooldown`, `enabled-without-cooldown`, `disabled`; turned off after being
    enabled with the cooldown, it reads `disabled-until <time 24 h on>` and still protects
    until then). DeregisterImage of a protected AMI is refused with OperationNotPermitted (AWS
    does not document the code; the tools never rely on it, they read the field first).
  * Deprecation: EnableImageDeprecation (DeprecateAt, rounded to the nearest minute, as AWS
    does) and DisableImageDeprecation set and clear the image's DeprecationTime.
  * DescribeImageReferences (1 to 10 ImageIds, IncludeAllResourceTypes or ResourceTypes,
    paged): instances that run an image (by default in any state but terminated; the
    `state-name` option narrows it), launch templates whose newest versions (the
    `version-depth` option, default 10) name it, and SSM parameters of data type
    `aws:ec2:image` whose value is its ID, each with its ARN; Image Builder image and container
    recipes a test registered (see image_uses.py).
  * DescribeLaunchTemplateVersions with ResolveAlias=true answers a `resolve:ssm:NAME[:V]`
    ImageId with the parameter's value, as AWS does; without it, the alias as stored.
  * Permissions AWS checks on the caller's behalf inside a call (DescribeImageReferences
    reads SSM parameters, ResolveAlias reads the parameter) are recorded as authorisations,
    by Region, for the IAM policy tests (`/_local_aws/authorized`).
  * LastLaunchedTime: an image records each launch from it (RunInstances, an Auto Scaling
    group's launches, a refresh's), as AWS does. AWS reports a launch up to about 24 hours
    late; LOCAL_AWS_LAST_LAUNCH_DELAY (seconds, default 0) delays it here too.
  * DeregisterImage with DeleteAssociatedSnapshots=true deletes the image's snapshots in the
    same call and answers DeleteSnapshotResults, one {SnapshotId, ReturnCode} per snapshot:
    `success`; `skipped` when another registered image still uses the snapshot;
    `missing-permissions` when the caller may not DeleteSnapshot (a denied
    ec2:DeleteSnapshot, see the controls). The image is deregistered either way, as on AWS.
    The snapshot deletes are recorded as ec2:DeleteSnapshot authorisations.
  * RegisterImage honours BlockDeviceMappings' Ebs.SnapshotId: the image is made from that
    snapshot (so two images can share one, as AWS allows), not from a new one.
  * CopyImage (moto's, which copies the image and makes a new snapshot in the destination
    Region) leaves the copy `pending` for LOCAL_AWS_COPY_SECONDS (default 1) before it turns
    `available`, as AWS's copies take minutes; takes TagSpecifications for the image and its
    snapshots, and CopyImageTags (the source's own tags, which AWS otherwise leaves behind).
  * Images report SourceImageId and SourceImageRegion, as AWS does for CreateImage (the
    instance's AMI) and CopyImage (the AMI copied) and not for RegisterImage.
  * DescribeRegions lists the Regions of the caller's partition only (an aws account cannot
    see GovCloud or China), with AWS's OptInStatus: `opt-in-not-required` for the Regions
    launched before 20 March 2019, `opted-in` for the later ones (the local account has
    enabled every one, except those named in LOCAL_AWS_NOT_OPTED_IN, comma-separated, which
    read `not-opted-in` and are left out unless AllRegions=true). moto lists every partition,
    and calls some opt-in Regions default ones.
  * AMIs created one after another get strictly increasing CreationDates. EC2 reports them to
    the second, and on AWS an image takes minutes to make, so two never share one; here
    they are made in milliseconds, so each is dated at least a second after the previous
    one (a burst of N images runs up to N seconds ahead of the clock).

Auto Scaling
  * StartInstanceRefresh, DescribeInstanceRefreshes (newest first, MaxRecords, NextToken),
    CancelInstanceRefresh, RollbackInstanceRefresh. A refresh moves through Pending,
    InProgress (and Baking when BakeTime is set) to a terminal status over time, really
    replacing the group's instances with ones launched from the launch template version in
    force (the DesiredConfiguration's, if given), honouring SkipMatching. Instances are
    replaced in batches, as AWS does: as many at once as MinHealthyPercentage (default 90)
    lets be out of service, of the group's desired capacity, at least one, each terminated
    before its replacement is launched (capacity dips, as on AWS); with MaxHealthyPercentage
    above 100, up to that much more than the desired capacity (at least one instance) is
    launched first and as many old instances go once it is in service, so capacity never
    drops. Between the halves of a batch a describe sees the group below (or above) its
    desired capacity. A step of the
    engine stands for a minute of AWS's time: each batch warms up for InstanceWarmup, and at
    each of CheckpointPercentages below 100 the refresh waits CheckpointDelay (batches are cut
    short to land on a checkpoint). One active refresh per group. With AutoRollback, a failing refresh goes through RollbackInProgress to
    RollbackSuccessful and the group is back on the instances and configuration it had.
  * DescribeScalingActivities reports the launches, terminations and failures of refreshes.

Test controls (plain HTTP on the same port, under /_local_aws/, see server.py)
  * which calls were made, by action and Region (for call-count tests and IAM policy checks);
  * make a group's next refresh fail, or be cancelled, after N replacements;
  * date an image back by some days (an image's CreationDate cannot be set through the API);
  * hold an image in a state (`pending`, `failed`, ...) until told otherwise, as a slow or
    failed copy;
  * make a Region's DeregisterImage behave as an endpoint older than DeleteAssociatedSnapshots;
  * deny actions in a Region, as a missing IAM permission does.

The pace of a refresh is one step every LOCAL_AWS_REFRESH_STEP seconds (default 0.3).
"""

from __future__ import annotations

import datetime
import math
import os
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core import responses as core_responses
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ec2 import exceptions as ec2_exceptions
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidLaunchTemplateVersionNotFound,
)
from moto.ec2.models import amis as ec2_amis
from moto.ec2.models import instances as ec2_instances
from moto.ec2.models import launch_templates as lt_models
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.launch_templates import LaunchTemplates

import image_uses
import verification

LOCK = threading.RLock()
STEP_SECONDS = float(os.environ.get("LOCAL_AWS_REFRESH_STEP", "0.3"))

# ---------------------------------------------------------------------------------------------
# Call counting: every call that reaches a response class, as IAM names the action ("ec2:DescribeImages"), by Region
# (tests that share one server each work in a Region of their own).

CALLS: Counter[tuple[str, str]] = Counter()
# When the first call since the last reset arrived, by Region (for start-up latency).
FIRST_CALL: dict[str, float] = {}
# Actions a test took away, by Region: they answer UnauthorizedOperation / AccessDenied.
DENIED: dict[str, set[str]] = defaultdict(set)
# Other services' permissions that a call used on the caller's behalf, by Region (IAM tests).
AUTHORIZED: Counter[tuple[str, str]] = Counter()


def _authorize(region: str, *actions: str) -> None:
    with LOCK:
        for action in actions:
            AUTHORIZED[(region, action)] += 1


class _Denied(ServiceException):
    pass
_original_call_action = core_responses.BaseResponse.call_action


def _counting_call_action(self: core_responses.BaseResponse) -> Any:
    try:
        action = self._get_action()
    except Exception:  # noqa: BLE001 - a call moto cannot name is still counted
        action = "?"
    try:
        region = self.region
    except Exception:  # noqa: BLE001
        region = "?"
    # IAM names Elastic Load Balancing's actions alike for both API versions.
    service = "elasticloadbalancing" if self.service_name == "elbv2" else self.service_name
    name = f"{service}:{action}"
    with LOCK:
        CALLS[(region, name)] += 1
        FIRST_CALL.setdefault(region, time.time())
        denied = name in DENIED.get(region, set())
    if denied:
        service, verb = name.split(":", 1)
        code = "UnauthorizedOperation" if service == "ec2" else "AccessDenied"
        error = _Denied(
            code,
            f"You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/deployer "
            f"is not authorized to perform: {service}:{verb} because no identity-based policy allows the {service}:{verb} action",
        )
        # Serialised as moto serialises the errors its handlers raise.
        status, headers, body = self.serialized(ActionResult(error))
        headers, body = self._enrich_response(headers, body)
        return status, headers, body
    return _original_call_action(self)


# ---------------------------------------------------------------------------------------------
# Paging helper shared by the describes we page.


def _page(items: list[Any], token: str | None, max_results: int | None) -> tuple[list[Any], str | None]:
    start = int(token) if token else 0
    if max_results is None:
        return items[start:], None
    end = start + max_results
    return items[start:end], (str(end) if end < len(items) else None)


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
    page, token = _page(versions, self._get_param("NextToken"), self._get_int_param("MaxResults"))
    result: dict[str, Any] = {"LaunchTemplateVersions": _resolve_alias(self, [_version_dict(self, template, v) for v in page])}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


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


# ---------------------------------------------------------------------------------------------
# AMIs: paged describes, strictly increasing creation dates.

_last_creation = [datetime.datetime(2000, 1, 1)]
_original_ami_init = ec2_amis.Ami.__init__


def _ami_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_ami_init(self, *args, **kwargs)
    image_uses.init_traits(self, kwargs)
    # Every image moto makes has an EBS root snapshot, so it is EBS-backed ("standard" is
    # what moto says, and Packer's amazon-ebs builder refuses such a source AMI).
    self.root_device_type = "ebs"
    self.deregistration_protection = "disabled"
    self.deprecation_time = None
    self.last_launched_time = None
    self.source_image_id = None
    self.source_image_region = None
    with LOCK:
        created = self.creation_date
        if isinstance(created, datetime.datetime):
            floor = _last_creation[0] + datetime.timedelta(seconds=1)
            if created.replace(tzinfo=None) < floor:
                self.creation_date = floor.replace(tzinfo=created.tzinfo)
            _last_creation[0] = self.creation_date.replace(tzinfo=None)


_original_create_image = ec2_amis.AmiBackend.create_image


def _create_image(self: Any, instance_id: str, name: str, description: str, tag_specifications: list[dict[str, Any]]) -> Any:
    """CreateImage with TagSpecifications for "snapshot" too, as AWS takes them."""
    snapshot_tags: dict[str, str] = {}
    kept = []
    for spec in tag_specifications or []:
        if spec.get("ResourceType") == "snapshot":
            snapshot_tags.update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
        else:
            kept.append(spec)
    ami = _original_create_image(self, instance_id, name, description, tag_specifications=kept)
    image_uses.create_traits(self, ami)
    ami.source_image_id = ami.instance.image_id
    ami.source_image_region = self.region_name
    snapshot_ids = [snap.id for snap in self.snapshots.values() if snap.from_ami == ami.id]
    if snapshot_tags and snapshot_ids:
        self.create_tags(snapshot_ids, snapshot_tags)
    return ami


_original_describe_images = AmisResponse.describe_images


def _iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_time(value: Any) -> datetime.datetime:
    """A time as moto hands it over (already parsed, or ISO 8601 text), in UTC."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _is_deprecated(ami: Any) -> bool:
    at = getattr(ami, "deprecation_time", None)
    return bool(at) and _parse_time(at) <= _now()


def _protected(ami: Any) -> bool:
    state = getattr(ami, "deregistration_protection", "disabled")
    if state.startswith("disabled-until "):
        if _parse_time(state.split(" ", 1)[1]) > _now():
            return True
        ami.deregistration_protection = "disabled"
        return False
    return state != "disabled"


def describe_images(self: AmisResponse) -> ActionResult:
    result = _original_describe_images(self)
    include_disabled = self._get_bool_param("IncludeDisabled", False)
    include_deprecated = self._get_bool_param("IncludeDeprecated", False)
    account = self.current_account
    images = [
        ami
        for ami in result.result["Images"]
        if (include_disabled or ami.state != "disabled")
        and (include_deprecated or ami.owner_id == account or not _is_deprecated(ami))
    ]
    for ami in images:
        _protected(ami)  # a cooldown that ran out reads "disabled" again
        _settle(ami)
    max_results = self._get_int_param("MaxResults")
    token = self._get_param("NextToken")
    if max_results is None and not token:
        return ActionResult({"Images": images})
    images = sorted(images, key=lambda a: a.id)
    page, next_token = _page(images, token, max_results)
    out: dict[str, Any] = {"Images": page}
    if next_token:
        out["NextToken"] = next_token
    return ActionResult(out)


def _image(resp: AmisResponse) -> Any:
    ami_id = resp._get_param("ImageId")
    resp.error_on_dryrun()
    backend = resp.ec2_backend
    if ami_id in backend.deleted_amis:
        raise ec2_exceptions.UnvailableAMIIdError(ami_id)
    if ami_id not in backend.amis:
        raise ec2_exceptions.InvalidAMIIdError(ami_id)
    return backend.amis[ami_id]


def enable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    ami = _image(self)
    with_cooldown = self._get_bool_param("WithCooldown", False)
    ami.deregistration_protection = "enabled-with-cooldown" if with_cooldown else "enabled-without-cooldown"
    return ActionResult({"Return": "true"})


def disable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    ami = _image(self)
    if getattr(ami, "deregistration_protection", "disabled") == "enabled-with-cooldown":
        until = _now() + datetime.timedelta(hours=24)
        ami.deregistration_protection = f"disabled-until {until.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    elif not getattr(ami, "deregistration_protection", "disabled").startswith("disabled-until "):
        ami.deregistration_protection = "disabled"
    return ActionResult({"Return": "true"})


def enable_image_deprecation(self: AmisResponse) -> ActionResult:
    ami = _image(self)
    at = _parse_time(self._get_param("DeprecateAt"))
    # "If you specify a value for seconds, Amazon EC2 rounds the seconds to the nearest minute."
    at = at.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1 if at.second >= 30 else 0)
    ami.deprecation_time = _iso(at)
    return ActionResult({"Return": True})


def disable_image_deprecation(self: AmisResponse) -> ActionResult:
    ami = _image(self)
    ami.deprecation_time = None
    return ActionResult({"Return": True})


_original_deregister_image = AmisResponse.deregister_image


def deregister_image(self: AmisResponse) -> ActionResult:
    ami = self.ec2_backend.amis.get(self._get_param("ImageId"))
    if ami is not None and _protected(ami):
        raise EC2ClientError(
            "OperationNotPermitted",
            f"The image {ami.id} has deregistration protection enabled ({ami.deregistration_protection}); "
            "disable it with DisableImageDeregistrationProtection first.",
        )
    delete_snapshots = self._get_bool_param("DeleteAssociatedSnapshots", False)
    with LOCK:
        older_endpoint = self.region in OLD_DEREGISTER
    if older_endpoint or not delete_snapshots or ami is None or self._get_bool_param("DryRun", False):
        return _original_deregister_image(self)
    snapshot_ids = [m["Ebs"]["SnapshotId"] for m in ami.block_device_mappings if m.get("Ebs", {}).get("SnapshotId")]
    _original_deregister_image(self)
    backend = self.ec2_backend
    with LOCK:
        denied = "ec2:DeleteSnapshot" in DENIED.get(self.region, set())
    results = []
    for snap in snapshot_ids:
        users = [a for a in backend.amis.values() if any(m.get("Ebs", {}).get("SnapshotId") == snap for m in a.block_device_mappings)]
        if users:
            code = "skipped"
        elif denied:
            code = "missing-permissions"
        elif snap not in backend.snapshots:
            code = "success"  # already gone: the goal holds
        else:
            _authorize(self.region, "ec2:DeleteSnapshot")
            backend.snapshots.pop(snap, None)
            code = "success"
        results.append({"SnapshotId": snap, "ReturnCode": code})
    return ActionResult({"Return": True, "DeleteSnapshotResults": results})


# ---------------------------------------------------------------------------------------------
# Copies: pending for a while, tagged as asked, with their source recorded.

COPY_SECONDS = float(os.environ.get("LOCAL_AWS_COPY_SECONDS", "1"))
_original_copy_image = AmisResponse.copy_image


def _settle(ami: Any) -> None:
    """A copy still `pending` becomes `available` once its time has come, unless held."""
    with LOCK:
        if ami.state == "pending" and not getattr(ami, "held", False) and time.time() >= getattr(ami, "ready_at", 0):
            ami.state = "available"


def copy_image(self: AmisResponse) -> ActionResult:
    source_id = self._get_param("SourceImageId")
    source_region = self._get_param("SourceRegion")
    result = _original_copy_image(self)
    backend = self.ec2_backend
    ami = backend.amis[result.result["ImageId"]]
    ami.source_image_id = source_id
    ami.source_image_region = source_region
    image_tags: dict[str, str] = {}
    if self._get_bool_param("CopyImageTags", False):
        from moto.ec2.models import ec2_backends

        source = ec2_backends[self.current_account][source_region].amis[source_id]
        image_tags.update({t["key"]: t["value"] for t in source.get_tags()})
    snapshot_tags: dict[str, str] = {}
    for spec in self._get_param("TagSpecifications", []) or []:
        tags = {t["Key"]: t["Value"] for t in spec.get("Tags", [])}
        if spec.get("ResourceType") == "image":
            image_tags.update(tags)
        elif spec.get("ResourceType") == "snapshot":
            snapshot_tags.update(tags)
    if image_tags:
        backend.create_tags([ami.id], image_tags)
    if snapshot_tags:
        backend.create_tags([ami.ebs_snapshot.id], snapshot_tags)
    if COPY_SECONDS > 0:
        ami.state = "pending"
        ami.ready_at = time.time() + COPY_SECONDS
    return result


def set_image_state(account: str, region: str, image_id: str, state: str) -> None:
    """Test control: the image is in `state` and stays so (a copy held pending, or failed)."""
    from moto.ec2.models import ec2_backends

    ami = ec2_backends[account][region].amis[image_id]
    with LOCK:
        ami.state = state
        ami.held = state != "available"


_DEFAULT_REGIONS = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ca-central-1",
    "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "sa-east-1",
}
NOT_OPTED_IN = {r.strip() for r in os.environ.get("LOCAL_AWS_NOT_OPTED_IN", "").split(",") if r.strip()}


def _partition(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def describe_regions(self: Any) -> ActionResult:
    self.error_on_dryrun()
    names = self._get_param("RegionNames", []) or []
    everything = self._get_bool_param("AllRegions", False)
    regions = []
    for region in self.ec2_backend.describe_regions():
        if _partition(region.name) != _partition(self.region):
            continue
        if region.name in _DEFAULT_REGIONS or _partition(region.name) != "aws":
            status = "opt-in-not-required"
        elif region.name in NOT_OPTED_IN:
            status = "not-opted-in"
        else:
            status = "opted-in"
        if status == "not-opted-in" and not everything and region.name not in names:
            continue
        if names and region.name not in names:
            continue
        regions.append({"RegionName": region.name, "Endpoint": region.endpoint, "OptInStatus": status})
    return ActionResult({"Regions": regions})


_original_register_image = AmisResponse.register_image


def register_image(self: AmisResponse) -> ActionResult:
    """RegisterImage from an existing snapshot (BlockDeviceMappings' Ebs.SnapshotId)."""
    result = _original_register_image(self)
    image_uses.register_traits(self, result.result["ImageId"])
    mappings = self._get_param("BlockDeviceMappings", [])
    snap_id = next((m.get("Ebs", {}).get("SnapshotId") for m in mappings if m.get("Ebs", {}).get("SnapshotId")), None)
    if snap_id:
        backend = self.ec2_backend
        ami = backend.amis[result.result["ImageId"]]
        own = ami.ebs_snapshot
        ami.ebs_snapshot = backend.snapshots[snap_id]
        backend.snapshots.pop(own.id, None)
    return result


LAST_LAUNCH_DELAY = float(os.environ.get("LOCAL_AWS_LAST_LAUNCH_DELAY", "0"))
_original_instance_init = ec2_instances.Instance.__init__


def _instance_init(self: Any, ec2_backend: Any, image_id: str, *args: Any, **kwargs: Any) -> None:
    _original_instance_init(self, ec2_backend, image_id, *args, **kwargs)
    verification.on_launch(self)
    ami = ec2_backend.amis.get(self.image_id)
    if ami is not None:
        stamp = _iso(_now())

        def record() -> None:
            ami.last_launched_time = stamp

        if LAST_LAUNCH_DELAY > 0:
            threading.Timer(LAST_LAUNCH_DELAY, record).start()
        else:
            record()


def _ssm_parameters(account: str, region: str) -> list[Any]:
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[account][region]
    return [versions[-1] for name, versions in list(backend._parameters.items()) if versions]


def _parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def describe_image_references(self: AmisResponse) -> ActionResult:
    ids = self._get_param("ImageIds", [])
    if not 1 <= len(ids) <= 10:
        raise EC2ClientError("InvalidParameterValue", "ImageIds must name between 1 and 10 images.")
    include_all = self._get_bool_param("IncludeAllResourceTypes", False)
    requested = self._get_param("ResourceTypes", [])
    if not include_all and not requested:
        raise EC2ClientError("MissingParameter", "Specify either IncludeAllResourceTypes or ResourceTypes.")
    self.error_on_dryrun()
    options: dict[str, dict[str, list[str]]] = {}
    for r in requested:
        opts = {o.get("OptionName"): o.get("OptionValues", []) for o in r.get("ResourceTypeOptions", [])}
        options[r["ResourceType"]] = opts
    every = {"ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter", *image_uses.RECIPE_PERMISSIONS}
    types = set(options) | (every if include_all else set())
    backend = self.ec2_backend
    region, account = self.region, self.current_account
    wanted = set(ids)
    refs: list[dict[str, str]] = []
    if "ec2:Instance" in types:
        states = set(options.get("ec2:Instance", {}).get("state-name", [])) or {"pending", "running", "shutting-down", "stopping", "stopped"}
        for reservation in backend.reservations.values():
            for inst in reservation.instances:
                if inst.image_id in wanted and inst.state in states:
                    refs.append({"ImageId": inst.image_id, "ResourceType": "ec2:Instance",
                                 "Arn": f"arn:aws:ec2:{region}:{account}:instance/{inst.id}"})
    if "ec2:LaunchTemplate" in types:
        depth = int((options.get("ec2:LaunchTemplate", {}).get("version-depth") or ["10"])[0])
        for template in backend.launch_templates.values():
            for version in sorted(template.versions, key=lambda v: v.number)[-depth:]:
                image = version.data.get("ImageId")
                if image in wanted:
                    refs.append({"ImageId": image, "ResourceType": "ec2:LaunchTemplate",
                                 "Arn": f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}"})
    if "ssm:Parameter" in types:
        _authorize(region, "ssm:DescribeParameters", "ssm:GetParameters")
        for param in _ssm_parameters(account, region):
            if param.data_type == "aws:ec2:image" and param.value in wanted:
                refs.append({"ImageId": param.value, "ResourceType": "ssm:Parameter",
                             "Arn": _parameter_arn(region, account, param.name)})
    refs.extend(image_uses.recipe_references(account, region, types, wanted, _authorize))
    page, token = _page(refs, self._get_param("NextToken"), self._get_int_param("MaxResults"))
    out: dict[str, Any] = {"ImageReferences": page}
    if token:
        out["NextToken"] = token
    return ActionResult(out)


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


# ---------------------------------------------------------------------------------------------
# Instance refresh.


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"
    message = "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"

    def __init__(self, group: str):
        super().__init__(f"No in progress or pending Instance Refresh found for Auto Scaling group {group}")


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"


TERMINAL = {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}

# Faults a test asked for, by (account, region, group): applied to the group's next refresh.
FAULTS: dict[tuple[str, str, str], dict[str, Any]] = {}
# Activities we record, by (account, region, group), newest last.
ACTIVITIES: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _resolve(lt: Any, version: str) -> int:
    return lt.get_version(version).number


class Refresh:
    """One instance refresh and the thread that carries it out."""

    def __init__(self, backend: Any, group: Any, params: dict[str, Any]):
        self.backend = backend
        self.group = group
        self.key = (backend.account_id, backend.region_name, group.name)
        self.id = str(uuid.uuid4())
        self.strategy = params.get("Strategy") or "Rolling"
        prefs = dict(params.get("Preferences") or {})
        prefs.setdefault("MinHealthyPercentage", 90)
        prefs.setdefault("SkipMatching", False)
        prefs.setdefault("AutoRollback", False)
        prefs.setdefault("ScaleInProtectedInstances", "Wait")
        prefs.setdefault("StandbyInstances", "Wait")
        self.preferences = prefs
        self.desired = params.get("DesiredConfiguration") or None
        self.status = "Pending"
        self.status_reason: str | None = None
        self.start_time = _now()
        self.end_time: datetime.datetime | None = None
        self.percentage = 0
        self.rollback_details: dict[str, Any] | None = None
        self.cancel_requested = False
        self.rollback_requested: str | None = None
        self.fault = FAULTS.pop(self.key, None)

        if group.ec2_launch_template is None:
            raise ValidationError(f"The group {group.name} does not use a launch template.")
        # What the group runs now: where a rollback goes back to.
        self.old_lt = group.ec2_launch_template
        self.old_version = str(group.launch_template_version)
        self.old_provided = group.provided_launch_template_version
        # What the refresh launches.
        self.new_lt, self.new_version = self.old_lt, self.old_version
        spec = (self.desired or {}).get("LaunchTemplate") or (
            ((self.desired or {}).get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
        ).get("LaunchTemplateSpecification")
        if spec:
            ec2 = group.ec2_backend
            if spec.get("LaunchTemplateId"):
                self.new_lt = ec2.get_launch_template(spec["LaunchTemplateId"])
            elif spec.get("LaunchTemplateName"):
                self.new_lt = ec2.get_launch_template_by_name(spec["LaunchTemplateName"])
            self.new_version = str(spec.get("Version") or "$Default")
        if prefs.get("AutoRollback"):
            # AWS rolls back only to and from numbered launch template versions.
            if not spec:
                raise ValidationError("Auto rollback requires a desired configuration to be specified.")
            if not str(self.new_version).isdigit():
                raise ValidationError(
                    "You can't enable auto rollback when the desired configuration specifies "
                    "$Latest or $Default as the launch template version. Specify a version number."
                )
            if not str(self.old_version).isdigit():
                raise ValidationError(
                    f"You can't enable auto rollback because the Auto Scaling group {group.name} uses "
                    "the $Latest or $Default launch template version. Specify a version number."
                )
        self.new_number = _resolve(self.new_lt, self.new_version)
        self.old_number = _resolve(self.old_lt, self.old_version)
        self.replaced: list[str] = []  # new instance ids this refresh launched
        self.to_replace = [s.instance.id for s in group.instance_states if not self._matches(s.instance)]
        self.total = len(self.to_replace)
        # AWS replaces as many instances at once as may be out of service while the group
        # keeps MinHealthyPercentage of its desired capacity healthy; at least one.
        min_healthy = int(prefs["MinHealthyPercentage"])
        self.batch = max(1, group.desired_capacity * (100 - min_healthy) // 100)
        # With MaxHealthyPercentage above 100, AWS launches up to that much of the desired
        # capacity (at least one instance more) before it terminates as many old instances:
        # capacity never drops.
        max_healthy = int(prefs.get("MaxHealthyPercentage") or 100)
        self.launch_first = max_healthy > 100
        if self.launch_first:
            self.batch = max(1, group.desired_capacity * (max_healthy - 100) // 100)
        # Time: a step stands for a minute of AWS's time. Each batch warms up for
        # InstanceWarmup (at least a step); at each checkpoint below 100% the refresh stays
        # InProgress for CheckpointDelay (AWS's default: an hour), batches cut short to land
        # on it.
        self.warmup_steps = max(1, math.ceil(int(prefs.get("InstanceWarmup") or 0) / 60))
        self.checkpoints = sorted(int(p) for p in prefs.get("CheckpointPercentages") or [])
        self.checkpoint_steps = math.ceil(int(prefs.get("CheckpointDelay") or 3600) / 60)
        self.thread = threading.Thread(target=self._run, name=f"refresh-{self.id}", daemon=True)

    # -- matching and replacing --------------------------------------------------------------

    def _matches(self, instance: Any) -> bool:
        if not self.preferences.get("SkipMatching"):
            return False
        launched = getattr(instance, "_local_aws_launched_from", None)
        if launched is not None:
            return launched == (self.new_lt.id, self.new_number)
        version = self.new_lt.get_version(self.new_number)
        return instance.image_id == version.image_id

    def _launch(self, lt: Any, number: int) -> str:
        group = self.group
        saved = (group.ec2_launch_template, group.launch_template_version)
        before = {s.instance.id for s in group.instance_states}
        group.ec2_launch_template, group.launch_template_version = lt, str(number)
        try:
            group.replace_autoscaling_group_instances(1, group.get_propagated_tags())
        finally:
            group.ec2_launch_template, group.launch_template_version = saved
        new = [s.instance for s in group.instance_states if s.instance.id not in before]
        new[0]._local_aws_launched_from = (lt.id, number)
        self._activity(
            f"Launching a new EC2 instance: {new[0].id}",
            f"At {_now():%Y-%m-%dT%H:%M:%SZ} an instance was launched in response to instance refresh {self.id}.",
        )
        return new[0].id

    def _terminate(self, instance_id: str) -> None:
        group = self.group
        state = next((s for s in group.instance_states if s.instance.id == instance_id), None)
        if state is None:
            return
        group.ec2_backend.terminate_instances([instance_id])
        group.instance_states.remove(state)
        self._activity(
            f"Terminating EC2 instance: {instance_id}",
            f"At {_now():%Y-%m-%dT%H:%M:%SZ} an instance was taken out of service in response to instance refresh {self.id}.",
        )

    def _activity(self, description: str, cause: str, status: str = "Successful", message: str | None = None) -> None:
        entry = {
            "ActivityId": str(uuid.uuid4()),
            "AutoScalingGroupName": self.group.name,
            "Description": description,
            "Cause": cause,
            "StartTime": _now(),
            "EndTime": _now(),
            "StatusCode": status,
            "Progress": 100,
        }
        if message:
            entry["StatusMessage"] = message
        ACTIVITIES[self.key].append(entry)

    # -- the state machine --------------------------------------------------------------------

    def _finish(self, status: str, reason: str | None = None) -> None:
        self.status = status
        if reason is not None:
            self.status_reason = reason
        self.end_time = _now()

    def _roll_back(self, reason: str) -> None:
        self.status = "RollbackInProgress"
        self.status_reason = reason
        self.rollback_details = {
            "RollbackReason": reason,
            "RollbackStartTime": _now(),
            "PercentageCompleteOnRollback": self.percentage,
            "InstancesToUpdateOnRollback": len(self.replaced),
        }
        pending = list(self.replaced)
        time.sleep(STEP_SECONDS)
        for first in range(0, len(pending), self.batch):
            with LOCK:
                for instance_id in pending[first : first + self.batch]:
                    self._launch(self.old_lt, self.old_number)
                    self._terminate(instance_id)
            time.sleep(STEP_SECONDS)
        with LOCK:
            # The group keeps (or gets back) the configuration it had.
            self.group.ec2_launch_template = self.old_lt
            self.group.launch_template_version = self.old_version
            self.group.provided_launch_template_version = self.old_provided
            self._finish("RollbackSuccessful")

    def _fail(self, reason: str) -> None:
        self._activity("Instance refresh failed", reason, status="Failed", message=reason)
        if self.preferences.get("AutoRollback"):
            self._roll_back(reason)
        else:
            self._finish("Failed", reason)

    def _run(self) -> None:
        try:
            self._steps()
        except Exception as exc:  # noqa: BLE001 - a bug here must show as a failed refresh
            with LOCK:
                self._finish("Failed", f"local AWS error: {exc!r}")

    def _wait(self, steps: int) -> None:
        """Waits `steps` steps, or less if the refresh is cancelled or rolled back meanwhile."""
        for _ in range(steps):
            time.sleep(STEP_SECONDS)
            if self.cancel_requested or self.rollback_requested is not None:
                return

    def _steps(self) -> None:
        time.sleep(STEP_SECONDS)
        with LOCK:
            if self.cancel_requested:
                self._finish("Cancelled", "Instance refresh was cancelled.")
                return
            self.status = "InProgress"
        fault = self.fault or {}
        failure: str | None = None
        done = 0
        wait = 1
        # A batch after each wait, and one more turn after the last, so that a fault "after
        # all of them" fires.
        while True:
            self._wait(wait)
            with LOCK:
                if fault.get("cancel_after") is not None and done >= fault["cancel_after"]:
                    self.cancel_requested = True
                    self.status = "Cancelling"
                if self.cancel_requested or self.rollback_requested is not None:
                    break
                if fault.get("fail_after") is not None and done >= fault["fail_after"]:
                    failure = fault.get("reason") or "Instances failed to pass health checks during the refresh."
                    break
                if done == self.total:
                    break
                # A fault "after N" stops the batch at N, and a checkpoint at its count.
                marks = [math.ceil(self.total * c / 100) for c in self.checkpoints if c < 100]
                limit = min(x for x in (fault.get("fail_after"), fault.get("cancel_after"), self.total, *marks) if x is not None and x > done)
                batch = self.to_replace[done : min(done + self.batch, limit)]
                # With MaxHealthyPercentage above 100 the new instances come first and the old
                # go once they are in service; without, the old go first (capacity dips).
                if self.launch_first:
                    self.replaced.extend(self._launch(self.new_lt, self.new_number) for _ in batch)
                else:
                    for instance_id in batch:
                        self._terminate(instance_id)
            # Between the two halves of a batch (the new instances starting, or the old ones
            # draining), as on AWS: a describe now sees the group above or below its capacity.
            time.sleep(STEP_SECONDS)
            with LOCK:
                if self.launch_first:
                    for instance_id in batch:
                        self._terminate(instance_id)
                else:
                    self.replaced.extend(self._launch(self.new_lt, self.new_number) for _ in batch)
                done += len(batch)
                self.percentage = int(100 * done / self.total)
                wait = self.warmup_steps + (self.checkpoint_steps if done in marks and done < self.total else 0)
        if self.cancel_requested:
            time.sleep(STEP_SECONDS)
            with LOCK:
                self._finish("Cancelled", "Instance refresh was cancelled.")
        elif self.rollback_requested is not None:
            self._roll_back(self.rollback_requested)
        elif failure is not None:
            self._fail(failure)
        else:
            if int(self.preferences.get("BakeTime") or 0) > 0:
                with LOCK:
                    self.status = "Baking"
                time.sleep(STEP_SECONDS)
            with LOCK:
                if self.desired:
                    # After success, the group's own settings match the desired configuration.
                    self.group.ec2_launch_template = self.new_lt
                    self.group.launch_template_version = self.new_version
                    self.group.provided_launch_template_version = self.new_version
                self.percentage = 100
                self._finish("Successful")

    def instances_to_update(self) -> int:
        return max(self.total - len(self.replaced), 0) if self.status not in TERMINAL else 0

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "InstanceRefreshId": self.id,
            "AutoScalingGroupName": self.group.name,
            "Status": self.status,
            "StartTime": self.start_time,
            "PercentageComplete": self.percentage,
            "InstancesToUpdate": self.instances_to_update(),
            "ProgressDetails": {
                "LivePoolProgress": {
                    "PercentageComplete": self.percentage,
                    "InstancesToUpdate": self.instances_to_update(),
                }
            },
            "Preferences": self.preferences,
            "Strategy": self.strategy,
        }
        if self.status_reason:
            out["StatusReason"] = self.status_reason
        if self.end_time:
            out["EndTime"] = self.end_time
        if self.desired:
            out["DesiredConfiguration"] = self.desired
        if self.rollback_details:
            out["RollbackDetails"] = self.rollback_details
        return out


def _refreshes(backend: Any) -> dict[str, list[Refresh]]:
    return backend.__dict__.setdefault("_local_aws_refreshes", defaultdict(list))


def _group(backend: Any, name: str) -> Any:
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return group


def _active(backend: Any, name: str) -> Refresh | None:
    return next((r for r in _refreshes(backend)[name] if r.status not in TERMINAL), None)


def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, params.get("AutoScalingGroupName"))
        if _active(backend, group.name):
            raise InstanceRefreshInProgress()
        refresh = Refresh(backend, group, params)
        _refreshes(backend)[group.name].insert(0, refresh)
    refresh.thread.start()
    return ActionResult({"InstanceRefreshId": refresh.id})


def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, params.get("AutoScalingGroupName"))
        refreshes = list(_refreshes(backend)[group.name])
        ids = params.get("InstanceRefreshIds") or []
        if ids:
            refreshes = [r for r in refreshes if r.id in ids]
        page, token = _page(refreshes, params.get("NextToken"), int(params.get("MaxRecords") or 50))
        result: dict[str, Any] = {"InstanceRefreshes": [r.describe() for r in page]}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, self._get_param("AutoScalingGroupName"))
        refresh = _active(backend, group.name)
        if refresh is None or refresh.status in ("Cancelling", "RollbackInProgress"):
            raise ActiveInstanceRefreshNotFound(group.name)
        refresh.cancel_requested = True
        refresh.status = "Cancelling"
    return ActionResult({"InstanceRefreshId": refresh.id})


def rollback_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, self._get_param("AutoScalingGroupName"))
        refresh = _active(backend, group.name)
        if refresh is None:
            raise ActiveInstanceRefreshNotFound(group.name)
        if not refresh.desired:
            raise IrreversibleInstanceRefresh("The instance refresh has no desired configuration to roll back from.")
        if not str(refresh.old_version).isdigit():
            raise IrreversibleInstanceRefresh(
                f"The Auto Scaling group {group.name} uses the $Latest or $Default launch template version; it cannot be rolled back to."
            )
        refresh.rollback_requested = "Rollback requested by RollbackInstanceRefresh."
    return ActionResult({"InstanceRefreshId": refresh.id})


def describe_scaling_activities(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    backend = self.autoscaling_backend
    name = params.get("AutoScalingGroupName")
    with LOCK:
        keys = [k for k in ACTIVITIES if k[:2] == (backend.account_id, backend.region_name) and (not name or k[2] == name)]
        entries = sorted((a for k in keys for a in ACTIVITIES[k]), key=lambda a: a["StartTime"], reverse=True)
    page, token = _page(entries, params.get("NextToken"), int(params.get("MaxRecords") or 100))
    result: dict[str, Any] = {"Activities": page}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


# ---------------------------------------------------------------------------------------------
# Test controls, called by server.py's /_local_aws/ routes.


# Regions whose DeregisterImage predates DeleteAssociatedSnapshots (a test control): the
# parameter is ignored and no DeleteSnapshotResults come back, as from an older endpoint.
OLD_DEREGISTER: set[str] = set()


def old_deregister(region: str, on: bool) -> None:
    with LOCK:
        (OLD_DEREGISTER.add if on else OLD_DEREGISTER.discard)(region)


def age_image(account: str, region: str, image_id: str, days: float) -> None:
    """Test control: dates an image `days` back, as if made then (an API cannot)."""
    from moto.ec2.models import ec2_backends

    ami = ec2_backends[account][region].amis[image_id]
    ami.creation_date = _now() - datetime.timedelta(days=days)


def deny(region: str, actions: list[str]) -> None:
    with LOCK:
        DENIED[region] = set(actions)


def set_fault(account: str, region: str, group: str, fault: dict[str, Any]) -> None:
    with LOCK:
        FAULTS[(account, region, group)] = fault


def _totals(counter: Counter[tuple[str, str]], region: str | None) -> dict[str, int]:
    totals: Counter[str] = Counter()
    with LOCK:
        for (r, action), n in counter.items():
            if region is None or r == region:
                totals[action] += n
    return dict(totals)


def calls(region: str | None = None) -> dict[str, int]:
    return _totals(CALLS, region)


def first_call(region: str) -> float | None:
    with LOCK:
        return FIRST_CALL.get(region)


def authorized(region: str | None = None) -> dict[str, int]:
    return _totals(AUTHORIZED, region)


def reset_calls(region: str | None = None) -> None:
    with LOCK:
        for key in [k for k in AUTHORIZED if region is None or k[0] == region]:
            del AUTHORIZED[key]
        for r in [r for r in FIRST_CALL if region is None or r == region]:
            del FIRST_CALL[r]
        for key in [k for k in CALLS if region is None or k[0] == region]:
            del CALLS[key]


_installed = False


def install() -> None:
    """Patches moto in place. Safe to call more than once."""
    global _installed
    if _installed:
        return
    _installed = True
    core_responses.BaseResponse.call_action = _counting_call_action
    image_uses.install()
    verification.install()
    # AutoScalingResponse's own call_action (a CRC header) calls this one: each call counts once.
    lt_models.LaunchTemplate.create_version = _lt_create_version
    lt_models.LaunchTemplate.get_version = _lt_get_version
    lt_models.LaunchTemplate.default_version = _lt_default_version
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions
    LaunchTemplates.describe_launch_templates = describe_launch_templates
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions
    ec2_amis.Ami.__init__ = _ami_init
    ec2_amis.AmiBackend.create_image = _create_image
    AmisResponse.describe_images = describe_images
    # `Public`, as botocore names it, from moto's launch permissions.
    ec2_amis.Ami.public = property(lambda ami: ami.is_public)
    AmisResponse.deregister_image = deregister_image
    AmisResponse.register_image = register_image
    AmisResponse.copy_image = copy_image
    from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions

    AvailabilityZonesAndRegions.describe_regions = describe_regions
    ec2_instances.Instance.__init__ = _instance_init
    AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection
    AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection
    AmisResponse.enable_image_deprecation = enable_image_deprecation
    AmisResponse.disable_image_deprecation = disable_image_deprecation
    AmisResponse.describe_image_references = describe_image_references
    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh
    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities
