"""AMIs as a real account has them: EBS-backed, strictly increasing CreationDates, paged
DescribeImages that hides disabled AMIs (and other owners' deprecated ones) unless asked,
with `Public`, `DeregistrationProtection` and `DeprecationTime`; deregistration protection
with its 24-hour cooldown; deprecation rounded to the minute; DeregisterImage with
DeleteAssociatedSnapshots and per-snapshot results (an older endpoint's behaviour as a test
control); RegisterImage from an existing snapshot; LastLaunchedTime stamped on each launch
(LOCAL_AWS_LAST_LAUNCH_DELAY delays it, as AWS reports it up to a day late)."""

from __future__ import annotations

import datetime
import os
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2 import exceptions as ec2_exceptions
from moto.ec2.exceptions import (
    EC2ClientError,
)
from moto.ec2.models import amis as ec2_amis
from moto.ec2.models import instances as ec2_instances
from moto.ec2.responses.amis import AmisResponse
from .core import paged, _authorize, _iso, _now, _parse_time, DENIED, LOCK
from .regions import _settle
from . import image_uses
from . import sharing, verification



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
    return paged("Images", images, token, max_results)


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




# Regions whose DeregisterImage predates DeleteAssociatedSnapshots (a test control): the
# parameter is ignored and no DeleteSnapshotResults come back, as from an older endpoint.
OLD_DEREGISTER: set[str] = set()



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
    ami = sharing.original(ec2_backend, self.image_id)
    if ami is not None:
        stamp = _iso(_now())

        def record() -> None:
            ami.last_launched_time = stamp

        if LAST_LAUNCH_DELAY > 0:
            threading.Timer(LAST_LAUNCH_DELAY, record).start()
        else:
            record()


def install() -> None:
    ec2_amis.Ami.__init__ = _ami_init
    ec2_amis.AmiBackend.create_image = _create_image
    AmisResponse.describe_images = describe_images
    # `Public`, as botocore names it, from moto's launch permissions.
    ec2_amis.Ami.public = property(lambda ami: ami.is_public)
    AmisResponse.deregister_image = deregister_image
    AmisResponse.register_image = register_image
    ec2_instances.Instance.__init__ = _instance_init
    AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection
    AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection
    AmisResponse.enable_image_deprecation = enable_image_deprecation
    AmisResponse.disable_image_deprecation = disable_image_deprecation
