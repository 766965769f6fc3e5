"""Several accounts: moto keeps a world per account, and its AssumeRole answers credentials of
the role's account, so a request signed with them acts in that account, as on AWS.

What this adds:

Keys for an account (the ``account-key`` control)
  A test that builds a world in another account needs that account's credentials; on AWS an
  IAM user's access key. Here the control makes (once per account) a user ``local-aws`` with
  an access key in the account and answers the key; moto finds the account from it.

Roles that cannot be assumed (the ``unassumable`` control)
  moto lets anyone assume any role, trust policy or not. On AWS a role whose trust policy does
  not name the caller, or asks for an ExternalId the caller did not give, is refused:
  ``AccessDenied`` ("User: ARN is not authorized to perform: sts:AssumeRole on resource:
  ROLE"). The control marks a role so: refused always, or unless the given ExternalId is the
  one it names.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.iam.models import iam_backends
from moto.sts import models as sts_models
from moto.sts.exceptions import STSClientError

_LOCK = threading.Lock()
_KEYS: dict[str, dict[str, str]] = {}
# Role ARN -> the ExternalId it asks for (None: nobody may assume it).
_UNASSUMABLE: dict[str, str | None] = {}


class AccessDenied(STSClientError):
    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


def account_key(account: str) -> dict[str, str]:
    """An access key of `account` (made once)."""
    with _LOCK:
        if account not in _KEYS:
            iam = iam_backends[account]["aws"]
            if "local-aws" not in iam.users:
                iam.create_user(region_name="us-east-1", user_name="local-aws")
            key = iam.create_access_key("local-aws")
            _KEYS[account] = {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}
        return dict(_KEYS[account])


def set_unassumable(role_arn: str, external_id: str | None) -> None:
    with _LOCK:
        _UNASSUMABLE[role_arn] = external_id


def install() -> None:
    original = sts_models.STSBackend.assume_role

    def assume_role(self: Any, region_name: str, role_session_name: str, role_arn: str, **kwargs: Any) -> Any:
        with _LOCK:
            refused = role_arn in _UNASSUMABLE and (_UNASSUMABLE[role_arn] is None or kwargs.get("external_id") != _UNASSUMABLE[role_arn])
        if refused:
            caller = f"arn:aws:iam::{self.account_id}:user/local-aws"
            raise AccessDenied(f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        return original(self, region_name=region_name, role_session_name=role_session_name, role_arn=role_arn, **kwargs)

    sts_models.STSBackend.assume_role = assume_role
