"""Booting and checking an image: instance types by requirements, status checks, the SSM agent and Run Command, target health, RunInstances' refusals."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import CURRENT, client, control, wait_for


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
