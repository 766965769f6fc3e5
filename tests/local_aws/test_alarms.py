"""CloudWatch alarms an instance refresh watches (its AlarmSpecification), its bake time and the
Baking status, and the rollback an alarm sets off with AutoRollback."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import CURRENT, client, wait_for
from conftest import finished, images, refresh  # noqa: F401  (the refresh helpers)


def alarm(url: str, name: str) -> None:
    client(url, "cloudwatch").put_metric_alarm(
        AlarmName=name, MetricName="5XXError", Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def fire(url: str, name: str) -> None:
    client(url, "cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: 5 errors")


def to_version_2(asg, lt: str, **preferences) -> str:
    return asg.start_instance_refresh(
        AutoScalingGroupName="web",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}},
        Preferences=preferences,
    )["InstanceRefreshId"]


def test_a_new_alarm_has_insufficient_data_and_a_refresh_refuses_one_that_does_not_exist(group, url):
    ec2, asg, lt = group
    alarm(url, "errors")
    state = client(url, "cloudwatch").describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["StateValue"]
    assert state == "INSUFFICIENT_DATA", "as on AWS, before its first evaluation"
    with pytest.raises(ClientError) as e:
        to_version_2(asg, lt, AlarmSpecification={"Alarms": ["no-such-alarm"]})
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert asg.describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"] == [], "nothing started"


def test_bake_time_shows_baking_then_succeeds(group, url):
    ec2, asg, lt = group
    alarm(url, "errors")
    rid = to_version_2(asg, lt, BakeTime=180, AlarmSpecification={"Alarms": ["errors"]})
    wait_for(lambda: refresh(asg, rid)["Status"] == "Baking", "the bake time")
    assert images(ec2, asg) == ["ami-0000000000000000b"] * 3, "baking comes after every replacement"
    assert finished(asg, rid)["Status"] == "Successful"


def test_an_alarm_during_the_bake_rolls_back_with_auto_rollback(group, url):
    ec2, asg, lt = group
    alarm(url, "errors")
    rid = to_version_2(asg, lt, BakeTime=600, AutoRollback=True, AlarmSpecification={"Alarms": ["errors"]})
    wait_for(lambda: refresh(asg, rid)["Status"] == "Baking", "the bake time")
    fire(url, "errors")
    r = finished(asg, rid)
    assert r["Status"] == "RollbackSuccessful"
    assert "errors" in r["RollbackDetails"]["RollbackReason"] and "Threshold Crossed" in r["StatusReason"], r
    assert images(ec2, asg) == ["ami-0000000000000000a"] * 3, "back on the previous image"
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert g["LaunchTemplate"]["Version"] == "1", "and on the previous version"


def test_an_alarm_during_a_checkpoint_pause_fails_the_refresh(group, url):
    ec2, asg, lt = group
    alarm(url, "latency")
    rid = to_version_2(asg, lt, MinHealthyPercentage=67, CheckpointPercentages=[34, 100], CheckpointDelay=600,
                       AlarmSpecification={"Alarms": ["latency"]})
    # The checkpoint at 34% of 3 instances is the second; the refresh pauses there.
    wait_for(lambda: refresh(asg, rid)["PercentageComplete"] >= 66, "the checkpoint")
    fire(url, "latency")
    r = finished(asg, rid)
    assert r["Status"] == "Failed" and "latency" in r["StatusReason"], r
    assert images(ec2, asg).count("ami-0000000000000000b") == 2, "stopped at the checkpoint"


def cbor_call(url: str, operation: str, body: dict) -> tuple[int, dict]:
    """One CloudWatch call as the current AWS SDKs make it: Smithy RPC v2 CBOR."""
    import urllib.error
    import urllib.request

    import cbor2

    request = urllib.request.Request(
        f"{url}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(body),
        method="POST",
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor",
                 "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20261205/{CURRENT['region']}/monitoring/aws4_request, SignedHeaders=host, Signature=0"},
    )
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, cbor2.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, cbor2.loads(e.read())


def test_cloudwatch_answers_the_sdks_cbor_protocol_on_the_same_alarms(url):
    from conftest import control

    alarm(url, "errors")
    status, out = cbor_call(url, "DescribeAlarms", {"AlarmNames": ["errors", "other"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})
    assert status == 200 and [(a["AlarmName"], a["StateValue"]) for a in out["MetricAlarms"]] == [("errors", "INSUFFICIENT_DATA")]
    assert out["CompositeAlarms"] == []
    status, _ = cbor_call(url, "SetAlarmState", {"AlarmName": "errors", "StateValue": "ALARM", "StateReason": "Threshold Crossed"})
    assert status == 200
    described = client(url, "cloudwatch").describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]
    assert (described["StateValue"], described["StateReason"]) == ("ALARM", "Threshold Crossed"), "one state, both protocols"
    status, err = cbor_call(url, "SetAlarmState", {"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"})
    assert status == 404 and err["__type"] == "ResourceNotFound"
    assert control(url, f"calls?region={CURRENT['region']}")["cloudwatch:DescribeAlarms"] == 2, "counted as any call (CBOR and query, one each)"


def test_rollback_instance_refresh_and_its_errors(group, url):
    ec2, asg, lt = group
    # No refresh under way: nothing to roll back.
    with pytest.raises(ClientError) as e:
        asg.rollback_instance_refresh(AutoScalingGroupName="web")
    assert e.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"
    # A refresh without a desired configuration cannot be rolled back.
    rid = asg.start_instance_refresh(AutoScalingGroupName="web", Preferences={"MinHealthyPercentage": 0})["InstanceRefreshId"]
    with pytest.raises(ClientError) as e:
        asg.rollback_instance_refresh(AutoScalingGroupName="web")
    assert e.value.response["Error"]["Code"] == "IrreversibleInstanceRefresh"
    finished(asg, rid)
    # One to version 2 can: the group goes back to version 1 and its image.
    rid = to_version_2(asg, lt, BakeTime=600)
    wait_for(lambda: refresh(asg, rid)["Status"] in ("InProgress", "Baking"), "the refresh to start")
    asg.rollback_instance_refresh(AutoScalingGroupName="web")
    assert finished(asg, rid)["Status"] == "RollbackSuccessful"
    assert images(ec2, asg) == ["ami-0000000000000000a"] * 3
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["LaunchTemplate"]["Version"] == "1"


def test_a_failure_with_auto_rollback_takes_the_group_back_even_without_an_alarm(group, url):
    from conftest import control

    ec2, asg, lt = group
    control(url, "refresh-fault", {"group": "web", "fail_after": 1, "reason": "unhealthy"})
    rid = to_version_2(asg, lt, AutoRollback=True, AlarmSpecification={"Alarms": []})
    r = finished(asg, rid)
    assert (r["Status"], r["RollbackDetails"]["RollbackReason"]) == ("RollbackSuccessful", "unhealthy")
    assert images(ec2, asg) == ["ami-0000000000000000a"] * 3
