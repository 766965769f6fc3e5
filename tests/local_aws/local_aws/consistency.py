"""EC2's eventual consistency, when asked: a resource just made stays unknown by its ID for a while.

AWS's "Eventual consistency in the Amazon EC2 API" page: the ID of a resource a call has just
made may not have reached the rest of the system, so the calls that follow and name it are
answered as if it did not exist (``InvalidInstanceID.NotFound`` right after ``RunInstances``,
likewise for an AMI), and a ``TerminateInstances`` refused so has not terminated the instance:
it may well be running. Callers are to retry with exponential backoff from a second or two up
to a few minutes.

Off by default, so the functional tests stay fast and simple. With it on, for all Regions from
the environment at start-up (LOCAL_AWS_CONSISTENCY_SECONDS: each new ID is hidden that long;
or LOCAL_AWS_CONSISTENCY_MAX_SECONDS: a random time up to it, drawn for each) or for one Region
through the ``/_local_aws/consistency`` control, these are hidden from the calls that name them
by ID, from the moment the call that made them answers:

* an instance (``RunInstances``): EC2's calls that name it answer ``InvalidInstanceID.NotFound``
  (DescribeInstances, DescribeInstanceStatus, TerminateInstances, which then terminates
  nothing, CreateTags, DeleteTags, CreateImage), SSM's SendCommand ``InvalidInstanceId``, and
  Elastic Load Balancing's RegisterTargets and DeregisterTargets ``InvalidTarget``;
* an AMI (``CreateImage``, ``CopyImage``, ``RegisterImage``): ``InvalidAMIID.NotFound``
  (DescribeImages by ID, DescribeImageAttribute, ModifyImageAttribute, CreateTags, DeleteTags,
  DeregisterImage, DisableImage, EnableImageDeprecation, CopyImage's source, RunInstances);
* a launch template version (``CreateLaunchTemplateVersion``): EC2's
  DescribeLaunchTemplateVersions naming its number and ModifyLaunchTemplate making it the
  default answer ``InvalidLaunchTemplateId.VersionNotFound``; Auto Scaling's
  StartInstanceRefresh whose desired configuration names it answers ``ValidationError``.

Listings by filter (DescribeInstances or DescribeImages without IDs) show them, which AWS's page
allows (it promises nothing either way). Each refusal is counted by Region and action
(``/_local_aws/consistency/refused``).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

_LOCK = threading.Lock()


@dataclass
class Setting:
    seconds: float = 0.0
    max_seconds: float = 0.0

    def delay(self) -> float:
        if self.max_seconds > 0:
            return random.uniform(0, self.max_seconds)
        return self.seconds


DEFAULT = Setting(
    seconds=float(os.environ.get("LOCAL_AWS_CONSISTENCY_SECONDS", "0")),
    max_seconds=float(os.environ.get("LOCAL_AWS_CONSISTENCY_MAX_SECONDS", "0")),
)
# Region -> its setting, where a control set one.
SETTINGS: dict[str, Setting] = {}
# (account, region, kind, id) -> when it becomes known. Kinds: instance, image, version
# (whose id is "lt-...:N").
HIDDEN: dict[tuple[str, str, str, str], float] = {}
# (region, action) -> calls refused for naming a hidden ID.
REFUSED: Counter[tuple[str, str]] = Counter()


def configure(region: str, seconds: float, max_seconds: float) -> None:
    with _LOCK:
        SETTINGS[region] = Setting(seconds, max_seconds)


def refused(region: str | None = None) -> dict[str, int]:
    totals: Counter[str] = Counter()
    with _LOCK:
        for (r, action), n in REFUSED.items():
            if region is None or r == region:
                totals[action] += n
    return dict(totals)


def reset(region: str | None = None) -> None:
    with _LOCK:
        for key in [k for k in REFUSED if region is None or k[0] == region]:
            del REFUSED[key]


def made(account: str, region: str, kind: str, ids: list[str]) -> None:
    """Hides these new IDs for the Region's time, if its setting is on."""
    with _LOCK:
        setting = SETTINGS.get(region, DEFAULT)
        for i in ids:
            delay = setting.delay()
            if delay > 0:
                HIDDEN[(account, region, kind, i)] = time.time() + delay


def hidden(account: str, region: str, kind: str, ids: list[str]) -> list[str]:
    now = time.time()
    with _LOCK:
        return [i for i in ids if HIDDEN.get((account, region, kind, i), 0) > now]


def _refuse(response: Any, action: str) -> None:
    with _LOCK:
        REFUSED[(response.region, action)] += 1


def _ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _guard(cls: Any, method: str, action: str, checks: Callable[[Any], None]) -> None:
    """Makes `cls.method` run `checks` (which raise the refusal) before the call acts."""
    original = getattr(cls, method)

    def guarded(self: Any) -> Any:
        try:
            checks(self)
        except Exception:
            _refuse(self, action)
            raise
        return original(self)

    setattr(cls, method, guarded)


def _record(cls: Any, method: str, kind: str, new_ids: Callable[[Any, Any], list[str]]) -> None:
    """Makes `cls.method` hide the IDs it made, once it has answered."""
    original = getattr(cls, method)

    def recording(self: Any) -> Any:
        result = original(self)
        if not self._get_param("DryRun", False):
            made(self.current_account, self.region, kind, new_ids(self, result))
        return result

    setattr(cls, method, recording)


