"""Launch template versions: deletes as AWS replies, numbers never reused, SourceVersion, ClientToken, paging."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import numbers


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
