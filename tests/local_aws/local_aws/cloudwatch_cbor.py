"""CloudWatch over Smithy RPC v2 CBOR, the protocol the current AWS SDKs speak to CloudWatch
(``POST /service/GraniteServiceVersion20100801/operation/<Operation>``, a CBOR body, the header
``smithy-protocol: rpc-v2-cbor``); moto 5.2.5 serves CloudWatch's query protocol only (what
boto3 speaks). This front answers the operations the tools and their tests call, on moto's
CloudWatch state for the caller's account and Region, and counts them as any call:

* DescribeAlarms: AlarmNames, AlarmTypes (MetricAlarm, CompositeAlarm), StateValue, one page
  (MaxRecords up to 100, as AWS pages; NextToken past it);
* PutMetricAlarm: a metric alarm, starting INSUFFICIENT_DATA as on AWS (alarms.py);
* SetAlarmState.

An error answers as RPC v2 CBOR does: its status and a body ``{"__type": CODE, "message": ...}``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import cbor2

from .core import CALLS, FIRST_CALL, LOCK

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")


def _caller(environ: dict[str, Any]) -> tuple[str, str]:
    """The caller's account (from its access key, as moto finds it) and Region (from the
    signature's scope)."""
    from moto.iam.models import get_account_id_from

    found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    key, region = (found.group(1), found.group(2)) if found else ("", "us-east-1")
    return get_account_id_from(key), region


def _reply(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = cbor2.dumps(body)
    start_response(status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                            ("Content-Length", str(len(data))), ("x-amzn-RequestId", "local-aws")])
    return [data]


class _Error(Exception):
    def __init__(self, status: str, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _alarm(alarm: Any) -> dict[str, Any]:
    updated = getattr(alarm, "state_updated_timestamp", None)
    out = {
        "AlarmName": alarm.name,
        "AlarmArn": getattr(alarm, "alarm_arn", f"arn:aws:cloudwatch:::alarm:{alarm.name}"),
        "StateValue": alarm.state_value,
        "StateReason": alarm.state_reason,
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "Threshold": float(alarm.threshold) if alarm.threshold is not None else 0.0,
    }
    if isinstance(updated, datetime.datetime):
        out["StateUpdatedTimestamp"] = cbor2.CBORTag(1, updated.timestamp())
    return out


def _describe_alarms(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    names = body.get("AlarmNames") or []
    types = body.get("AlarmTypes") or ["MetricAlarm"]
    alarms = [a for a in backend.alarms.values() if not names or a.name in names]
    if body.get("StateValue"):
        alarms = [a for a in alarms if a.state_value == body["StateValue"]]
    alarms.sort(key=lambda a: a.name)
    start = int(body.get("NextToken") or 0)
    size = min(int(body.get("MaxRecords") or 50), 100)
    page = alarms[start : start + size]
    out: dict[str, Any] = {"MetricAlarms": [_alarm(a) for a in page] if "MetricAlarm" in types else [], "CompositeAlarms": []}
    if start + size < len(alarms):
        out["NextToken"] = str(start + size)
    return out


def _put_metric_alarm(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    backend.put_metric_alarm(
        name=body["AlarmName"], namespace=body.get("Namespace", ""), metric_name=body.get("MetricName", ""),
        comparison_operator=body.get("ComparisonOperator", ""), evaluation_periods=int(body.get("EvaluationPeriods", 1)),
        period=int(body.get("Period", 60)), threshold=float(body.get("Threshold", 0)), statistic=body.get("Statistic", ""),
        description=body.get("AlarmDescription", ""), dimensions=body.get("Dimensions") or [], alarm_actions=body.get("AlarmActions") or [],
    )
    return {}


def _set_alarm_state(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("AlarmName") not in backend.alarms:
        raise _Error("404 Not Found", "ResourceNotFound", f"Alarm {body.get('AlarmName')} not found")
    backend.set_alarm_state(body["AlarmName"], body.get("StateReason", ""), body.get("StateReasonData"), body.get("StateValue", ""))
    return {}


OPERATIONS = {"DescribeAlarms": _describe_alarms, "PutMetricAlarm": _put_metric_alarm, "SetAlarmState": _set_alarm_state}


def handles(path: str) -> bool:
    return path.startswith(PREFIX)


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    from moto.cloudwatch.models import cloudwatch_backends

    operation = environ.get("PATH_INFO", "")[len(PREFIX):]
    account, region = _caller(environ)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    with LOCK:
        CALLS[(region, account, f"cloudwatch:{operation}")] += 1
        FIRST_CALL.setdefault(region, __import__("time").time())
    handler = OPERATIONS.get(operation)
    if handler is None:
        return _reply(start_response, "400 Bad Request", {"__type": "UnknownOperationException", "message": f"the local AWS has no CBOR {operation}"})
    try:
        body = cbor2.loads(raw) if raw else {}
        with LOCK:
            out = handler(cloudwatch_backends[account][region], body or {})
        return _reply(start_response, "200 OK", out)
    except _Error as e:
        return _reply(start_response, e.status, {"__type": e.code, "message": e.message})
