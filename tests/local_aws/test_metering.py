"""AWS's pace when asked: a latency on every call, and EC2's token buckets per action,
account and Region, answering RequestLimitExceeded (HTTP 503) when one is empty."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CURRENT, client, control


def no_retries(url: str):
    return client(url, "ec2", Config(retries={"total_max_attempts": 1}))


def meter(url: str, **setting) -> None:
    control(url, "metering", {"region": CURRENT["region"], **setting})


def test_off_by_default_no_call_is_throttled(url):
    ec2 = no_retries(url)
    for _ in range(120):
        ec2.describe_images(Owners=["self"])
    assert control(url, f"throttled?region={CURRENT['region']}") == {}


def test_a_call_takes_the_latency(url):
    ec2 = no_retries(url)
    ec2.describe_images(Owners=["self"])
    start = time.monotonic()
    ec2.describe_images(Owners=["self"])
    fast = time.monotonic() - start
    meter(url, latency_ms=150, jitter_ms=50)
    start = time.monotonic()
    ec2.describe_images(Owners=["self"])
    slow = time.monotonic() - start
    assert slow >= 0.15 and slow < 0.15 + fast + 0.2, (fast, slow)


def until_throttled(ec2, snaps: list[str]) -> int:
    """Deletes snapshots from `snaps` (taking them off it) until one is throttled; how many went."""
    done = 0
    while snaps:
        try:
            ec2.delete_snapshot(SnapshotId=snaps[0])
        except ClientError as e:
            assert e.response["Error"]["Code"] == "RequestLimitExceeded"
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            # The throttled call did not act: the snapshot is still there.
            assert ec2.describe_snapshots(SnapshotIds=[snaps[0]])["Snapshots"]
            return done
        snaps.pop(0)
        done += 1
    raise AssertionError("never throttled")


def test_a_mutating_bucket_holds_its_burst_then_refills_by_the_second(url):
    ec2 = no_retries(url)
    zone = CURRENT["region"] + "a"
    snaps = [ec2.create_snapshot(VolumeId=ec2.create_volume(Size=1, AvailabilityZone=zone)["VolumeId"])["SnapshotId"] for _ in range(150)]
    meter(url, buckets=True)
    start = time.monotonic()
    burst = until_throttled(ec2, snaps)
    took = time.monotonic() - start
    # The 100 of the burst, and 5 for each whole second that passed meanwhile.
    assert 100 <= burst <= 100 + 5 * (int(took) + 1), (burst, took)
    # Other actions have buckets of their own; the describes were not throttled.
    assert control(url, f"throttled?region={CURRENT['region']}") == {"ec2:DeleteSnapshot": 1}
    time.sleep(1.05)
    # One second refills 5 (10 when the deletes fall across a second refill).
    assert until_throttled(ec2, snaps) in range(5, 11)


def test_a_drained_bucket_throttles_and_the_sdk_retries(url):
    ec2 = client(url, "ec2", Config(retries={"mode": "standard", "max_attempts": 10}))
    volume = ec2.create_volume(Size=1, AvailabilityZone=CURRENT["region"] + "a")["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    meter(url, buckets=True)
    control(url, "metering/drain", {"region": CURRENT["region"], "action": "DeleteSnapshot"})
    ec2.delete_snapshot(SnapshotId=snap)  # the retries wait for the refill, a second away
    assert control(url, f"throttled?region={CURRENT['region']}")["ec2:DeleteSnapshot"] >= 1
    assert not ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snap]}])["Snapshots"]


def test_unfiltered_unpaginated_describes_have_the_smaller_bucket(url):
    ec2 = no_retries(url)
    meter(url, buckets=True)
    for _ in range(50):
        ec2.describe_instances()
    with pytest.raises(ClientError) as e:
        ec2.describe_instances()
    assert e.value.response["Error"]["Code"] == "RequestLimitExceeded"
    # Paginated, it draws from the describes' own bucket, still full.
    ec2.describe_instances(MaxResults=5)


def test_buckets_are_per_account(url):
    from test_sharing import account_client

    meter(url, buckets=True)
    ec2 = no_retries(url)
    control(url, "metering/drain", {"region": CURRENT["region"], "action": "DescribeImages"})
    with pytest.raises(ClientError):
        ec2.describe_images(Owners=["self"])
    account_client(url, "222233334444").describe_images(Owners=["self"])


def test_rounds_count_the_calls_made_one_after_another(url):
    import concurrent.futures

    meter(url, latency_ms=100)
    control(url, "calls/reset", {"region": CURRENT["region"]})
    ec2 = no_retries(url)
    ec2.describe_images(Owners=["self"])
    clients = [no_retries(url) for _ in range(3)]
    # A barrier, so that the three are sent at the same time.
    barrier = threading.Barrier(3)

    def describe(c):
        barrier.wait()
        c.describe_images(Owners=["self"])

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(describe, clients))
    ec2.describe_images(Owners=["self"])
    assert control(url, f"rounds?region={CURRENT['region']}") == {"calls": 5, "rounds": 3}
