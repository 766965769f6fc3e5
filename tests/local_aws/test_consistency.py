"""EC2's eventual consistency when asked: an instance, an AMI or a launch template version just
made is unknown by its ID for a while, to EC2, SSM, Elastic Load Balancing and Auto Scaling."""

from __future__ import annotations

import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CURRENT, client, control, wait_for

HIDE = 1.5


@pytest.fixture()
def consistent_later(server):
    """A Region where instances launch (moto's other partitions have default subnets), with
    new IDs hidden for HIDE seconds; the setting is turned off afterwards (the Region is shared)."""
    CURRENT["region"] = "us-gov-west-1"
    control(server, "consistency", {"region": CURRENT["region"], "seconds": HIDE})
    control(server, "calls/reset", {"region": CURRENT["region"]})
    yield server
    control(server, "consistency", {"region": CURRENT["region"], "seconds": 0})


def code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def no_retries(url: str, service: str):
    return client(url, service, Config(retries={"total_max_attempts": 1}))


def test_off_by_default_a_new_instance_is_known_at_once(server):
    # A Region where instances launch, shared with other tests: this one looks only at its own.
    CURRENT["region"] = "us-gov-west-1"
    other_url = server
    control(server, "calls/reset", {"region": CURRENT["region"]})
    ec2 = client(other_url, "ec2")
    ami = ec2.register_image(Name="app", Architecture="x86_64")["ImageId"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["InstanceId"] == instance
    assert control(other_url, f"consistency/refused?region={CURRENT['region']}") == {}


def test_a_new_instance_is_unknown_by_id_and_a_refused_terminate_terminates_nothing(consistent_later):
    url = consistent_later
    ec2, ssm = no_retries(url, "ec2"), no_retries(url, "ssm")
    ami = ec2.describe_images(Owners=["self"])["Images"] or None
    ami = ami[0]["ImageId"] if ami else ec2.register_image(Name="app", Architecture="x86_64")["ImageId"]
    time.sleep(HIDE)  # the AMI, if made just now, is known by now
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert code(lambda: ec2.describe_instances(InstanceIds=[instance])) == "InvalidInstanceID.NotFound"
    assert code(lambda: ec2.describe_instance_status(InstanceIds=[instance])) == "InvalidInstanceID.NotFound"
    assert code(lambda: ec2.terminate_instances(InstanceIds=[instance])) == "InvalidInstanceID.NotFound"
    assert code(lambda: ec2.create_tags(Resources=[instance], Tags=[{"Key": "k", "Value": "v"}])) == "InvalidInstanceID.NotFound"
    assert code(lambda: ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                                         Parameters={"commands": ["true"]})) == "InvalidInstanceId"
    # A listing by filter may show it, as AWS's page allows: still running, the terminate did nothing.
    listed = [i for r in ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [ami]}])["Reservations"] for i in r["Instances"]]
    assert {i["InstanceId"]: i["State"]["Name"] for i in listed}[instance] in ("pending", "running")
    wait_for(lambda: not _refused(lambda: ec2.describe_instances(InstanceIds=[instance])), "the instance to be known")
    ec2.terminate_instances(InstanceIds=[instance])
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")
    refused = control(url, f"consistency/refused?region={CURRENT['region']}")
    assert refused["TerminateInstances"] == 1 and refused["SendCommand"] == 1 and refused["DescribeInstances"] >= 1


def _refused(call) -> bool:
    try:
        call()
        return False
    except ClientError:
        return True


def test_a_new_instance_cannot_be_registered_in_a_target_group_yet(consistent_later):
    url = consistent_later
    ec2, elb = no_retries(url, "ec2"), no_retries(url, "elbv2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    arn = elb.create_target_group(Name="consistency", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    ami = ec2.register_image(Name="target", Architecture="x86_64")["ImageId"]
    time.sleep(HIDE)
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert code(lambda: elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])) == "InvalidTarget"
    assert code(lambda: elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])) == "InvalidTarget"
    wait_for(lambda: not _refused(lambda: elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])), "the target")
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
    elb.delete_target_group(TargetGroupArn=arn)
    ec2.terminate_instances(InstanceIds=[instance])


def test_a_new_ami_is_unknown_by_id(consistent_later):
    url = consistent_later
    ec2 = no_retries(url, "ec2")
    ami = ec2.register_image(Name="hidden", Architecture="x86_64")["ImageId"]
    assert code(lambda: ec2.describe_images(ImageIds=[ami])) == "InvalidAMIID.NotFound"
    assert code(lambda: ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)) == "InvalidAMIID.NotFound"
    assert code(lambda: ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")) == "InvalidAMIID.NotFound"
    assert code(lambda: ec2.deregister_image(ImageId=ami)) == "InvalidAMIID.NotFound"
    assert ami in {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}, "a listing may show it"
    wait_for(lambda: not _refused(lambda: ec2.describe_images(ImageIds=[ami])), "the AMI to be known")
    ec2.deregister_image(ImageId=ami)


def test_a_new_launch_template_version_is_unknown_by_number(consistent_later):
    url = consistent_later
    ec2, asg = no_retries(url, "ec2"), no_retries(url, "autoscaling")
    ami = ec2.register_image(Name="template", Architecture="x86_64")["ImageId"]
    time.sleep(HIDE)
    lt = ec2.create_launch_template(LaunchTemplateName="consistency", LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName="consistency", MinSize=0, MaxSize=1, DesiredCapacity=0,
                                  AvailabilityZones=[f"{CURRENT['region']}a"], LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"})
    v2 = ec2.create_launch_template_version(LaunchTemplateId=lt, LaunchTemplateData={"ImageId": ami})["LaunchTemplateVersion"]["VersionNumber"]
    assert code(lambda: ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=[str(v2)])) == "InvalidLaunchTemplateId.VersionNotFound"
    assert code(lambda: ec2.modify_launch_template(LaunchTemplateId=lt, DefaultVersion=str(v2))) == "InvalidLaunchTemplateId.VersionNotFound"
    desired = {"LaunchTemplate": {"LaunchTemplateId": lt, "Version": str(v2)}}
    assert code(lambda: asg.start_instance_refresh(AutoScalingGroupName="consistency", DesiredConfiguration=desired)) == "ValidationError"
    assert ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["1"])["LaunchTemplateVersions"], "older versions are known"
    wait_for(lambda: not _refused(lambda: ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=[str(v2)])), "the version")
    ec2.modify_launch_template(LaunchTemplateId=lt, DefaultVersion=str(v2))
    refused = control(url, f"consistency/refused?region={CURRENT['region']}")
    assert refused["ModifyLaunchTemplate"] == 1 and refused["StartInstanceRefresh"] == 1
    asg.delete_auto_scaling_group(AutoScalingGroupName="consistency", ForceDelete=True)


def test_a_random_time_up_to_a_bound(server):
    CURRENT["region"] = "us-gov-west-1"
    control(server, "consistency", {"region": CURRENT["region"], "max_seconds": 0.5})
    try:
        ec2 = no_retries(server, "ec2")
        amis = [ec2.register_image(Name=f"random-{i}", Architecture="x86_64")["ImageId"] for i in range(5)]
        time.sleep(0.6)
        assert ec2.describe_images(ImageIds=amis)["Images"], "every one is known once the bound has passed"
    finally:
        control(server, "consistency", {"region": CURRENT["region"], "seconds": 0})
