"""AMIs shared with other accounts: seen by ID, by ExecutableUsers=self and by owner there,
launched there, tagged there in that account only; unshared ones stay invisible."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import CURRENT, client, control

WORKLOAD = "222233334444"
STRANGER = "555566667777"


def account_client(url: str, account: str, service: str = "ec2"):
    key = control(url, "account-key", {"account": account})
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=CURRENT["region"],
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
    )


@pytest.fixture()
def shared(url):
    """An AMI of the default account, tagged by its owner and shared with WORKLOAD, and one not shared."""
    ec2 = client(url, "ec2")
    source = ec2.register_image(Name="source")["ImageId"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami, private = (ec2.create_image(InstanceId=instance, Name=n)["ImageId"] for n in ("shared", "private"))
    ec2.create_tags(Resources=[ami, private], Tags=[{"Key": "branch", "Value": "main"}])
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": WORKLOAD}]})
    return ec2, ami, private


def ids(reply) -> set[str]:
    return {i["ImageId"] for i in reply["Images"]}


def test_a_shared_ami_is_seen_by_id_by_executable_users_and_by_owner(url, shared):
    ec2, ami, private = shared
    owner = ec2.describe_images(ImageIds=[ami])["Images"][0]["OwnerId"]
    workload = account_client(url, WORKLOAD)
    assert ids(workload.describe_images(ImageIds=[ami])) == {ami}
    assert ids(workload.describe_images(ExecutableUsers=["self"])) == {ami}
    assert ids(workload.describe_images(Owners=[owner])) == {ami}
    assert ids(workload.describe_images(Owners=["self"])) == set(), "not the workload account's own"
    with pytest.raises(ClientError) as refused:
        workload.describe_images(ImageIds=[private])
    assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    stranger = account_client(url, STRANGER)
    with pytest.raises(ClientError):
        stranger.describe_images(ImageIds=[ami])


def test_the_owners_tags_stay_the_owners_and_the_workloads_its_own(url, shared):
    ec2, ami, _ = shared
    workload = account_client(url, WORKLOAD)
    assert workload.describe_images(ImageIds=[ami])["Images"][0].get("Tags", []) == []
    assert ids(workload.describe_images(Filters=[{"Name": "tag:branch", "Values": ["main"]}])) == set()
    workload.create_tags(Resources=[ami], Tags=[{"Key": "verified", "Value": "passed"}])
    assert workload.describe_images(ImageIds=[ami])["Images"][0]["Tags"] == [{"Key": "verified", "Value": "passed"}]
    owners = {t["Key"] for t in ec2.describe_images(ImageIds=[ami])["Images"][0]["Tags"]}
    assert owners == {"branch"}


def test_a_shared_ami_launches_in_the_account_and_stamps_the_owners_last_launch(url, shared):
    ec2, ami, private = shared
    workload = account_client(url, WORKLOAD)
    instance = workload.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]
    assert instance["ImageId"] == ami
    assert ec2.describe_images(ImageIds=[ami])["Images"][0].get("LastLaunchedTime")
    with pytest.raises(ClientError) as refused:
        workload.run_instances(ImageId=private, MinCount=1, MaxCount=1)
    assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_unshared_or_deregistered_by_the_owner_it_is_gone_for_the_workload(url, shared):
    ec2, ami, _ = shared
    workload = account_client(url, WORKLOAD)
    with pytest.raises(ClientError):
        workload.deregister_image(ImageId=ami)
    assert ids(ec2.describe_images(ImageIds=[ami])) == {ami}, "only the owner deregisters"
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [{"UserId": WORKLOAD}]})
    assert ids(workload.describe_images(ExecutableUsers=["self"])) == set()
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": WORKLOAD}]})
    ec2.deregister_image(ImageId=ami)
    with pytest.raises(ClientError):
        workload.describe_images(ImageIds=[ami])
