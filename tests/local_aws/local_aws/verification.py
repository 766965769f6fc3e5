"""Booting an AMI and checking it: EC2's status checks and SSM Run Command, as AWS documents
them, so that a tool that verifies an image meets their delays and outcomes here too.

Status checks (DescribeInstanceStatus)
  moto reports ``ok`` the moment an instance runs. On AWS both checks read ``initializing`` for
  the first minutes after launch; here for LOCAL_AWS_STATUS_SECONDS (default 2) after the
  launch. Then both are ``ok`` (reachability ``passed``), unless a test marked the instance's
  image impaired (the ``image-health`` control): then the instance status is ``impaired``
  (reachability ``failed``, with ``ImpairedSince``), as for an image that does not boot. A
  stopped or terminated instance reads ``not-applicable`` (moto's, with IncludeAllInstances).

The SSM agent (DescribeInstanceInformation, which moto lacks)
  A running instance registers LOCAL_AWS_SSM_AGENT_SECONDS (default 3) after its launch, then
  is listed with ``PingStatus: Online`` (``ConnectionLost`` once it stops), filtered by
  ``InstanceInformationFilterList`` / ``Filters`` key ``InstanceIds`` and paged (MaxResults
  5-50, NextToken). AWS lists only instances whose instance profile lets the agent register;
  moto does not carry a template's instance profile to its instances, so that is not checked
  here (the one way this is kinder than AWS).

Target health (elbv2 RegisterTargets, DescribeTargetHealth)
  moto calls a registered target ``healthy`` at once. On AWS a new target is ``initial``
  (Elb.RegistrationInProgress) until it has passed the health checks its threshold asks for;
  here for LOCAL_AWS_TARGET_SECONDS (default 2) after it was registered. Then ``healthy``, or
  ``unhealthy`` (Target.FailedHealthChecks) when its image was marked ``impaired`` or
  ``unhealthy`` (the ``image-health`` control: ``unhealthy`` boots and passes the status
  checks, but its application fails the load balancer's health check). A target group no load
  balancer forwards to reports its targets ``unused`` (Target.NotInUse), as on AWS.

Launching (RunInstances)
  moto launches any image ID, even one that does not exist. AWS refuses an image it does not
  know (InvalidAMIID.NotFound) and one that cannot launch: pending, failed or disabled
  (InvalidAMIID.Unavailable). Launching with an instance profile, given in the request or by
  the launch template, uses the caller's ``iam:PassRole``; tagging at launch
  (TagSpecifications) its ``ec2:CreateTags``: both are counted as authorized on the caller's
  behalf, for the IAM policy tests.

Run Command (SendCommand, GetCommandInvocation)
  SendCommand to an instance whose agent is not online is refused with InvalidInstanceId, as
  on AWS. Right after the send, GetCommandInvocation answers InvocationDoesNotExist (AWS says
  to ask again); then ``InProgress`` until the outcome's time has passed, then ``Success``
  (ResponseCode 0) or ``Failed`` (the exit code), with StandardOutputContent and
  StandardErrorContent cut at 24,000 characters, as AWS cuts them. The outcome of a command
  whose text contains a string is what a test set with the ``command-outcome`` control (exit
  code, output, seconds); every other command succeeds at once with no output.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from typing import Any

from moto.core.responses import ActionResult

from . import sharing
from .core import _authorize, paged
from .regions import _settle

LOCK = threading.RLock()
STATUS_SECONDS = float(os.environ.get("LOCAL_AWS_STATUS_SECONDS", "2"))
AGENT_SECONDS = float(os.environ.get("LOCAL_AWS_SSM_AGENT_SECONDS", "3"))
TARGET_SECONDS = float(os.environ.get("LOCAL_AWS_TARGET_SECONDS", "2"))
# Before this long after a send, GetCommandInvocation does not know the invocation yet.
INVOCATION_DELAY = 0.2
OUTPUT_LIMIT = 24_000

# Images whose instances fail their status checks, by (account, region).
IMPAIRED: dict[tuple[str, str], set[str]] = {}
# Images whose instances pass the status checks but fail a load balancer's health check.
UNHEALTHY: dict[tuple[str, str], set[str]] = {}
# Command outcomes tests set, by (account, region): [{"contains", "exit_code", "stdout", "stderr", "seconds"}].
OUTCOMES: dict[tuple[str, str], list[dict[str, Any]]] = {}
# When each command was sent and what its outcome is, by command ID.
SENT: dict[str, dict[str, Any]] = {}


def set_image_health(account: str, region: str, image_id: str, status: str) -> None:
    """Test control: instances of `image_id` fail (status "impaired") or pass ("ok") their checks."""
    if status not in ("impaired", "unhealthy", "ok"):
        raise ValueError(f"image health must be impaired, unhealthy or ok, not {status!r}")
    with LOCK:
        for kind, marks in (("impaired", IMPAIRED), ("unhealthy", UNHEALTHY)):
            marked = marks.setdefault((account, region), set())
            (marked.add if status == kind else marked.discard)(image_id)


def add_command_outcome(account: str, region: str, outcome: dict[str, Any]) -> None:
    """Test control: how a command whose text contains `outcome["contains"]` ends."""
    with LOCK:
        OUTCOMES.setdefault((account, region), []).insert(0, outcome)


def status_ok_times(account: str, region: str) -> dict[str, float]:
    """Test control: when each instance's status checks turn ok (or impaired), as a Unix time:
    what a benchmark measures a verdict's delay from."""
    return {i.id: getattr(i, "_local_aws_started", 0.0) + STATUS_SECONDS for i in _instances(account, region)}


