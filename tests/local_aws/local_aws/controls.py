"""The test controls server.py serves under /_local_aws/: call counts and their reset,
authorisations, denied actions, an image dated back, an endpoint older than
DeleteAssociatedSnapshots, a group's next refresh made to fail."""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from .core import _now, AUTHORIZED, CALLS, DENIED, FIRST_CALL, LOCK
from .amis import OLD_DEREGISTER
from .refreshes import FAULTS
from . import consistency, metering



# ---------------------------------------------------------------------------------------------
# Test controls, called by server.py's /_local_aws/ routes.



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


def _totals(counter: Counter[tuple[str, str, str]], region: str | None, account: str | None) -> dict[str, int]:
    totals: Counter[str] = Counter()
    with LOCK:
        for (r, a, action), n in counter.items():
            if (region is None or r == region) and (account is None or a == account):
                totals[action] += n
    return dict(totals)


def calls(region: str | None = None, account: str | None = None) -> dict[str, int]:
    return _totals(CALLS, region, account)


def first_call(region: str) -> float | None:
    with LOCK:
        return FIRST_CALL.get(region)


def authorized(region: str | None = None, account: str | None = None) -> dict[str, int]:
    return _totals(AUTHORIZED, region, account)


def reset_calls(region: str | None = None) -> None:
    metering.reset(region)
    consistency.reset(region)
    with LOCK:
        for key in [k for k in AUTHORIZED if region is None or k[0] == region]:
            del AUTHORIZED[key]
        for r in [r for r in FIRST_CALL if region is None or r == region]:
            del FIRST_CALL[r]
        for key in [k for k in CALLS if region is None or k[0] == region]:
            del CALLS[key]




def sns_sent(account: str, topic_arn: str) -> list[dict[str, Any]]:
    """What was published to an SNS topic (moto keeps each message on the topic), oldest first."""
    from moto.sns.models import sns_backends

    region = topic_arn.split(":")[3]
    topic = sns_backends[account][region].topics[topic_arn]
    return [{"message_id": m[0], "message": m[1], "subject": m[2]} for m in topic.sent_notifications]
