"""What every part of the local AWS shares: one lock, the call counts by Region (for the
call-count and IAM tests), denied actions, authorisations on the caller's behalf, paging,
and times as EC2 writes them."""

from __future__ import annotations

import datetime
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from moto.core import responses as core_responses
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult

from . import metering

LOCK = threading.RLock()




# ---------------------------------------------------------------------------------------------
# Call counting: every call that reaches a response class, as IAM names the action ("ec2:DescribeImages"), by Region
# (tests that share one server each work in a Region of their own) and account (the IAM tests
# check a role's policy against the calls made in its account).

CALLS: Counter[tuple[str, str, str]] = Counter()
# The account of the call being answered, for the authorisations it records.
_CALLER = threading.local()
# When the first call since the last reset arrived, by Region (for start-up latency).
FIRST_CALL: dict[str, float] = {}
# Actions a test took away, by Region: they answer UnauthorizedOperation / AccessDenied.
DENIED: dict[str, set[str]] = defaultdict(set)
# Other services' permissions that a call used on the caller's behalf, by Region and account (IAM tests).
AUTHORIZED: Counter[tuple[str, str, str]] = Counter()


def _authorize(region: str, *actions: str) -> None:
    account = getattr(_CALLER, "account", "?")
    with LOCK:
        for action in actions:
            AUTHORIZED[(region, account, action)] += 1


class _Denied(ServiceException):
    pass


class _Throttled(ServiceException):
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
    try:
        account = self.current_account
    except Exception:  # noqa: BLE001 - a call moto cannot place is still counted
        account = "?"
    _CALLER.account = account
    start = time.monotonic()
    metering.half_latency(region)
    try:
        return _answer(self, region, account, action, name)
    finally:
        metering.half_latency(region)
        metering.record(region, start, time.monotonic())


def _answer(self: core_responses.BaseResponse, region: str, account: str, action: str, name: str) -> Any:
    with LOCK:
        CALLS[(region, account, name)] += 1
        FIRST_CALL.setdefault(region, time.time())
        denied = name in DENIED.get(region, set())
    if self.service_name == "ec2" and not metering.admit(account, region, action, self.querystring):
        error = _Throttled("RequestLimitExceeded", "Request limit exceeded.")
        status, headers, body = self.serialized(ActionResult(error))
        headers, body = self._enrich_response(headers, body)
        # EC2 answers throttled calls with 503 Service Unavailable.
        return 503, headers, body
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
    # One call at a time acts on moto's state: its backends are plain dicts, and a call that
    # iterates over one while another call's thread changes it fails (HTTP 500). The GIL
    # serialises the work anyway; the latency (metering.py) is slept outside the lock.
    with LOCK:
        return _original_call_action(self)


# ---------------------------------------------------------------------------------------------
# Paging helper shared by the describes we page.


def paged(key: str, items: list[Any], token: str | None, max_results: int | None, shape: Any = None) -> ActionResult:
    """One page of `items` under `key` (each page made by `shape`, if given), with NextToken
    when more follow: the tail of every describe that pages."""
    page, next_token = _page(items, token, max_results)
    out: dict[str, Any] = {key: shape(page) if shape else page}
    if next_token:
        out["NextToken"] = next_token
    return ActionResult(out)


def _page(items: list[Any], token: str | None, max_results: int | None) -> tuple[list[Any], str | None]:
    start = int(token) if token else 0
    if max_results is None:
        return items[start:], None
    end = start + max_results
    return items[start:end], (str(end) if end < len(items) else None)


def _iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_time(value: Any) -> datetime.datetime:
    """A time as moto hands it over (already parsed, or ISO 8601 text), in UTC."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)



def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def install() -> None:
    """Counts (and, when a test denied it, refuses) every call."""
    core_responses.BaseResponse.call_action = _counting_call_action