def _no_instance(self: Any, *params: str) -> None:
    from moto.ec2.exceptions import InvalidInstanceIdError

    for p in params:
        ids = [i for i in _ids(self._get_param(p)) if i.startswith("i-")]
        gone = hidden(self.current_account, self.region, "instance", ids)
        if gone:
            raise InvalidInstanceIdError(gone)


def _no_image(self: Any, *params: str) -> None:
    from moto.ec2.exceptions import InvalidAMIIdError

    for p in params:
        ids = [i for i in _ids(self._get_param(p)) if i.startswith("ami-")]
        gone = hidden(self.current_account, self.region, "image", ids)
        if gone:
            raise InvalidAMIIdError(gone[0])


def _no_version(self: Any, template_id: Any, versions: list[str]) -> None:
    from moto.ec2.exceptions import EC2ClientError

    if not template_id:
        return
    keys = [f"{template_id}:{v}" for v in versions if str(v).isdigit()]
    gone = hidden(self.current_account, self.region, "version", keys)
    if gone:
        version = gone[0].split(":")[1]
        raise EC2ClientError(
            "InvalidLaunchTemplateId.VersionNotFound",
            f"Could not find launch template version {version} for the launch template with ID '{template_id}'.",
        )


def _both(self: Any, *params: str) -> None:
    _no_instance(self, *params)
    _no_image(self, *params)


def _send_command(self: Any) -> None:
    from moto.core.exceptions import JsonRESTError

    gone = hidden(self.current_account, self.region, "instance", _ids(self._get_param("InstanceIds")))
    if gone:
        raise JsonRESTError("InvalidInstanceId", f"Instances [[{gone[0]}]] not in a valid state for account {self.current_account}")


def _targets(self: Any) -> None:
    from moto.elbv2.exceptions import InvalidTargetError

    ids = [t.get("Id", "") for t in self._get_param("Targets", []) or []]
    if hidden(self.current_account, self.region, "instance", ids):
        raise InvalidTargetError()


def _refresh(self: Any) -> None:
    from moto.autoscaling.exceptions import ValidationError

    desired = self._get_params().get("DesiredConfiguration") or {}
    lt = desired.get("LaunchTemplate") or {}
    version = str(lt.get("Version", ""))
    if lt.get("LaunchTemplateId") and hidden(self.current_account, self.region, "version", [f"{lt['LaunchTemplateId']}:{version}"]):
        raise ValidationError(f"The specified launch template version {version} of {lt['LaunchTemplateId']} does not exist.")


def install() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ec2.responses.amis import AmisResponse
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.launch_templates import LaunchTemplates
    from moto.ec2.responses.tags import TagResponse
    from moto.elbv2.responses import ELBV2Response
    from moto.ssm.responses import SimpleSystemManagerResponse

    _record(InstanceResponse, "run_instances", "instance", lambda self, r: [i.id for i in r.result.instances])
    _record(AmisResponse, "create_image", "image", lambda self, r: [r.result["ImageId"]])
    _record(AmisResponse, "copy_image", "image", lambda self, r: [r.result["ImageId"]])
    _record(AmisResponse, "register_image", "image", lambda self, r: [r.result["ImageId"]])
    _record(
        LaunchTemplates,
        "create_launch_template_version",
        "version",
        lambda self, r: [f"{r.result['LaunchTemplateVersion']['LaunchTemplateId']}:{r.result['LaunchTemplateVersion']['VersionNumber']}"],
    )

    for method, action in (("describe_instances", "DescribeInstances"), ("describe_instance_status", "DescribeInstanceStatus"),
                           ("terminate_instances", "TerminateInstances")):
        _guard(InstanceResponse, method, action, lambda self: _no_instance(self, "InstanceIds"))
    _guard(InstanceResponse, "run_instances", "RunInstances", lambda self: _no_image(self, "ImageId"))
    _guard(AmisResponse, "create_image", "CreateImage", lambda self: _no_instance(self, "InstanceId"))
    _guard(AmisResponse, "describe_images", "DescribeImages", lambda self: _no_image(self, "ImageIds"))
    _guard(AmisResponse, "copy_image", "CopyImage", lambda self: _no_image(self, "SourceImageId"))
    for method, action in (("describe_image_attribute", "DescribeImageAttribute"), ("modify_image_attribute", "ModifyImageAttribute"),
                           ("deregister_image", "DeregisterImage"), ("disable_image", "DisableImage"),
                           ("enable_image_deprecation", "EnableImageDeprecation")):
        if hasattr(AmisResponse, method):
            _guard(AmisResponse, method, action, lambda self: _no_image(self, "ImageId"))
    for method, action in (("create_tags", "CreateTags"), ("delete_tags", "DeleteTags")):
        _guard(TagResponse, method, action, lambda self: _both(self, "Resources"))
    _guard(LaunchTemplates, "describe_launch_template_versions", "DescribeLaunchTemplateVersions",
           lambda self: _no_version(self, self._get_param("LaunchTemplateId"), _ids(self._get_param("Versions"))))
    _guard(LaunchTemplates, "modify_launch_template", "ModifyLaunchTemplate",
           lambda self: _no_version(self, self._get_param("LaunchTemplateId"), _ids(self._get_param("DefaultVersion"))))
    _guard(SimpleSystemManagerResponse, "send_command", "SendCommand", _send_command)
    _guard(ELBV2Response, "register_targets", "RegisterTargets", _targets)
    _guard(ELBV2Response, "deregister_targets", "DeregisterTargets", _targets)
    _guard(AutoScalingResponse, "start_instance_refresh", "StartInstanceRefresh", _refresh)
