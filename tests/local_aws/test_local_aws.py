"""Tests of the local AWS's extensions, through boto3 as any AWS client would see them."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def server():
    env = {
        **os.environ,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        "LOCAL_AWS_REFRESH_STEP": "0.1",
        "LOCAL_AWS_NOT_OPTED_IN": "il-central-1",
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
    yield line.split()[1]
    proc.terminate()
    proc.wait(timeout=10)


# One server for the module; each test gets a Region of its own (tests/regions.txt, which the
# Rust harness reads too), and with it a fresh world.
REGIONS = iter(
    line.strip()
    for line in (Path(__file__).parent.parent / "regions.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
CURRENT = {}
# Every Region of AWS's own partition is taken above; tests that need no partition of their
# own draw from moto's other partitions' Regions.
# (Only these have default subnets in moto, so instances launch there.)
OTHER_PARTITIONS = iter("us-gov-east-1 us-gov-west-1 cn-north-1 cn-northwest-1".split())


@pytest.fixture()
def url(server):
    CURRENT["region"] = next(REGIONS)
    return server


def client(url: str, service: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=CURRENT["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
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


# --- launch template versions ------------------------------------------------------------


def test_delete_versions_replies_as_aws_does(template):
    ec2, lt = template
    reply = ec2.delete_launch_template_versions(LaunchTemplateId=lt, Versions=["2", "3", "1", "99"])
    ok = sorted(v["VersionNumber"] for v in reply["SuccessfullyDeletedLaunchTemplateVersions"])
    assert ok == [2, 3]
    failed = {v["VersionNumber"]: v["ResponseError"]["Code"] for v in reply["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert failed == {1: "unexpectedError", 99: "launchTemplateVersionDoesNotExist"}
    assert numbers(ec2, lt) == [1, 4, 5, 6]


def test_deleted_versions_vanish_and_numbers_keep_counting(template):
    ec2, lt = template
    ec2.delete_launch_template_versions(LaunchTemplateId=lt, Versions=["5", "6"])
    with pytest.raises(ClientError) as err:
        ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["5"])
    assert "NotFound" in err.value.response["Error"]["Code"]
    new = ec2.create_launch_template_version(LaunchTemplateId=lt, LaunchTemplateData={"ImageId": "ami-00000000000000009"})
    assert new["LaunchTemplateVersion"]["VersionNumber"] == 7
    latest = ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"][0]["LatestVersionNumber"]
    assert latest == 7
    assert ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["$Latest"])["LaunchTemplateVersions"][0]["VersionNumber"] == 7


def test_at_most_200_versions_per_delete(template):
    ec2, lt = template
    with pytest.raises(ClientError) as err:
        ec2.delete_launch_template_versions(LaunchTemplateId=lt, Versions=[str(n) for n in range(2, 203)])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert numbers(ec2, lt) == [1, 2, 3, 4, 5, 6]


def test_describing_a_template_that_does_not_exist_is_an_error(template):
    ec2, lt = template
    assert [t["LaunchTemplateId"] for t in ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"]] == [lt]
    with pytest.raises(ClientError) as err:
        ec2.describe_launch_templates(LaunchTemplateIds=[lt, "lt-0123456789abcdef0"])
    assert err.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.NotFound"


def test_new_version_copies_the_source_version(template):
    ec2, lt = template
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["4"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == "ami-00000000000000004"
    assert data["InstanceType"] == "t3.micro"


def test_client_token_makes_a_retried_create_idempotent(template):
    ec2, lt = template
    first = ec2.create_launch_template_version(LaunchTemplateId=lt, ClientToken="tok-1", LaunchTemplateData={"ImageId": "ami-0000000000000000a"})
    again = ec2.create_launch_template_version(LaunchTemplateId=lt, ClientToken="tok-1", LaunchTemplateData={"ImageId": "ami-0000000000000000a"})
    assert first["LaunchTemplateVersion"]["VersionNumber"] == again["LaunchTemplateVersion"]["VersionNumber"] == 7
    other = ec2.create_launch_template_version(LaunchTemplateId=lt, ClientToken="tok-2", LaunchTemplateData={"ImageId": "ami-0000000000000000a"})
    assert other["LaunchTemplateVersion"]["VersionNumber"] == 8


def test_versions_page(template):
    ec2, lt = template
    first = ec2.describe_launch_template_versions(LaunchTemplateId=lt, MaxResults=4)
    assert [v["VersionNumber"] for v in first["LaunchTemplateVersions"]] == [1, 2, 3, 4]
    rest = ec2.describe_launch_template_versions(LaunchTemplateId=lt, MaxResults=4, NextToken=first["NextToken"])
    assert [v["VersionNumber"] for v in rest["LaunchTemplateVersions"]] == [5, 6]
    assert "NextToken" not in rest


# --- images ----------------------------------------------------------------------------------


# --- images: disabled, deprecated, protected, shared, referenced -----------------------------

@pytest.fixture()
def amis(url):
    """Three AMIs of this account, made from one instance."""
    ec2 = client(url, "ec2")
    source = ec2.register_image(Name="source")["ImageId"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return ec2, [ec2.create_image(InstanceId=instance, Name=f"img-{i}")["ImageId"] for i in range(3)]


def listed(ec2, ids, **kwargs) -> set[str]:
    return {i["ImageId"] for i in ec2.describe_images(Owners=["self"], **kwargs)["Images"] if i["ImageId"] in ids}


def test_disabled_images_are_hidden_unless_included(amis):
    ec2, ids = amis
    ec2.disable_image(ImageId=ids[0])
    assert listed(ec2, ids) == set(ids[1:])
    assert listed(ec2, ids, IncludeDisabled=True) == set(ids)
    assert ec2.describe_images(ImageIds=[ids[0]])["Images"] == [], "hidden when asked for by ID too"
    assert ec2.describe_images(ImageIds=[ids[0]], IncludeDisabled=True)["Images"][0]["State"] == "disabled"


def test_deprecation_is_set_rounded_and_cleared(amis):
    ec2, ids = amis
    ec2.enable_image_deprecation(ImageId=ids[0], DeprecateAt="2020-01-01T10:20:40Z")
    image = ec2.describe_images(ImageIds=[ids[0]])["Images"][0]
    assert image["DeprecationTime"] == "2020-01-01T10:21:00.000Z", "rounded to the nearest minute"
    assert listed(ec2, ids) == set(ids), "an owner sees its own deprecated images"
    ec2.disable_image_deprecation(ImageId=ids[0])
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[ids[0]])["Images"][0]


def test_deregistration_protection(amis):
    ec2, ids = amis
    assert ec2.describe_images(ImageIds=[ids[0]])["Images"][0]["DeregistrationProtection"] == "disabled"
    ec2.enable_image_deregistration_protection(ImageId=ids[0])
    ec2.enable_image_deregistration_protection(ImageId=ids[1], WithCooldown=True)
    assert ec2.describe_images(ImageIds=[ids[1]])["Images"][0]["DeregistrationProtection"] == "enabled-with-cooldown"
    for ami in ids[:2]:
        with pytest.raises(ClientError) as e:
            ec2.deregister_image(ImageId=ami)
        assert e.value.response["Error"]["Code"] == "OperationNotPermitted"
    ec2.disable_image_deregistration_protection(ImageId=ids[0])
    ec2.deregister_image(ImageId=ids[0])
    # With the cooldown, still protected for 24 hours after it is turned off.
    ec2.disable_image_deregistration_protection(ImageId=ids[1])
    assert ec2.describe_images(ImageIds=[ids[1]])["Images"][0]["DeregistrationProtection"].startswith("disabled-until ")
    with pytest.raises(ClientError):
        ec2.deregister_image(ImageId=ids[1])


def test_public_comes_with_the_listing(amis):
    ec2, ids = amis
    ec2.modify_image_attribute(ImageId=ids[0], LaunchPermission={"Add": [{"Group": "all"}]})
    ec2.modify_image_attribute(ImageId=ids[1], LaunchPermission={"Add": [{"UserId": "111122223333"}]})
    public = {i["ImageId"]: i["Public"] for i in ec2.describe_images(ImageIds=ids)["Images"]}
    assert public == {ids[0]: True, ids[1]: False, ids[2]: False}
    perms = ec2.describe_image_attribute(ImageId=ids[1], Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"UserId": "111122223333"}]


def test_image_references(url, amis):
    ec2, ids = amis
    ssm = client(url, "ssm")
    ssm.put_parameter(Name="/golden", Value=ids[0], Type="String", DataType="aws:ec2:image")
    ssm.put_parameter(Name="plain", Value=ids[1], Type="String")  # data type text: not a reference
    lt = ec2.create_launch_template(LaunchTemplateName="t", LaunchTemplateData={"ImageId": ids[1]})["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(10):  # pushes version 1 below the default version depth of 10
        ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"ImageId": ids[2]})
    ssm_only = [{"ResourceType": "ssm:Parameter"}]
    refs = ec2.describe_image_references(ImageIds=ids, ResourceTypes=ssm_only)["ImageReferences"]
    region = CURRENT["region"]
    assert refs == [{"ImageId": ids[0], "ResourceType": "ssm:Parameter", "Arn": f"arn:aws:ssm:{region}:123456789012:parameter/golden"}]
    assert control(url, f"authorized?region={region}") == {"ssm:DescribeParameters": 1, "ssm:GetParameters": 1}
    lts = ec2.describe_image_references(ImageIds=ids, ResourceTypes=[{"ResourceType": "ec2:LaunchTemplate"}])["ImageReferences"]
    assert {r["ImageId"] for r in lts} == {ids[2]}
    deep = [{"ResourceType": "ec2:LaunchTemplate", "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["11"]}]}]
    assert {r["ImageId"] for r in ec2.describe_image_references(ImageIds=ids, ResourceTypes=deep)["ImageReferences"]} == {ids[1], ids[2]}
    everything = ec2.describe_image_references(ImageIds=ids, IncludeAllResourceTypes=True)["ImageReferences"]
    assert {r["ResourceType"] for r in everything} == {"ec2:LaunchTemplate", "ssm:Parameter"}
    for bad in ({"ImageIds": ids}, {"ImageIds": ids * 4, "IncludeAllResourceTypes": True}):
        with pytest.raises(ClientError):
            ec2.describe_image_references(**bad)


@pytest.fixture()
def other_url(server):
    CURRENT["region"] = next(OTHER_PARTITIONS)
    return server


def test_image_builder_recipes_are_references(other_url):
    url = other_url
    ec2 = client(url, "ec2")
    source = ec2.register_image(Name="source")["ImageId"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ids = [ec2.create_image(InstanceId=instance, Name=f"img-{i}")["ImageId"] for i in range(3)]
    region = CURRENT["region"]
    image_arn = f"arn:aws:imagebuilder:{region}:123456789012:image-recipe/web/1.0.0"
    container_arn = f"arn:aws:imagebuilder:{region}:123456789012:container-recipe/web/1.0.0"
    control(url, "recipe", {"region": region, "arn": image_arn, "kind": "image", "parent_image": ids[0]})
    control(url, "recipe", {"region": region, "arn": container_arn, "kind": "container", "parent_image": ids[1]})
    control(url, "calls/reset", {"region": region})
    recipes = [{"ResourceType": "imagebuilder:ImageRecipe"}, {"ResourceType": "imagebuilder:ContainerRecipe"}]
    refs = ec2.describe_image_references(ImageIds=ids, ResourceTypes=recipes)["ImageReferences"]
    assert sorted(refs, key=lambda r: r["Arn"]) == [
        {"ImageId": ids[1], "ResourceType": "imagebuilder:ContainerRecipe", "Arn": container_arn},
        {"ImageId": ids[0], "ResourceType": "imagebuilder:ImageRecipe", "Arn": image_arn},
    ]
    assert control(url, f"authorized?region={region}") == {
        "imagebuilder:ListImageRecipes": 1, "imagebuilder:ListContainerRecipes": 1, "imagebuilder:GetContainerRecipe": 1}
    only_image = ec2.describe_image_references(ImageIds=ids, ResourceTypes=recipes[:1])["ImageReferences"]
    assert [r["Arn"] for r in only_image] == [image_arn]
    everything = ec2.describe_image_references(ImageIds=ids, IncludeAllResourceTypes=True)["ImageReferences"]
    assert {"imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe"} <= {r["ResourceType"] for r in everything}


def test_images_carry_architecture_boot_mode_and_ena(other_url):
    ec2 = client(other_url, "ec2")
    plain = ec2.register_image(Name="plain")["ImageId"]
    image = ec2.describe_images(ImageIds=[plain])["Images"][0]
    assert image["Architecture"] == "i386", "AWS's default for an EBS-backed AMI"
    assert "BootMode" not in image and "EnaSupport" not in image
    arm = ec2.register_image(Name="arm", Architecture="arm64", BootMode="uefi", EnaSupport=True)["ImageId"]
    instance = ec2.run_instances(ImageId=arm, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    baked = ec2.create_image(InstanceId=instance, Name="baked")["ImageId"]
    copy = ec2.copy_image(SourceImageId=baked, SourceRegion=CURRENT["region"], Name="copy")["ImageId"]
    for ami in (arm, baked, copy):
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        assert (image["Architecture"], image["BootMode"], image["EnaSupport"]) == ("arm64", "uefi", True), ami
    types = ec2.describe_instance_types(InstanceTypes=["t4g.micro", "t2.micro"])["InstanceTypes"]
    got = {t["InstanceType"]: (t["ProcessorInfo"]["SupportedArchitectures"], t["SupportedBootModes"], t["NetworkInfo"]["EnaSupport"]) for t in types}
    assert got == {"t4g.micro": (["arm64"], ["uefi"], "required"), "t2.micro": (["i386", "x86_64"], ["legacy-bios"], "unsupported")}


def test_resolve_alias(url, amis):
    ec2, ids = amis
    client(url, "ssm").put_parameter(Name="/app/ami", Value=ids[2], Type="String", DataType="aws:ec2:image")
    lt = ec2.create_launch_template(LaunchTemplateName="aliased", LaunchTemplateData={"ImageId": "resolve:ssm:/app/ami"})["LaunchTemplate"]["LaunchTemplateId"]
    stored = ec2.describe_launch_template_versions(LaunchTemplateId=lt)["LaunchTemplateVersions"][0]
    assert stored["LaunchTemplateData"]["ImageId"] == "resolve:ssm:/app/ami"
    resolved = ec2.describe_launch_template_versions(LaunchTemplateId=lt, ResolveAlias=True)["LaunchTemplateVersions"][0]
    assert resolved["LaunchTemplateData"]["ImageId"] == ids[2]
    every = ec2.describe_launch_template_versions(Versions=["$Latest"], ResolveAlias=True)["LaunchTemplateVersions"]
    assert [v["LaunchTemplateData"]["ImageId"] for v in every if v["LaunchTemplateId"] == lt] == [ids[2]]


def test_images_page_and_are_dated_in_order(url):
    ec2 = client(url, "ec2")
    source = ec2.register_image(Name="source")["ImageId"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": "branch", "Value": "main"}]
    made = [
        ec2.create_image(
            InstanceId=instance,
            Name=f"app-{i}",
            TagSpecifications=[{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}],
        )["ImageId"]
        for i in range(7)
    ]
    seen, token = [], None
    calls = 0
    while True:
        kwargs = {"Owners": ["self"], "Filters": [{"Name": "tag:branch", "Values": ["main"]}], "MaxResults": 5}
        if token:
            kwargs["NextToken"] = token
        page = ec2.describe_images(**kwargs)
        calls += 1
        seen += page["Images"]
        token = page.get("NextToken")
        if not token:
            break
    assert calls == 2
    assert sorted(i["ImageId"] for i in seen) == sorted(made)
    by_date = [i["ImageId"] for i in sorted(seen, key=lambda i: i["CreationDate"])]
    assert by_date == made, "each image is dated after the one before"
    snaps = ec2.describe_snapshots(Filters=[{"Name": "tag:branch", "Values": ["main"]}])["Snapshots"]
    assert len(snaps) == 7, "CreateImage tagged the snapshots"


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


def test_refresh_moves_through_states_and_replaces_instances(group):
    ec2, asg, lt = group
    rid = asg.start_instance_refresh(
        AutoScalingGroupName="web",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}},
    )["InstanceRefreshId"]
    seen = set()
    wait_for(lambda: seen.add(refresh(asg, rid)["Status"]) or "Successful" in seen, "success")
    assert {"Pending", "InProgress", "Successful"} <= seen or {"InProgress", "Successful"} <= seen
    r = refresh(asg, rid)
    assert r["PercentageComplete"] == 100 and r["InstancesToUpdate"] == 0 and "EndTime" in r
    assert images(ec2, asg) == ["ami-0000000000000000b"] * 3
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert g["LaunchTemplate"]["Version"] == "2", "the group takes the desired configuration"


def test_instances_are_replaced_in_batches_by_min_healthy_percentage(group):
    """A group of 3: with 90% to stay healthy, one at a time (33%, 66%, 100%); with 33%, two
    may be out of service at once, so the first batch takes two (66%), the second the last."""
    ec2, asg, lt = group
    for min_healthy, expected in ((90, {33, 66, 100}), (33, {66, 100})):
        rid = asg.start_instance_refresh(
            AutoScalingGroupName="web",
            DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}},
            Preferences={"MinHealthyPercentage": min_healthy},  # SkipMatching is off: all 3 go
        )["InstanceRefreshId"]
        seen = set()
        wait_for(lambda: seen.add(refresh(asg, rid)["PercentageComplete"]) or 100 in seen, "the refresh to end")
        assert seen - {0} == expected, (min_healthy, seen)
        finished(asg, rid)


def test_checkpoints_pause_the_refresh(group):
    """Group of 3, all at once allowed (MinHealthyPercentage 0), a checkpoint at 50%: the first
    batch stops at 2 of 3 (the first count at or past 50%), the refresh stays InProgress there
    for CheckpointDelay (2 minutes: 2 steps), then finishes."""
    ec2, asg, lt = group
    rid = asg.start_instance_refresh(
        AutoScalingGroupName="web",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}},
        Preferences={"MinHealthyPercentage": 0, "CheckpointPercentages": [50, 100], "CheckpointDelay": 120},
    )["InstanceRefreshId"]
    seen: list[tuple[float, int]] = []
    wait_for(lambda: seen.append((time.monotonic(), refresh(asg, rid)["PercentageComplete"])) or seen[-1][1] == 100, "the refresh to end")
    at_checkpoint = [t for t, pct in seen if pct == 66]
    assert {pct for _, pct in seen} - {0} == {66, 100}, seen
    assert at_checkpoint[-1] - at_checkpoint[0] >= 0.1, "held at the checkpoint for about two steps"
    assert finished(asg, rid)["Status"] == "Successful"


def test_one_active_refresh_per_group_and_newest_first(group):
    _, asg, _ = group
    first = asg.start_instance_refresh(AutoScalingGroupName="web")["InstanceRefreshId"]
    with pytest.raises(ClientError) as err:
        asg.start_instance_refresh(AutoScalingGroupName="web")
    assert err.value.response["Error"]["Code"] == "InstanceRefreshInProgress"
    finished(asg, first)
    second = asg.start_instance_refresh(AutoScalingGroupName="web")["InstanceRefreshId"]
    listed = asg.describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"]
    assert [r["InstanceRefreshId"] for r in listed] == [second, first]
    page = asg.describe_instance_refreshes(AutoScalingGroupName="web", MaxRecords=1)
    assert [r["InstanceRefreshId"] for r in page["InstanceRefreshes"]] == [second]
    rest = asg.describe_instance_refreshes(AutoScalingGroupName="web", MaxRecords=1, NextToken=page["NextToken"])
    assert [r["InstanceRefreshId"] for r in rest["InstanceRefreshes"]] == [first]


def test_skip_matching_leaves_matching_instances(group):
    ec2, asg, lt = group
    # Nothing differs from version 1: every instance matches.
    rid = asg.start_instance_refresh(
        AutoScalingGroupName="web",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "1"}},
        Preferences={"SkipMatching": True},
    )["InstanceRefreshId"]
    before = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"])
    assert finished(asg, rid)["Status"] == "Successful"
    after = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"])
    assert before == after


def test_cancel(group, url):
    ec2, asg, lt = group
    rid = asg.start_instance_refresh(AutoScalingGroupName="web", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}})["InstanceRefreshId"]
    asg.cancel_instance_refresh(AutoScalingGroupName="web")
    assert finished(asg, rid)["Status"] == "Cancelled"
    with pytest.raises(ClientError) as err:
        asg.cancel_instance_refresh(AutoScalingGroupName="web")
    assert err.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"


def test_injected_failure_without_rollback(group, url):
    ec2, asg, lt = group
    control(url, "refresh-fault", {"group": "web", "fail_after": 1, "reason": "unhealthy"})
    rid = asg.start_instance_refresh(AutoScalingGroupName="web", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}})["InstanceRefreshId"]
    r = finished(asg, rid)
    assert (r["Status"], r["StatusReason"]) == ("Failed", "unhealthy")
    assert images(ec2, asg) == ["ami-0000000000000000a"] * 2 + ["ami-0000000000000000b"]
    activities = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    assert any(a["StatusCode"] == "Failed" and a.get("StatusMessage") == "unhealthy" for a in activities)


def test_auto_rollback_restores_instances_and_configuration(group, url):
    ec2, asg, lt = group
    control(url, "refresh-fault", {"group": "web", "fail_after": 2})
    rid = asg.start_instance_refresh(
        AutoScalingGroupName="web",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}},
        Preferences={"AutoRollback": True},
    )["InstanceRefreshId"]
    seen = set()
    wait_for(lambda: seen.add(refresh(asg, rid)["Status"]) or "RollbackSuccessful" in seen, "rollback")
    assert "RollbackInProgress" in seen
    assert images(ec2, asg) == ["ami-0000000000000000a"] * 3
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert g["LaunchTemplate"]["Version"] == "1"
    assert refresh(asg, rid)["RollbackDetails"]["RollbackReason"]


def test_auto_rollback_needs_numbered_versions(group):
    ec2, asg, lt = group
    with pytest.raises(ClientError) as err:
        asg.start_instance_refresh(
            AutoScalingGroupName="web",
            DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "$Latest"}},
            Preferences={"AutoRollback": True},
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError):
        asg.start_instance_refresh(AutoScalingGroupName="web", Preferences={"AutoRollback": True})


def test_manual_rollback(group):
    ec2, asg, lt = group
    rid = asg.start_instance_refresh(AutoScalingGroupName="web", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}})["InstanceRefreshId"]
    asg.rollback_instance_refresh(AutoScalingGroupName="web")
    assert finished(asg, rid)["Status"] == "RollbackSuccessful"
    assert images(ec2, asg) == ["ami-0000000000000000a"] * 3


def test_unknown_group(url):
    asg = client(url, "autoscaling")
    with pytest.raises(ClientError) as err:
        asg.start_instance_refresh(AutoScalingGroupName="nope")
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_calls_are_counted(url):
    ec2 = client(url, "ec2")
    control(url, "calls/reset", {})
    ec2.describe_images(Owners=["self"])
    ec2.describe_images(Owners=["self"])
    assert control(url, "calls")["ec2:DescribeImages"] == 2


def test_connections_are_kept_alive(url):
    """AWS keeps a connection open from call to call; so does the local AWS, so a client's
    per-call cost is what it would be against AWS (no new TCP connection per call)."""
    import http.client
    import urllib.parse

    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    body = "Action=DescribeImages&Version=2016-11-15&Owner.1=self"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
    }
    ports = []
    for _ in range(3):
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        assert resp.getheader("Connection", "").lower() != "close"
        ports.append(conn.sock.getsockname()[1])
    assert len(set(ports)) == 1, ports
    conn.close()


def test_deregister_deletes_snapshots_in_the_same_call(amis):
    ec2, ids = amis
    snap = ec2.describe_images(ImageIds=[ids[0]])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    twin = ec2.register_image(
        Name="twin", RootDeviceName="/dev/sda1", BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}]
    )["ImageId"]
    out = ec2.deregister_image(ImageId=ids[0], DeleteAssociatedSnapshots=True)
    assert out["DeleteSnapshotResults"] == [{"SnapshotId": snap, "ReturnCode": "skipped"}], "the twin still uses it"
    out = ec2.deregister_image(ImageId=twin, DeleteAssociatedSnapshots=True)
    assert out["DeleteSnapshotResults"] == [{"SnapshotId": snap, "ReturnCode": "success"}]
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snap]}])["Snapshots"] == []
    # Without the parameter the snapshots stay, as before 2025.
    snap1 = ec2.describe_images(ImageIds=[ids[1]])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert "DeleteSnapshotResults" not in ec2.deregister_image(ImageId=ids[1])
    assert len(ec2.describe_snapshots(SnapshotIds=[snap1])["Snapshots"]) == 1


def test_a_denied_delete_snapshot_is_reported_per_snapshot(url, amis):
    ec2, ids = amis
    snap = ec2.describe_images(ImageIds=[ids[0]])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    control(url, "deny", {"region": CURRENT["region"], "actions": ["ec2:DeleteSnapshot"]})
    out = ec2.deregister_image(ImageId=ids[0], DeleteAssociatedSnapshots=True)
    assert out["DeleteSnapshotResults"] == [{"SnapshotId": snap, "ReturnCode": "missing-permissions"}]
    assert ec2.describe_images(ImageIds=[ids[0]])["Images"] == [], "deregistered all the same"
    control(url, "deny", {"region": CURRENT["region"], "actions": []})


def test_launches_are_recorded_and_images_can_be_aged(url, amis):
    ec2, ids = amis
    assert "LastLaunchedTime" not in ec2.describe_images(ImageIds=[ids[0]])["Images"][0]
    ec2.run_instances(ImageId=ids[0], MinCount=1, MaxCount=1)
    assert ec2.describe_images(ImageIds=[ids[0]])["Images"][0]["LastLaunchedTime"].startswith("20")
    control(url, "image-age", {"region": CURRENT["region"], "image_id": ids[1], "days": 40})
    created = ec2.describe_images(ImageIds=[ids[1]])["Images"][0]["CreationDate"]
    age = time.time() - datetime.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    assert 39 * 86400 < age < 41 * 86400, created


# --- copies and Regions ------------------------------------------------------------------


def test_copies_are_pending_then_available_tagged_as_asked_with_their_source(url, amis):
    ec2, ids = amis
    home = CURRENT["region"]
    ec2.create_tags(Resources=[ids[0]], Tags=[{"Key": "branch", "Value": "main"}])
    source = ec2.describe_images(ImageIds=[ids[0]])["Images"][0]
    assert source["SourceImageRegion"] == home and source["SourceImageId"].startswith("ami-"), "CreateImage records its source"
    dest = boto3.client(
        "ec2", endpoint_url=url, region_name=next(REGIONS), aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    copy = dest.copy_image(
        SourceImageId=ids[0],
        SourceRegion=home,
        Name="img-0",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "app", "Value": "web"}]}],
    )["ImageId"]
    image = dest.describe_images(ImageIds=[copy])["Images"][0]
    assert image["State"] == "pending", "a copy takes a while"
    assert (image["SourceImageId"], image["SourceImageRegion"]) == (ids[0], home)
    assert "Tags" not in image or image["Tags"] == [], "the source's tags stay behind unless asked for"
    snap = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert dest.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["Tags"] == [{"Key": "app", "Value": "web"}]
    wait_for(lambda: dest.describe_images(ImageIds=[copy])["Images"][0]["State"] == "available", "the copy")

    tagged = dest.copy_image(SourceImageId=ids[0], SourceRegion=home, Name="img-0b", CopyImageTags=True)["ImageId"]
    assert dest.describe_images(ImageIds=[tagged])["Images"][0]["Tags"] == [{"Key": "branch", "Value": "main"}]
    # The test control holds an image in a state until told otherwise.
    region = dest.meta.region_name
    control(url, "image-state", {"region": region, "image_id": tagged, "state": "pending"})
    assert dest.describe_images(ImageIds=[tagged])["Images"][0]["State"] == "pending"
    control(url, "image-state", {"region": region, "image_id": tagged, "state": "available"})
    assert dest.describe_images(ImageIds=[tagged])["Images"][0]["State"] == "available"


def test_regions_of_the_partition_with_their_opt_in_status(url):
    ec2 = client(url, "ec2")
    listed = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions()["Regions"]}
    assert listed["us-east-1"] == "opt-in-not-required" and listed["eu-north-1"] == "opt-in-not-required"
    assert listed["af-south-1"] == "opted-in" and listed["ap-east-1"] == "opted-in", "opt-in Regions, enabled here"
    assert "il-central-1" not in listed, "a Region not opted in is left out without AllRegions"
    assert not any(r.startswith(("us-gov-", "cn-")) for r in listed), "another partition's Regions are not seen"
    every = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    assert every["il-central-1"] == "not-opted-in"
    assert set(every) - set(listed) == {"il-central-1"}


def test_instance_types_from_instance_requirements(other_url):
    ec2 = client(other_url, "ec2")
    ask = lambda arch, **req: [t["InstanceType"] for t in ec2.get_instance_types_from_instance_requirements(
        ArchitectureTypes=[arch], VirtualizationTypes=["hvm"],
        InstanceRequirements={"VCpuCount": {"Min": 2, "Max": 2}, "MemoryMiB": {"Min": 4096, "Max": 4096}, **req})["InstanceTypes"]]
    x86 = ask("x86_64")
    assert "c5.large" in x86 and "m5.large" not in x86, "2 vCPUs and 4 GiB exactly: c5.large, not m5.large (8 GiB)"
    assert "t3.medium" not in x86 and "t2.medium" not in x86, "burstable types are excluded by default, as on AWS"
    assert "t3.medium" in ask("x86_64", BurstablePerformance="included")
    arm = ask("arm64", BurstablePerformance="included")
    assert "t4g.medium" in arm and "t3.medium" not in arm
    assert ask("arm64", CpuManufacturers=["intel"]) == []
    assert set(ask("x86_64", AllowedInstanceTypes=["c5*"])) == {t for t in x86 if t.startswith("c5")}
    assert ask("arm64", AllowedInstanceTypes=["c5*"]) == []


def test_max_healthy_percentage_launches_first_and_keeps_capacity(url):
    """A group of one: with MaxHealthyPercentage 200 the new instance is in service before the
    old one goes (never fewer than one); without it the old one goes first (none for a while)."""
    ec2, asg = client(url, "ec2"), client(url, "autoscaling")
    lt = ec2.create_launch_template(LaunchTemplateName="one", LaunchTemplateData={"ImageId": "ami-0000000000000000a"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName="one", MinSize=1, MaxSize=2, DesiredCapacity=1,
                                  AvailabilityZones=[CURRENT["region"] + "a"], LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"})
    for prefs, lowest, highest in (({"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200}, 1, 2), ({"MinHealthyPercentage": 0}, 0, 1)):
        rid = asg.start_instance_refresh(AutoScalingGroupName="one", Preferences=prefs)["InstanceRefreshId"]
        counts = set()

        def ended() -> bool:
            counts.add(len(asg.describe_auto_scaling_groups(AutoScalingGroupNames=["one"])["AutoScalingGroups"][0]["Instances"]))
            status = asg.describe_instance_refreshes(AutoScalingGroupName="one", InstanceRefreshIds=[rid])["InstanceRefreshes"][0]["Status"]
            return status == "Successful"

        wait_for(ended, "the refresh")
        assert (min(counts), max(counts)) == (lowest, highest), (prefs, counts)


def test_status_checks_start_initializing_then_ok_or_impaired(other_url):
    ec2 = client(other_url, "ec2")
    good = ec2.register_image(Name="good", Architecture="x86_64")["ImageId"]
    bad = ec2.register_image(Name="bad", Architecture="x86_64")["ImageId"]
    control(other_url, "image-health", {"region": CURRENT["region"], "image_id": bad, "status": "impaired"})
    ids = [ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"] for ami in (good, bad)]
    statuses = lambda: {s["InstanceId"]: (s["InstanceStatus"]["Status"], s["SystemStatus"]["Status"]) for s in ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]}
    assert statuses() == {ids[0]: ("initializing", "initializing"), ids[1]: ("initializing", "initializing")}
    # Each instance's checks end their first minutes on its own clock (it launched a little later).
    wait_for(lambda: statuses()[ids[0]] == ("ok", "ok"), "the good instance's checks")
    wait_for(lambda: statuses()[ids[1]] != ("initializing", "initializing"), "the bad instance's checks")
    assert statuses()[ids[1]] == ("impaired", "ok")
    detail = ec2.describe_instance_status(InstanceIds=[ids[1]])["InstanceStatuses"][0]["InstanceStatus"]["Details"][0]
    assert detail["Status"] == "failed" and "ImpairedSince" in detail
    ec2.stop_instances(InstanceIds=[ids[0]])
    stopped = ec2.describe_instance_status(InstanceIds=[ids[0]], IncludeAllInstances=True)["InstanceStatuses"][0]
    assert stopped["InstanceStatus"]["Status"] == "not-applicable"


def test_the_ssm_agent_comes_online_and_run_command_runs_to_an_outcome(server):
    # A Region another test used for images only: this test looks only at its own instance.
    CURRENT["region"] = "us-gov-west-1"
    other_url = server
    ec2, ssm = client(other_url, "ec2"), client(other_url, "ssm")
    ami = ec2.register_image(Name="app", Architecture="x86_64")["ImageId"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    info = lambda: ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance]}])["InstanceInformationList"]
    assert info() == [], "the agent takes a while to register"
    with pytest.raises(ClientError) as e:
        ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})
    assert e.value.response["Error"]["Code"] == "InvalidInstanceId"
    wait_for(lambda: [i["PingStatus"] for i in info()] == ["Online"], "the agent")

    control(other_url, "command-outcome", {"region": CURRENT["region"], "contains": "curl", "exit_code": 7, "stdout": "x" * 30000, "seconds": 0.5})
    failing = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["curl -fsS localhost:8080/health"]})["Command"]["CommandId"]
    passing = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})["Command"]["CommandId"]
    with pytest.raises(ClientError) as e:
        ssm.get_command_invocation(CommandId=failing, InstanceId=instance)
    assert e.value.response["Error"]["Code"] == "InvocationDoesNotExist", "normal right after the send"
    invocation = lambda cid: ssm.get_command_invocation(CommandId=cid, InstanceId=instance)
    time.sleep(0.3)  # ask again, as AWS says to (the invocation's delay is 0.2 s here)
    assert invocation(failing)["Status"] == "InProgress"
    wait_for(lambda: invocation(failing)["Status"] == "Failed", "the command to fail")
    out = invocation(failing)
    assert out["ResponseCode"] == 7 and len(out["StandardOutputContent"]) == 24000
    assert (invocation(passing)["Status"], invocation(passing)["ResponseCode"]) == ("Success", 0)


def test_a_registered_target_is_initial_then_healthy_or_unhealthy(server):
    # A Region another test used for images only: this test looks only at its own target group.
    CURRENT["region"] = "cn-north-1"
    ec2, elb = client(server, "ec2"), client(server, "elbv2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    arn = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    good = ec2.register_image(Name="good", Architecture="x86_64")["ImageId"]
    # No load balancer forwards to the group yet: its targets are unused, as on AWS.
    lonely = ec2.run_instances(ImageId=good, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": lonely}])
    wait_for(lambda: elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]["TargetHealth"]["State"] != "initial", "registration")
    unused = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]["TargetHealth"]
    assert (unused["State"], unused["Reason"]) == ("unused", "Target.NotInUse")
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": lonely}])
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    bad = ec2.register_image(Name="bad", Architecture="x86_64")["ImageId"]
    control(server, "image-health", {"region": CURRENT["region"], "image_id": bad, "status": "unhealthy"})
    ids = [ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"] for ami in (good, bad)]
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])
    health = lambda: {h["Target"]["Id"]: h["TargetHealth"]["State"] for h in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
    assert health() == {ids[0]: "initial", ids[1]: "initial"}
    wait_for(lambda: health()[ids[0]] == "healthy", "the good target")
    assert health()[ids[1]] == "unhealthy"
    # Still passes EC2's status checks: only the application fails.
    wait_for(lambda: ec2.describe_instance_status(InstanceIds=[ids[1]])["InstanceStatuses"][0]["InstanceStatus"]["Status"] == "ok", "status")
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": ids[0]}])
    assert ids[0] not in health()


def test_run_instances_refuses_what_cannot_launch_and_uses_the_callers_pass_role(server):
    # A Region another test used: this test looks only at its own images and calls.
    CURRENT["region"] = "us-gov-east-1"
    ec2 = client(server, "ec2")
    control(server, "calls/reset", {"region": CURRENT["region"]})
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    off = ec2.register_image(Name="off", Architecture="x86_64")["ImageId"]
    ec2.disable_image(ImageId=off)
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=off, MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.Unavailable"
    assert "iam:PassRole" not in control(server, f"authorized?region={CURRENT['region']}")

    good = ec2.register_image(Name="good", Architecture="x86_64")["ImageId"]
    lt = ec2.create_launch_template(LaunchTemplateName="profiled", LaunchTemplateData={"ImageId": good, "IamInstanceProfile": {"Name": "app"}})["LaunchTemplate"]["LaunchTemplateId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "created-by", "Value": "test"}]}]
    ec2.run_instances(LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"}, ImageId=good, MinCount=1, MaxCount=1, TagSpecifications=tags)
    authorized = control(server, f"authorized?region={CURRENT['region']}")
    assert authorized.get("iam:PassRole") == 1 and authorized.get("ec2:CreateTags") == 1, authorized


STACK_TEMPLATE = """
Parameters:
  Keep: {Type: Number, Default: 5, MinValue: 2}
  Id: {Type: String, Default: '', AllowedPattern: '^(lt-[0-9a-f]{8})?$'}
  Name: {Type: String, Default: web, MinLength: 1, ConstraintDescription: a name}