def on_launch(instance: Any) -> None:
    instance._local_aws_started = time.time()


def _age(instance: Any) -> float:
    return time.time() - getattr(instance, "_local_aws_started", 0.0)


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _status(instance: Any, impaired_counts: bool) -> dict[str, Any]:
    if instance.state_code != 16:
        return {"Status": "not-applicable"}
    if _age(instance) < STATUS_SECONDS:
        return {"Status": "initializing", "Details": [{"Name": "reachability", "Status": "initializing"}]}
    backend = instance.ec2_backend
    with LOCK:
        impaired = instance.image_id in IMPAIRED.get((backend.account_id, backend.region_name), set())
    if impaired and impaired_counts:
        since = _iso(getattr(instance, "_local_aws_started", 0.0) + STATUS_SECONDS)
        return {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed", "ImpairedSince": since}]}
    return {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}


def _online(instance: Any) -> bool:
    return instance.state_code == 16 and _age(instance) >= AGENT_SECONDS


def _instances(account: str, region: str) -> list[Any]:
    from moto.ec2.models import ec2_backends

    return list(ec2_backends[account][region].all_instances())


def describe_instance_information(self: Any) -> ActionResult:
    from moto.ssm.exceptions import ValidationException

    wanted: set[str] = set()
    for f in (self._get_param("InstanceInformationFilterList") or []):
        if f.get("key") == "InstanceIds":
            wanted |= set(f.get("valueSet") or [])
    for f in (self._get_param("Filters") or []):
        if f.get("Key") == "InstanceIds":
            wanted |= set(f.get("Values") or [])
    size = self._get_int_param("MaxResults") or 50
    if not 5 <= size <= 50:
        raise ValidationException("MaxResults must be between 5 and 50.")
    listed = []
    for inst in _instances(self.current_account, self.region):
        registered = getattr(inst, "_local_aws_started", 0.0) + AGENT_SECONDS
        if (wanted and inst.id not in wanted) or time.time() < registered:
            continue
        online = _online(inst)
        listed.append({
            "InstanceId": inst.id,
            "PingStatus": "Online" if online else "ConnectionLost",
            "LastPingDateTime": _iso(time.time() if online else registered),
            "AgentVersion": "3.3.0.0",
            "IsLatestVersion": True,
            "PlatformType": "Linux",
            "ResourceType": "EC2Instance",
        })
    listed.sort(key=lambda i: i["InstanceId"])
    return paged("InstanceInformationList", listed, self._get_param("NextToken"), size)


_original_send_command: Any = None
_original_get_command_invocation: Any = None


def send_command(self: Any) -> ActionResult:
    from moto.core.exceptions import JsonRESTError as RESTError

    ids = self._get_param("InstanceIds", [])
    by_id = {i.id: i for i in _instances(self.current_account, self.region)}
    for instance_id in ids:
        inst = by_id.get(instance_id)
        if inst is None or not _online(inst):
            raise RESTError("InvalidInstanceId", f"Instances [[{instance_id}]] not in a valid state for account {self.current_account}")
    text = "\n".join((self._get_param("Parameters") or {}).get("commands", []))
    with LOCK:
        outcome = next((o for o in OUTCOMES.get((self.current_account, self.region), []) if o["contains"] in text), None)
    result = _original_send_command(self)
    command_id = result.result["Command"]["CommandId"]
    with LOCK:
        SENT[command_id] = {"at": time.time(), "outcome": outcome or {}}
    return result


def get_command_invocation(self: Any) -> ActionResult:
    from moto.core.exceptions import JsonRESTError as RESTError

    command_id = self._get_param("CommandId")
    with LOCK:
        sent = SENT.get(command_id)
    if sent is not None and time.time() - sent["at"] < INVOCATION_DELAY:
        raise RESTError("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation")
    result = _original_get_command_invocation(self)
    if sent is None:
        return result
    outcome = sent["outcome"]
    reply = dict(result.result)
    if time.time() - sent["at"] < INVOCATION_DELAY + float(outcome.get("seconds", 0)):
        reply.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1, StandardOutputContent="", StandardErrorContent="")
        return ActionResult(reply)
    code = int(outcome.get("exit_code", 0))
    status = "Success" if code == 0 else "Failed"
    reply.update(
        Status=status,
        StatusDetails=status,
        ResponseCode=code,
        StandardOutputContent=str(outcome.get("stdout", ""))[:OUTPUT_LIMIT],
        StandardErrorContent=str(outcome.get("stderr", ""))[:OUTPUT_LIMIT],
    )
    return ActionResult(reply)


