"""Across Regions: CopyImage copies stay `pending` for LOCAL_AWS_COPY_SECONDS before they turn
`available` (AWS's take minutes), take TagSpecifications and CopyImageTags; a test can hold an
image in a state; DescribeRegions lists only the caller's partition, with AWS's opt-in
statuses (LOCAL_AWS_NOT_OPTED_IN names Regions the account has not enabled)."""

from __future__ import annotations

import os
import time
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses.amis import AmisResponse
from .core import LOCK



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


def install() -> None:
    from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions

    AmisResponse.copy_image = copy_image
    AvailabilityZonesAndRegions.describe_regions = describe_regions
