"""Instance refreshes: states, batches, checkpoints, SkipMatching, cancel, failures, rollbacks."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import CURRENT, client, control, wait_for, images, refresh, finished


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
