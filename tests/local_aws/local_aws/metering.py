"""AWS's pace, when asked: a latency on every call and EC2's request-rate token buckets.

Off by default, so the functional tests stay fast. The benchmark and the pacing tests turn it
on, for all Regions from the environment at start-up or for one Region through the
``/_local_aws/metering`` control:

* Latency: every call (any service) takes ``latency_ms`` (plus up to ``jitter_ms``, uniformly
  drawn) before its reply leaves, half before the call is looked at and half after, so that
  concurrent callers arrive at the buckets in the jittered order a network gives them.
  Environment: LOCAL_AWS_LATENCY_MS, LOCAL_AWS_LATENCY_JITTER_MS.
* EC2's buckets (LOCAL_AWS_EC2_BUCKETS=1): as AWS documents request rate limiting, each API is
  evaluated on its own, one bucket per action for each account and Region. A bucket starts
  full and gains its refill rate every whole second (tokens past the size are dropped); a call
  takes one token, and a call that finds none answers HTTP 503 ``RequestLimitExceeded`` without
  acting. Sizes and refill rates are AWS's defaults: non-mutating actions (Describe*, Get*,
  List*, Search*) 100 and 20 a second; DescribeInstances, DescribeSnapshots and DescribeVolumes
  with no filter, IDs, owner or MaxResults (unfiltered, unpaginated) a bucket of their own of
  50 and 10;
  mutating actions 50 and 5, except DeregisterImage, DeleteSnapshot,
  CreateLaunchTemplateVersion and ModifyLaunchTemplate (100 and 5) and CreateTags (100 and 10).
* Throttled calls are counted by Region, account and action (``/_local_aws/throttled``); a
  throttled call is counted among the calls too, as AWS's CloudTrail records it.
* With a latency on, each call's start and end are kept, so a test can tell how many round
  trips a tool waited for one after another (``/_local_aws/rounds``): the longest chain of
  calls each of which started after the one before it had ended.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

_LOCK = threading.Lock()


@dataclass
class Setting:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    buckets: bool = False


DEFAULT = Setting(
    latency_ms=float(os.environ.get("LOCAL_AWS_LATENCY_MS", "0")),
    jitter_ms=float(os.environ.get("LOCAL_AWS_LATENCY_JITTER_MS", "0")),
    buckets=os.environ.get("LOCAL_AWS_EC2_BUCKETS", "") not in ("", "0", "false"),
)
# Region -> its setting, where a control set one.
SETTINGS: dict[str, Setting] = {}
# (region, account, action) -> throttled calls.
THROTTLED: Counter[tuple[str, str, str]] = Counter()
# Region -> (start, end) of each call answered with a latency on.
SPANS: dict[str, list[tuple[float, float]]] = {}


def size_and_refill(action: str, unfiltered: bool) -> tuple[str, int, int]:
    """The bucket an EC2 call draws from: its name, size and refill a second."""
    if action in ("DescribeInstances", "DescribeSnapshots", "DescribeVolumes") and unfiltered:
        return f"{action} (unfiltered, unpaginated)", 50, 10
    if action.startswith(("Describe", "Get", "List", "Search")):
        return action, 100, 20
    if action in ("DeregisterImage", "DeleteSnapshot", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate"):
        return action, 100, 5
    if action == "CreateTags":
        return action, 100, 10
    return action, 50, 5


@dataclass
class Bucket:
    size: int
    refill: int
    tokens: float = field(default=0.0)
    # The start of the second whose refill was added last.
    since: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.size)

    def take(self, now: float) -> bool:
        seconds = int(now - self.since)
        if seconds > 0:
            self.tokens = min(float(self.size), self.tokens + seconds * self.refill)
            self.since += seconds
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# (account, region, bucket name) -> bucket.
_BUCKETS: dict[tuple[str, str, str], Bucket] = {}


def setting(region: str) -> Setting:
    with _LOCK:
        return SETTINGS.get(region, DEFAULT)


def configure(region: str, latency_ms: float, jitter_ms: float, buckets: bool) -> None:
    """A Region's setting; its buckets start full again."""
    with _LOCK:
        SETTINGS[region] = Setting(latency_ms, jitter_ms, buckets)
        for key in [k for k in _BUCKETS if k[1] == region]:
            del _BUCKETS[key]


def drain(account: str, region: str, action: str, unfiltered: bool = False) -> None:
    """Empties a bucket, as other clients of the account would (a test control)."""
    name, size, refill = size_and_refill(action, unfiltered)
    with _LOCK:
        bucket = _BUCKETS.setdefault((account, region, name), Bucket(size, refill))
        bucket.tokens = 0.0
        bucket.since = time.monotonic()


def admit(account: str, region: str, action: str, params: dict) -> bool:
    """Whether an EC2 call finds a token in its bucket (always, with the buckets off)."""
    if not setting(region).buckets:
        return True
    # Narrowed by a filter, by IDs or by owner, or paged with MaxResults: not "unfiltered and
    # unpaginated".
    narrowed = ("Filter", "InstanceId", "SnapshotId", "VolumeId", "OwnerId", "Owner", "MaxResults")
    unfiltered = not any(k.startswith(narrowed) for k in params)
    name, size, refill = size_and_refill(action, unfiltered)
    with _LOCK:
        bucket = _BUCKETS.setdefault((account, region, name), Bucket(size, refill))
        if bucket.take(time.monotonic()):
            return True
        THROTTLED[(region, account, action)] += 1
        return False


def half_latency(region: str) -> None:
    """Sleeps half of one call's latency (called before and after the call is handled)."""
    s = setting(region)
    if s.latency_ms <= 0 and s.jitter_ms <= 0:
        return
    time.sleep((s.latency_ms + random.uniform(0, s.jitter_ms)) / 2000.0)


def record(region: str, start: float, end: float) -> None:
    if setting(region).latency_ms > 0:
        with _LOCK:
            SPANS.setdefault(region, []).append((start, end))


def rounds(region: str) -> dict[str, int]:
    """The calls kept for `region`, and the longest chain of them one after another."""
    with _LOCK:
        spans = sorted(SPANS.get(region, []))
    chain: list[int] = []
    for i, (start, _) in enumerate(spans):
        before = [chain[j] for j in range(i) if spans[j][1] <= start]
        chain.append(1 + max(before, default=0))
    return {"calls": len(spans), "rounds": max(chain, default=0)}


def throttled(region: str | None = None, account: str | None = None) -> dict[str, int]:
    totals: Counter[str] = Counter()
    with _LOCK:
        for (r, a, action), n in THROTTLED.items():
            if (region is None or r == region) and (account is None or a == account):
                totals[f"ec2:{action}"] += n
    return dict(totals)


def reset(region: str | None = None) -> None:
    with _LOCK:
        for key in [k for k in THROTTLED if region is None or k[0] == region]:
            del THROTTLED[key]
        for key in [r for r in SPANS if region is None or r == region]:
            del SPANS[key]