Resources:
  Project:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: !Sub '${Name}-build'
      ServiceRole: arn:aws:iam::123456789012:role/build
      Source: {Type: GITHUB, Location: 'https://github.com/acme/app.git', BuildSpec: buildspec.yml}
      Artifacts: {Type: NO_ARTIFACTS}
      Environment:
        Type: LINUX_CONTAINER
        ComputeType: BUILD_GENERAL1_SMALL
        Image: aws/codebuild/amazonlinux-x86_64-standard:5.0
        EnvironmentVariables: [{Name: KEEP, Value: !Ref Keep}]
      Triggers:
        Webhook: true
        FilterGroups: [[{Type: EVENT, Pattern: PUSH}]]
Outputs:
  Arn: {Value: !GetAtt Project.Arn}
"""


def test_stack_parameters_are_checked_as_cloudformation_does_and_nothing_is_made(url):
    cfn = client(url, "cloudformation")
    for params, says in [
        ([{"ParameterKey": "Keep", "ParameterValue": "1"}], "Parameter 'Keep' must be a number not less than 2"),
        ([{"ParameterKey": "Keep", "ParameterValue": "two"}], "Parameter 'Keep' must be a number"),
        ([{"ParameterKey": "Id", "ParameterValue": "lt-x"}], "Parameter 'Id' must match pattern ^(lt-[0-9a-f]{8})?$"),
        ([{"ParameterKey": "Name", "ParameterValue": ""}], "Parameter 'Name' failed to satisfy constraint: a name"),
    ]:
        with pytest.raises(ClientError) as e:
            cfn.create_stack(StackName="refused", TemplateBody=STACK_TEMPLATE, Parameters=params)
        assert e.value.response["Error"]["Code"] == "ValidationError"
        assert e.value.response["Error"]["Message"] == says
        with pytest.raises(ClientError):
            cfn.create_change_set(StackName="refused", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=STACK_TEMPLATE, Parameters=params)
    assert cfn.list_stacks()["StackSummaries"] == []
    assert client(url, "codebuild").list_projects()["projects"] == []


def test_a_codebuild_project_resource_is_made_and_removed_with_its_stack(url):
    cfn, codebuild = client(url, "cloudformation"), client(url, "codebuild")
    cfn.create_change_set(StackName="p", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=STACK_TEMPLATE)
    cfn.execute_change_set(ChangeSetName="c", StackName="p")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="p")["Stacks"][0]["Outputs"]}
    project = codebuild.batch_get_projects(names=["web-build"])["projects"][0]
    assert outputs["Arn"] == project["arn"]
    assert project["environment"]["environmentVariables"] == [{"name": "KEEP", "value": "5"}]
    assert project["source"]["buildspec"] == "buildspec.yml"
    assert project["webhook"]["filterGroups"] == [[{"type": "EVENT", "pattern": "PUSH"}]]
    cfn.delete_stack(StackName="p")
    assert codebuild.batch_get_projects(names=["web-build"])["projects"] == []
