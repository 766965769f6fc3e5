"""Auto Scaling instance refreshes, run for real over time: Start, Describe (newest first,
paged), Cancel, Rollback; batches sized by MinHealthyPercentage (and MaxHealthyPercentage
above 100 launching first), warm-up, checkpoints, SkipMatching, AutoRollback; and
DescribeScalingActivities. One step of the engine (LOCAL_AWS_REFRESH_STEP seconds) stands for
a minute of AWS's time. See the package's docstring for the details."""

from __future__ import annotations

import datetime
import math
import os
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from . import alarms
from .core import paged, _now, LOCK

# One step of the engine: a minute of AWS's time.
STEP_SECONDS = float(os.environ.get("LOCAL_AWS_REFRESH_STEP", "0.3"))



# ---------------------------------------------------------------------------------------------
# Instance refresh.


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"
    message = "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"

    def __init__(self, group: str):
        super().__init__(f"No in progress or pending Instance Refresh found for Auto Scaling group {group}")


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"


TERMINAL = {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}

# Faults a test asked for, by (account, region, group): applied to the group's next refresh.
FAULTS: dict[tuple[str, str, str], dict[str, Any]] = {}
# Activities we record, by (account, region, group), newest last.
ACTIVITIES: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)



def _resolve(lt: Any, version: str) -> int:
    return lt.get_version(version).number


