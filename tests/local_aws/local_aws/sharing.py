"""AMIs shared across accounts, as EC2 documents them. moto keeps each account's AMIs in that
account's world only, so an AMI the build account shares is invisible to the account it is
shared with. On AWS a launch permission (ModifyImageAttribute: an account ID, or ``all``)
lets the other account:

* see the AMI: DescribeImages by ID, with ``ExecutableUsers=self`` (the AMIs shared with the
  caller), with ``Owners=<the owner's ID>``, or with no scope at all (every AMI the caller
  may launch: its own, shared and public ones); the owner's deprecated AMIs stay hidden unless
  IncludeDeprecated (amis.py);
* launch it (RunInstances, a launch template or an Auto Scaling group naming it);
* tag it: a tag it adds is visible in its own account only, and the owner's tags are never
  shown to it (the owner's branch and build tags stay the owner's).

Only the owner deregisters, disables or shares it; DescribeImageAttribute is the owner's too.
An AMI shared with an organization or OU is seen by no account here (no account of the local
AWS belongs to an organization). The shared AMI is answered as a copy whose tags are looked
up in the caller's account; its state, launch permissions and the rest are the owner's.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.ec2.exceptions import InvalidAMIIdError, MalformedAMIIdError
from moto.ec2.models import amis as ec2_amis
from moto.ec2.models import ec2_backends
from moto.ec2.utils import generic_filter


def shared_with(ami: Any, account: str) -> bool:
    """Whether `account` (not the owner) may launch `ami`: public, or its ID in a launch permission."""
    return any(lp.get("Group") == "all" or lp.get("UserId") == account for lp in ami.launch_permissions)


def _others(backend: Any) -> list[Any]:
    """The original AMIs of other accounts in this Region that `backend`'s account may launch."""
    found = []
    # dict's own methods: moto's BackendDict makes a world for every account or Region asked for.
    for account, regions in list(dict.items(ec2_backends)):
        if account == backend.account_id:
            continue
        other = dict.get(regions, backend.region_name)
        if other is None:
            continue
        found.extend(a for a in list(other.amis.values()) if shared_with(a, backend.account_id))
    return found


def _as_seen_by(backend: Any, ami: Any) -> Any:
    """`ami` as `backend`'s account sees it: its own tags, not the owner's."""
    seen = copy.copy(ami)
    seen.ec2_backend = backend
    return seen


def original(backend: Any, image_id: str) -> Any:
    """The AMI `image_id` as stored, the account's own or one shared with it, or None."""
    own = backend.amis.get(image_id)
    if own is not None:
        return own
    return next((a for a in _others(backend) if a.id == image_id), None)


def describe_images(
    self: Any,
    ami_ids: list[str] | None = None,
    filters: dict[str, Any] | None = None,
    exec_users: list[str] | None = None,
    owners: list[str] | None = None,
) -> list[Any]:
    """moto's AmiBackend.describe_images over the account's own AMIs and those shared with it."""
    images = list(self.amis.copy().values()) + [_as_seen_by(self, a) for a in _others(self)]
    if ami_ids:
        malformed = [i for i in ami_ids if not i.startswith("ami-")]
        if malformed:
            raise MalformedAMIIdError(malformed)
        images = [a for a in images if a.id in ami_ids]
        if not images and not any(i in self.deleted_amis for i in ami_ids):
            raise InvalidAMIIdError(ami_ids)
        return images
    if exec_users:
        users = {self.account_id if u == "self" else u for u in exec_users}
        images = [
            a
            for a in images
            if ("all" in users and a.is_public) or any(lp.get("UserId") in users for lp in a.launch_permissions)
        ]
    if owners:
        wanted = {self.account_id if o == "self" else o for o in owners}
        images = [a for a in images if a.owner_id in wanted or a.owner_alias in wanted]
    if filters:
        return generic_filter(filters, images)
    return images


def install() -> None:
    ec2_amis.AmiBackend.describe_images = describe_images