_original_run_instances: Any = None


def run_instances(self: Any) -> ActionResult:
    from moto.ec2.exceptions import InvalidAMIIdError, UnvailableAMIIdError

    backend = self.ec2_backend
    image_id = self._get_param("ImageId")
    template_arg = self._get_param("LaunchTemplate", {}) or {}
    template_data: dict[str, Any] = {}
    if template_arg:
        template_data = backend._get_template_from_args(template_arg).data
        image_id = image_id or template_data.get("ImageId")
    if image_id:
        ami = sharing.original(backend, image_id)
        if ami is None:
            raise InvalidAMIIdError(image_id)
        _settle(ami)
        if ami.state != "available":
            raise UnvailableAMIIdError(image_id)
    if self._get_param("IamInstanceProfile") or template_data.get("IamInstanceProfile"):
        _authorize(self.region, "iam:PassRole")
    if self._get_param("TagSpecifications"):
        _authorize(self.region, "ec2:CreateTags")
    return _original_run_instances(self)


_original_register: Any = None
_original_health_for: Any = None


def _register(self: Any, targets: list[dict[str, Any]]) -> None:
    _original_register(self, targets)
    stamps = self.__dict__.setdefault("_local_aws_registered", {})
    for t in targets:
        stamps[t["Id"]] = time.time()


def _health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
    from moto.elbv2.models import FakeHealthStatus

    health = _original_health_for(self, target, ec2_backend)
    if health.status != "healthy":
        return health
    if not self.load_balancer_arns:
        return FakeHealthStatus(health.instance_id, health.port, health.health_check_port, "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
    registered = self.__dict__.get("_local_aws_registered", {}).get(target["Id"])
    if registered is not None and time.time() - registered < TARGET_SECONDS:
        return FakeHealthStatus(health.instance_id, health.port, health.health_check_port, "initial", "Elb.RegistrationInProgress", "Target registration is in progress")
    instance = ec2_backend.get_instance_by_id(target["Id"]) if target["Id"].startswith("i-") else None
    if instance is not None:
        key = (ec2_backend.account_id, ec2_backend.region_name)
        with LOCK:
            bad = instance.image_id in IMPAIRED.get(key, set()) | UNHEALTHY.get(key, set())
        if bad:
            return FakeHealthStatus(health.instance_id, health.port, health.health_check_port, "unhealthy", "Target.FailedHealthChecks", "Health checks failed")
    return health


def install() -> None:
    global _original_send_command, _original_get_command_invocation, _original_register, _original_health_for, _original_run_instances
    from moto.ec2.responses.instances import InstanceResponse

    _original_run_instances = InstanceResponse.run_instances
    InstanceResponse.run_instances = run_instances
    from moto.elbv2.models import FakeTargetGroup

    _original_register = FakeTargetGroup.register
    _original_health_for = FakeTargetGroup.health_for
    FakeTargetGroup.register = _register
    FakeTargetGroup.health_for = _health_for
    from moto.ec2.models import instances as ec2_instances
    from moto.ssm.responses import SimpleSystemManagerResponse

    ec2_instances.Instance.instance_status = property(lambda self: _status(self, impaired_counts=True))
    ec2_instances.Instance.system_status = property(lambda self: _status(self, impaired_counts=False))
    SimpleSystemManagerResponse.describe_instance_information = describe_instance_information
    _original_send_command = SimpleSystemManagerResponse.send_command
    _original_get_command_invocation = SimpleSystemManagerResponse.get_command_invocation
    SimpleSystemManagerResponse.send_command = send_command
    SimpleSystemManagerResponse.get_command_invocation = get_command_invocation