class Refresh:
    """One instance refresh and the thread that carries it out."""

    def __init__(self, backend: Any, group: Any, params: dict[str, Any]):
        self.backend = backend
        self.group = group
        self.key = (backend.account_id, backend.region_name, group.name)
        self.id = str(uuid.uuid4())
        self.strategy = params.get("Strategy") or "Rolling"
        prefs = dict(params.get("Preferences") or {})
        prefs.setdefault("MinHealthyPercentage", 90)
        prefs.setdefault("SkipMatching", False)
        prefs.setdefault("AutoRollback", False)
        prefs.setdefault("ScaleInProtectedInstances", "Wait")
        prefs.setdefault("StandbyInstances", "Wait")
        self.preferences = prefs
        self.desired = params.get("DesiredConfiguration") or None
        self.status = "Pending"
        self.status_reason: str | None = None
        self.start_time = _now()
        self.end_time: datetime.datetime | None = None
        self.percentage = 0
        self.rollback_details: dict[str, Any] | None = None
        self.cancel_requested = False
        self.rollback_requested: str | None = None
        self.fault = FAULTS.pop(self.key, None)

        if group.ec2_launch_template is None:
            raise ValidationError(f"The group {group.name} does not use a launch template.")
        # What the group runs now: where a rollback goes back to.
        self.old_lt = group.ec2_launch_template
        self.old_version = str(group.launch_template_version)
        self.old_provided = group.provided_launch_template_version
        # What the refresh launches.
        self.new_lt, self.new_version = self.old_lt, self.old_version
        spec = (self.desired or {}).get("LaunchTemplate") or (
            ((self.desired or {}).get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
        ).get("LaunchTemplateSpecification")
        if spec:
            ec2 = group.ec2_backend
            if spec.get("LaunchTemplateId"):
                self.new_lt = ec2.get_launch_template(spec["LaunchTemplateId"])
            elif spec.get("LaunchTemplateName"):
                self.new_lt = ec2.get_launch_template_by_name(spec["LaunchTemplateName"])
            self.new_version = str(spec.get("Version") or "$Default")
        if prefs.get("AutoRollback"):
            # AWS rolls back only to and from numbered launch template versions.
            if not spec:
                raise ValidationError("Auto rollback requires a desired configuration to be specified.")
            if not str(self.new_version).isdigit():
                raise ValidationError(
                    "You can't enable auto rollback when the desired configuration specifies "
                    "$Latest or $Default as the launch template version. Specify a version number."
                )
            if not str(self.old_version).isdigit():
                raise ValidationError(
                    f"You can't enable auto rollback because the Auto Scaling group {group.name} uses "
                    "the $Latest or $Default launch template version. Specify a version number."
                )
        self.alarms = alarms.named(prefs)
        alarms.check(backend.account_id, backend.region_name, self.alarms)
        self.bake_steps = math.ceil(int(prefs.get("BakeTime") or 0) / 60)
        self.new_number = _resolve(self.new_lt, self.new_version)
        self.old_number = _resolve(self.old_lt, self.old_version)
        self.replaced: list[str] = []  # new instance ids this refresh launched
        self.to_replace = [s.instance.id for s in group.instance_states if not self._matches(s.instance)]
        self.total = len(self.to_replace)
        # AWS replaces as many instances at once as may be out of service while the group
        # keeps MinHealthyPercentage of its desired capacity healthy; at least one.
        min_healthy = int(prefs["MinHealthyPercentage"])
        self.batch = max(1, group.desired_capacity * (100 - min_healthy) // 100)
        # With MaxHealthyPercentage above 100, AWS launches up to that much of the desired
        # capacity (at least one instance more) before it terminates as many old instances:
        # capacity never drops.
        max_healthy = int(prefs.get("MaxHealthyPercentage") or 100)
        self.launch_first = max_healthy > 100
        if self.launch_first:
            self.batch = max(1, group.desired_capacity * (max_healthy - 100) // 100)
        # Time: a step stands for a minute of AWS's time. Each batch warms up for
        # InstanceWarmup (at least a step); at each checkpoint below 100% the refresh stays
        # InProgress for CheckpointDelay (AWS's default: an hour), batches cut short to land
        # on it.
        self.warmup_steps = max(1, math.ceil(int(prefs.get("InstanceWarmup") or 0) / 60))
        self.checkpoints = sorted(int(p) for p in prefs.get("CheckpointPercentages") or [])
        self.checkpoint_steps = math.ceil(int(prefs.get("CheckpointDelay") or 3600) / 60)
        self.thread = threading.Thread(target=self._run, name=f"refresh-{self.id}", daemon=True)

    # -- matching and replacing --------------------------------------------------------------

    def _matches(self, instance: Any) -> bool:
        if not self.preferences.get("SkipMatching"):
            return False
        launched = getattr(instance, "_local_aws_launched_from", None)
        if launched is not None:
            return launched == (self.new_lt.id, self.new_number)
        version = self.new_lt.get_version(self.new_number)
        return instance.image_id == version.image_id

    def _launch(self, lt: Any, number: int) -> str:
        group = self.group
        saved = (group.ec2_launch_template, group.launch_template_version)
        before = {s.instance.id for s in group.instance_states}
        group.ec2_launch_template, group.launch_template_version = lt, str(number)
        try:
            group.replace_autoscaling_group_instances(1, group.get_propagated_tags())
        finally:
            group.ec2_launch_template, group.launch_template_version = saved
        new = [s.instance for s in group.instance_states if s.instance.id not in before]
        new[0]._local_aws_launched_from = (lt.id, number)
        self._activity(
            f"Launching a new EC2 instance: {new[0].id}",
            f"At {_now():%Y-%m-%dT%H:%M:%SZ} an instance was launched in response to instance refresh {self.id}.",
        )
        return new[0].id

    def _terminate(self, instance_id: str) -> None:
        group = self.group
        state = next((s for s in group.instance_states if s.instance.id == instance_id), None)
        if state is None:
            return
        group.ec2_backend.terminate_instances([instance_id])
        group.instance_states.remove(state)
        self._activity(
            f"Terminating EC2 instance: {instance_id}",
            f"At {_now():%Y-%m-%dT%H:%M:%SZ} an instance was taken out of service in response to instance refresh {self.id}.",
        )

    def _activity(self, description: str, cause: str, status: str = "Successful", message: str | None = None) -> None:
        entry = {
            "ActivityId": str(uuid.uuid4()),
            "AutoScalingGroupName": self.group.name,
            "Description": description,
            "Cause": cause,
            "StartTime": _now(),
            "EndTime": _now(),
            "StatusCode": status,
            "Progress": 100,
        }
        if message:
            entry["StatusMessage"] = message
        ACTIVITIES[self.key].append(entry)

    # -- the state machine --------------------------------------------------------------------

    def _finish(self, status: str, reason: str | None = None) -> None:
        self.status = status
        if reason is not None:
            self.status_reason = reason
        self.end_time = _now()

    def _roll_back(self, reason: str) -> None:
        self.status = "RollbackInProgress"
        self.status_reason = reason
        self.rollback_details = {
            "RollbackReason": reason,
            "RollbackStartTime": _now(),
            "PercentageCompleteOnRollback": self.percentage,
            "InstancesToUpdateOnRollback": len(self.replaced),
        }
        pending = list(self.replaced)
        time.sleep(STEP_SECONDS)
        for first in range(0, len(pending), self.batch):
            with LOCK:
                for instance_id in pending[first : first + self.batch]:
                    self._launch(self.old_lt, self.old_number)
                    self._terminate(instance_id)
            time.sleep(STEP_SECONDS)
        with LOCK:
            # The group keeps (or gets back) the configuration it had.
            self.group.ec2_launch_template = self.old_lt
            self.group.launch_template_version = self.old_version
            self.group.provided_launch_template_version = self.old_provided
            self._finish("RollbackSuccessful")

    def _fail(self, reason: str) -> None:
        self._activity("Instance refresh failed", reason, status="Failed", message=reason)
        if self.preferences.get("AutoRollback"):
            self._roll_back(reason)
        else:
            self._finish("Failed", reason)

    def _run(self) -> None:
        try:
            self._steps()
        except Exception as exc:  # noqa: BLE001 - a bug here must show as a failed refresh
            with LOCK:
                self._finish("Failed", f"local AWS error: {exc!r}")

    def _wait(self, steps: int) -> str | None:
        """Waits `steps` steps, or less if the refresh is cancelled or rolled back meanwhile, or
        one of its alarms goes into ALARM: then why."""
        for _ in range(steps):
            time.sleep(STEP_SECONDS)
            if self.cancel_requested or self.rollback_requested is not None:
                return None
            with LOCK:
                why = alarms.firing(self.backend.account_id, self.backend.region_name, self.alarms)
            if why:
                return why
        return None

    def _steps(self) -> None:
        time.sleep(STEP_SECONDS)
        with LOCK:
            if self.cancel_requested:
                self._finish("Cancelled", "Instance refresh was cancelled.")
                return
            self.status = "InProgress"
        fault = self.fault or {}
        failure: str | None = None
        done = 0
        wait = 1
        # A batch after each wait, and one more turn after the last, so that a fault "after
        # all of them" fires.
        while True:
            alarm = self._wait(wait)
            with LOCK:
                if alarm is not None:
                    failure = alarm
                    break
                if fault.get("cancel_after") is not None and done >= fault["cancel_after"]:
                    self.cancel_requested = True
                    self.status = "Cancelling"
                if self.cancel_requested or self.rollback_requested is not None:
                    break
                if fault.get("fail_after") is not None and done >= fault["fail_after"]:
                    failure = fault.get("reason") or "Instances failed to pass health checks during the refresh."
                    break
                if done == self.total:
                    break
                # A fault "after N" stops the batch at N, and a checkpoint at its count.
                marks = [math.ceil(self.total * c / 100) for c in self.checkpoints if c < 100]
                limit = min(x for x in (fault.get("fail_after"), fault.get("cancel_after"), self.total, *marks) if x is not None and x > done)
                batch = self.to_replace[done : min(done + self.batch, limit)]
                # With MaxHealthyPercentage above 100 the new instances come first and the old
                # go once they are in service; without, the old go first (capacity dips).
                if self.launch_first:
                    self.replaced.extend(self._launch(self.new_lt, self.new_number) for _ in batch)
                else:
                    for instance_id in batch:
                        self._terminate(instance_id)
            # Between the two halves of a batch (the new instances starting, or the old ones
            # draining), as on AWS: a describe now sees the group above or below its capacity.
            time.sleep(STEP_SECONDS)
            with LOCK:
                if self.launch_first:
                    for instance_id in batch:
                        self._terminate(instance_id)
                else:
                    self.replaced.extend(self._launch(self.new_lt, self.new_number) for _ in batch)
                done += len(batch)
                self.percentage = int(100 * done / self.total)
                paused = done in marks and done < self.total
                wait = self.warmup_steps + (self.checkpoint_steps if paused else 0)
                # At a checkpoint the refresh holds, InProgress; the status reason says so (AWS's
                # own words are not documented).
                self.status_reason = (
                    f"Waiting at a checkpoint: {self.percentage}% of the instances replaced; continuing in "
                    f"{int(self.preferences.get('CheckpointDelay') or 3600)} seconds"
                    if paused
                    else None
                )
        if self.cancel_requested:
            time.sleep(STEP_SECONDS)
            with LOCK:
                self._finish("Cancelled", "Instance refresh was cancelled.")
        elif self.rollback_requested is not None:
            self._roll_back(self.rollback_requested)
        elif failure is not None:
            self._fail(failure)
        else:
            if self.bake_steps > 0:
                with LOCK:
                    self.status = "Baking"
                # The alarms are watched through the bake time too.
                alarm = self._wait(self.bake_steps)
                if self.rollback_requested is not None:
                    self._roll_back(self.rollback_requested)
                    return
                if alarm is not None:
                    self._fail(alarm)
                    return
            with LOCK:
                if self.desired:
                    # After success, the group's own settings match the desired configuration.
                    self.group.ec2_launch_template = self.new_lt
                    self.group.launch_template_version = self.new_version
                    self.group.provided_launch_template_version = self.new_version
                self.percentage = 100
                self._finish("Successful")

    def instances_to_update(self) -> int:
        return max(self.total - len(self.replaced), 0) if self.status not in TERMINAL else 0

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "InstanceRefreshId": self.id,
            "AutoScalingGroupName": self.group.name,
            "Status": self.status,
            "StartTime": self.start_time,
            "PercentageComplete": self.percentage,
            "InstancesToUpdate": self.instances_to_update(),
            "ProgressDetails": {
                "LivePoolProgress": {
                    "PercentageComplete": self.percentage,
                    "InstancesToUpdate": self.instances_to_update(),
                }
            },
            "Preferences": self.preferences,
            "Strategy": self.strategy,
        }
        if self.status_reason:
            out["StatusReason"] = self.status_reason
        if self.end_time:
            out["EndTime"] = self.end_time
        if self.desired:
            out["DesiredConfiguration"] = self.desired
        if self.rollback_details:
            out["RollbackDetails"] = self.rollback_details
        return out


def _refreshes(backend: Any) -> dict[str, list[Refresh]]:
    return backend.__dict__.setdefault("_local_aws_refreshes", defaultdict(list))


def _group(backend: Any, name: str) -> Any:
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return group


def _active(backend: Any, name: str) -> Refresh | None:
    return next((r for r in _refreshes(backend)[name] if r.status not in TERMINAL), None)


def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, params.get("AutoScalingGroupName"))
        if _active(backend, group.name):
            raise InstanceRefreshInProgress()
        refresh = Refresh(backend, group, params)
        _refreshes(backend)[group.name].insert(0, refresh)
    refresh.thread.start()
    return ActionResult({"InstanceRefreshId": refresh.id})


def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, params.get("AutoScalingGroupName"))
        refreshes = list(_refreshes(backend)[group.name])
        ids = params.get("InstanceRefreshIds") or []
        if ids:
            refreshes = [r for r in refreshes if r.id in ids]
        return paged("InstanceRefreshes", refreshes, params.get("NextToken"), int(params.get("MaxRecords") or 50), lambda page: [r.describe() for r in page])


