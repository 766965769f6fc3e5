"""What the local AWS's tests share: one server for the whole run, a Region of its own for
each test (and with it a fresh world), boto3 clients, the test controls, and the worlds several
test modules start from. The tests go through boto3, as any AWS client would see the local AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

HERE = Path(__file__).resolve().parent


def _start() -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        "LOCAL_AWS_REFRESH_STEP": "0.1",
        "LOCAL_AWS_NOT_OPTED_IN": "il-central-1",
        # Long enough that a test sees the agent offline first on a busy machine.
        "LOCAL_AWS_SSM_AGENT_SECONDS": "6",
    }
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("LOCAL_AWS_READY "), line
    return proc, line.split()[1]


# Each test gets a Region of its own (tests/regions.txt, which the Rust harness reads too), and
# with it a fresh world; when a server's Regions are all taken, the next test gets a new server.
_REGIONS = [
    line.strip()
    for line in (HERE.parent / "regions.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
_SERVERS: list[subprocess.Popen] = []
_TAKEN: dict = {"url": None, "left": []}
CURRENT = {}
# Tests that need no partition of their own draw from moto's other partitions' Regions
# (only these have default subnets in moto, so instances launch there), on the first server.
OTHER_PARTITIONS = iter("us-gov-east-1 us-gov-west-1 cn-north-1 cn-northwest-1".split())


@pytest.fixture(scope="session")
def server():
    proc, first = _start()
    _SERVERS.append(proc)
    _TAKEN.update(url=first, left=list(_REGIONS))
    yield first
    for proc in _SERVERS:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def url(server):
    # Two left at least: a test may take a second Region of its server (another_region).
    if len(_TAKEN["left"]) < 2:
        proc, fresh = _start()
        _SERVERS.append(proc)
        _TAKEN.update(url=fresh, left=list(_REGIONS))
    CURRENT["region"] = _TAKEN["left"].pop(0)
    return _TAKEN["url"]


def another_region() -> str:
    """A second fresh Region on the test's server, for a test that works across Regions."""
    return _TAKEN["left"].pop(0)


def client(url: str, service: str, config=None):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=CURRENT["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def control(url: str, what: str, body: dict | None = None) -> dict:
    if body is not None and "group" in body:
        body = {**body, "region": CURRENT["region"]}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}/_local_aws/{what}", data=data, method="POST" if data is not None else "GET")
    return json.loads(urllib.request.urlopen(req).read())


def wait_for(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def template(url):
    ec2 = client(url, "ec2")
    lt = ec2.create_launch_template(
        LaunchTemplateName="app", LaunchTemplateData={"ImageId": "ami-00000000000000001", "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    for i in range(2, 7):
        ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"ImageId": f"ami-0000000000000000{i}"}
        )
    return ec2, lt


def numbers(ec2, lt) -> list[int]:
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=lt)["LaunchTemplateVersions"]
    return sorted(v["VersionNumber"] for v in versions)


@pytest.fixture()
def amis(url):
    """Three AMIs of this account, made from one instance."""
    ec2 = client(url, "ec2")
    source = ec2.register_image(Name="source")["ImageId"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return ec2, [ec2.create_image(InstanceId=instance, Name=f"img-{i}")["ImageId"] for i in range(3)]


def listed(ec2, ids, **kwargs) -> set[str]:
    return {i["ImageId"] for i in ec2.describe_images(Owners=["self"], **kwargs)["Images"] if i["ImageId"] in ids}



@pytest.fixture()
def other_url(server):
    CURRENT["region"] = next(OTHER_PARTITIONS)
    return server


# --- instance refresh ------------------------------------------------------------------------


@pytest.fixture()
def group(url):
    ec2, asg = client(url, "ec2"), client(url, "autoscaling")
    lt = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-0000000000000000a", "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=3,
        MaxSize=6,
        DesiredCapacity=3,
        AvailabilityZones=[CURRENT["region"] + "a"],
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
    )
    ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"ImageId": "ami-0000000000000000b"})
    return ec2, asg, lt


def images(ec2, asg) -> list[str]:
    ids = [i["InstanceId"] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"]]
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return sorted(i["ImageId"] for r in reservations for i in r["Instances"])


def refresh(asg, refresh_id: str) -> dict:
    return asg.describe_instance_refreshes(AutoScalingGroupName="web", InstanceRefreshIds=[refresh_id])["InstanceRefreshes"][0]


def finished(asg, refresh_id: str) -> dict:
    terminal = {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}
    return wait_for(lambda: (r := refresh(asg, refresh_id)) and r["Status"] in terminal and r, "the refresh to end")
