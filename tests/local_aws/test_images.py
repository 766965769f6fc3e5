"""Images: disabled, deprecated, protected, public, referenced, architectures, aliases, paging, deregistration with snapshots, launches, copies and Regions."""

from __future__ import annotations

import datetime
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import CURRENT, client, control, wait_for, listed, another_region


# --- images ----------------------------------------------------------------------------------


# --- images: disabled, deprecated, protected, shared, referenced -----------------------------

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
        "ec2", endpoint_url=url, region_name=another_region(), aws_access_key_id="testing", aws_secret_access_key="testing"
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