def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, self._get_param("AutoScalingGroupName"))
        refresh = _active(backend, group.name)
        if refresh is None or refresh.status in ("Cancelling", "RollbackInProgress"):
            raise ActiveInstanceRefreshNotFound(group.name)
        refresh.cancel_requested = True
        refresh.status = "Cancelling"
    return ActionResult({"InstanceRefreshId": refresh.id})


def rollback_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    with LOCK:
        group = _group(backend, self._get_param("AutoScalingGroupName"))
        refresh = _active(backend, group.name)
        if refresh is None:
            raise ActiveInstanceRefreshNotFound(group.name)
        if not refresh.desired:
            raise IrreversibleInstanceRefresh("The instance refresh has no desired configuration to roll back from.")
        if not str(refresh.old_version).isdigit():
            raise IrreversibleInstanceRefresh(
                f"The Auto Scaling group {group.name} uses the $Latest or $Default launch template version; it cannot be rolled back to."
            )
        refresh.rollback_requested = "Rollback requested by RollbackInstanceRefresh."
    return ActionResult({"InstanceRefreshId": refresh.id})


def describe_scaling_activities(self: AutoScalingResponse) -> ActionResult:
    params = self._get_params()
    backend = self.autoscaling_backend
    name = params.get("AutoScalingGroupName")
    with LOCK:
        keys = [k for k in ACTIVITIES if k[:2] == (backend.account_id, backend.region_name) and (not name or k[2] == name)]
        entries = sorted((a for k in keys for a in ACTIVITIES[k]), key=lambda a: a["StartTime"], reverse=True)
    return paged("Activities", entries, params.get("NextToken"), int(params.get("MaxRecords") or 100))


def install() -> None:
    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh
    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities
