"""CloudWatch alarms as an instance refresh watches them (moto's CloudWatch keeps the alarms).

As the Auto Scaling user guide describes an instance refresh with an alarm specification: the
refresh watches up to 10 CloudWatch alarms of its Region and account, through its replacements,
its checkpoint pauses and its bake time (``BakeTime``, status ``Baking``); when one of them is in
``ALARM`` the refresh fails, and with ``AutoRollback`` it is rolled back, the group going back
to the configuration it had. StartInstanceRefresh refuses (ValidationError) an alarm that does
not exist, or more than 10. AWS does not document its status reason's words; ours names the
alarm and its state reason.

A new alarm starts in ``INSUFFICIENT_DATA``, as on AWS (moto starts it ``OK``); tests set states
with SetAlarmState.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.exceptions import ValidationError

MAX_ALARMS = 10


def _alarms(account: str, region: str) -> dict[str, Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account][region].alarms


def named(preferences: dict[str, Any]) -> list[str]:
    """The alarms a refresh's preferences name (AlarmSpecification.Alarms)."""
    spec = preferences.get("AlarmSpecification") or {}
    return [str(a) for a in spec.get("Alarms") or []]


def check(account: str, region: str, names: list[str]) -> None:
    """StartInstanceRefresh's check: at most 10, each an alarm of this Region and account."""
    if len(names) > MAX_ALARMS:
        raise ValidationError(f"The alarm specification can have at most {MAX_ALARMS} alarms; it has {len(names)}.")
    known = _alarms(account, region)
    for name in names:
        if name not in known:
            raise ValidationError(f"The CloudWatch alarm {name} does not exist.")


def firing(account: str, region: str, names: list[str]) -> str | None:
    """Why the refresh fails now: the first of its alarms in ALARM, with its state reason."""
    known = _alarms(account, region)
    for name in names:
        alarm = known.get(name)
        if alarm is not None and alarm.state_value == "ALARM":
            return f"CloudWatch alarm {name} is in ALARM state: {alarm.state_reason}"
    return None


def install() -> None:
    from moto.cloudwatch.models import Alarm

    original = Alarm.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.state_value = "INSUFFICIENT_DATA"
        self.state_reason = "Unchecked: Initial alarm creation"

    Alarm.__init__ = init
