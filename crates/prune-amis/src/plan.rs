//! The rules: which AMIs of the branch a run retires, and why every other one stays.
//!
//! In order, an AMI is kept when it is among the newest MAX (the floor: never retired, however
//! old; an AMI still pending, or one verify-ami failed, does not count among them); has deregistration protection; something still needs it (an instance, a template, a
//! group, an SSM parameter); is younger than `--older-than`; was launched within
//! `--unused-for`; or is shared or public (unless `--include-shared`). Every other AMI is
//! retired, as `--retire` says; one already in that state is left alone and said so.

use std::time::{Duration, SystemTime};

use aws_sdk_ec2::types::ImageState;
use clap::ValueEnum;
use common::images::ami::parse_time;
use common::images::keep::{self, Keep};
use common::images::verdict::Verdict;
use common::{Ami, Uses};
use serde::Serialize;

/// What happens to the AMIs the rules select.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Retire {
    /// Deregister it with its snapshots.
    #[default]
    Delete,
    /// Disable it: it can no longer launch, and EnableImage brings it back in seconds.
    Disable,
    /// Set its deprecation time to now: it still launches by ID, but is marked retired.
    Deprecate,
}

impl Retire {
    pub fn verb(self) -> &'static str {
        match self {
            Retire::Delete => "delete",
            Retire::Disable => "disable",
            Retire::Deprecate => "deprecate",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Keep,
    Delete,
    Disable,
    Deprecate,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Delete => "delete",
            Action::Disable => "disable",
            Action::Deprecate => "deprecate",
        }
    }
}

/// One AMI in the plan: what happens to it and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Decision {
    #[serde(flatten)]
    pub ami: Ami,
    pub action: Action,
    pub reason: String,
}

/// The run's rules, from its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max: u32,
    pub older_than: Option<Duration>,
    pub unused_for: Option<Duration>,
    pub retire: Retire,
    pub include_shared: bool,
}

/// A sharing reason as the plan gives it, with the flag that overrides it.
pub fn shared_reason(keep: &Keep) -> String {
    format!("{keep} (--include-shared retires it)")
}

/// "30d", "12h 5m": a duration in the units the flags take (days at most: humantime would
/// say "1month 19days 13h 26m 24s" for 50d).
pub fn human(d: Duration) -> String {
    let mut secs = d.as_secs();
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Decides, oldest first, what becomes of each AMI (`amis` oldest first) at `now`.
///
/// An AMI still `pending` (being made, or copied to this Region) is kept and does not count
/// toward the newest MAX: it cannot launch yet, and counting it would retire the last one that
/// can, the one a deploy falls back to while the new one is not ready.
pub fn plan(amis: Vec<Ami>, rules: &Rules, uses: &Uses, now: SystemTime) -> Vec<Decision> {
    let max = rules.max;
    let mut newest = vec![false; amis.len()];
    // Nor does one that verify-ami failed: a run of bad builds must not push the last good
    // images out.
    let ready = amis.iter().enumerate().rev().filter(|(_, a)| a.state != ImageState::Pending && !Verdict::of(a).failed());
    for (i, _) in ready.take(max as usize) {
        newest[i] = true;
    }
    amis.into_iter()
        .enumerate()
        .map(|(i, ami)| {
            let (action, reason) = match keep_reason(newest[i], &ami, rules, uses, now) {
                Some(reason) => (Action::Keep, reason),
                None => retire(&ami, rules, now, max),
            };
            Decision { ami, action, reason }
        })
        .collect()
}

fn keep_reason(newest: bool, ami: &Ami, rules: &Rules, uses: &Uses, now: SystemTime) -> Option<String> {
    if ami.state == ImageState::Pending {
        return Some("pending: still being made, not counted among the newest".into());
    }
    if newest {
        return Some(format!("among the newest {}", rules.max));
    }
    // Protection and uses first, as delete-ami refuses (common::images::keep); the age rules, then sharing.
    if let Some(keep) = keep::guarded(ami, uses, false) {
        return Some(keep.to_string());
    }
    if let Some(min_age) = rules.older_than {
        match ami.created() {
            None => return Some(format!("its creation date {:?} does not read, so its age is unknown", ami.creation_date)),
            Some(created) if now.duration_since(created).unwrap_or_default() < min_age => {
                return Some(format!("younger than {} (created {})", human(min_age), ami.creation_date));
            }
            Some(_) => {}
        }
    }
    if let (Some(window), Some(last)) = (rules.unused_for, ami.last_launched_time.as_deref()) {
        // A time that does not read is taken as a recent launch: keeping is the safe side.
        if parse_time(last).is_none_or(|t| now.duration_since(t).unwrap_or_default() < window) {
            return Some(format!("launched within the last {} (last launch {last})", human(window)));
        }
    }
    if rules.include_shared {
        return None;
    }
    keep::shared(ami, uses).map(|keep| shared_reason(&keep))
}

/// What retiring this AMI means: the action asked for, or keep when it is already so.
fn retire(ami: &Ami, rules: &Rules, now: SystemTime, max: u32) -> (Action, String) {
    let mut why = match Verdict::of(ami) {
        Verdict::Failed { reason } => format!("its verification failed ({reason}), so it does not count among the newest {max}"),
        _ => format!("older than the newest {max}"),
    };
    if let Some(age) = rules.older_than {
        why.push_str(&format!(" and than {}", human(age)));
    }
    if rules.unused_for.is_some() {
        why.push_str(", not launched lately");
    }
    why.push_str(", and not in use");
    match rules.retire {
        Retire::Delete => (Action::Delete, why),
        Retire::Disable if ami.state == ImageState::Disabled => (Action::Keep, "already disabled".into()),
        Retire::Disable => (Action::Disable, why),
        Retire::Deprecate if ami.is_deprecated_at(now) => {
            (Action::Keep, format!("already deprecated (since {})", ami.deprecation_time.as_deref().unwrap_or("?")))
        }
        Retire::Deprecate => (Action::Deprecate, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    /// 2024-03-01T00:00:00Z.
    const NOW: u64 = 1_709_251_200;

    fn at(secs_before_now: u64) -> String {
        let t = aws_smithy_types::DateTime::from_secs((NOW - secs_before_now) as i64);
        t.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap()
    }

    /// Four AMIs made 40, 30, 20 and 10 days before now, oldest first.
    fn amis() -> Vec<Ami> {
        [40, 30, 20, 10]
            .iter()
            .enumerate()
            .map(|(i, days)| Ami {
                image_id: format!("ami-{i:08x}"),
                name: None,
                creation_date: at(days * DAY),
                state: ImageState::Available,
                snapshots: common::images::ami::Snapshots(vec![common::images::ami::Snapshot { id: format!("snap-{i:08x}"), size_gib: 8 }]),
                ..Ami::default()
            })
            .collect()
    }

    fn rules(max: u32) -> Rules {
        Rules { max, older_than: None, unused_for: None, retire: Retire::Delete, include_shared: false }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    use Action::{Delete as D, Deprecate as Dp, Disable as Ds, Keep as K};

    fn actions(p: &[Decision]) -> Vec<Action> {
        p.iter().map(|d| d.action).collect()
    }

    /// A case: (name, rules, what to do to the AMIs first, expected actions, the reason
    /// expected for the AMI at index 1, if one is named).
    type Setup = fn(&mut [Ami], &mut Uses);
    type Case = (&'static str, Rules, Setup, [Action; 4], Option<&'static str>);
    const NONE: Setup = |_, _| {};

    fn check(cases: Vec<Case>) {
        for (name, rules, setup, expected, reason) in cases {
            let mut list = amis();
            let mut uses = Uses::default();
            setup(&mut list, &mut uses);
            let p = plan(list, &rules, &uses, now());
            assert_eq!(actions(&p), expected, "{name}");
            if let Some(reason) = reason {
                assert!(p[1].reason.starts_with(reason), "{name}: {:?}", p[1].reason);
            }
        }
    }

    /// What keeps an AMI, as a table.
    #[test]
    fn the_keep_rules_as_a_table() {
        let none = NONE;
        let days = |n: u64| Some(Duration::from_secs(n * DAY));
        check(vec![
            ("count: the newest MAX stay", rules(1), none, [D, D, D, K], None),
            (
                "count: MAX is a floor, however old",
                Rules { older_than: days(1), ..rules(3) },
                none,
                [D, K, K, K],
                Some("among the newest 3"),
            ),
            ("age: younger than 25d stays", Rules { older_than: days(25), ..rules(1) }, none, [D, D, K, K], None),
            (
                "age: older than 25d goes",
                Rules { older_than: days(25), ..rules(1) },
                none,
                [D, D, K, K],
                Some("older than the newest 1 and than 25d"),
            ),
            ("age: 50d spares them all", Rules { older_than: days(50), ..rules(1) }, none, [K, K, K, K], Some("younger than 50d")),
            (
                "last launch: launched 2 days ago stays",
                Rules { unused_for: days(7), ..rules(1) },
                |a, _| a[1].last_launched_time = Some(at(2 * DAY)),
                [D, K, D, K],
                Some("launched within the last 7d"),
            ),
            (
                "last launch: launched 9 days ago goes",
                Rules { unused_for: days(7), ..rules(1) },
                |a, _| a[1].last_launched_time = Some(at(9 * DAY)),
                [D, D, D, K],
                None,
            ),
            ("last launch: never launched goes", Rules { unused_for: days(7), ..rules(1) }, none, [D, D, D, K], None),
            (
                "in use stays",
                rules(1),
                |_, u| u.in_use.add("ami-00000001", "instance i-1 (running) runs it"),
                [D, K, D, K],
                Some("in use: instance i-1 (running) runs it"),
            ),
            (
                "protected stays",
                rules(1),
                |a, _| a[1].deregistration_protection = Some("enabled-with-cooldown".into()),
                [D, K, D, K],
                Some("protected: deregistration protection is enabled-with-cooldown"),
            ),
            ("public stays", rules(1), |a, _| a[1].public = true, [D, K, D, K], Some("shared: public (--include-shared retires it)")),
            (
                "shared goes with --include-shared",
                Rules { include_shared: true, ..rules(1) },
                |a, _| a[1].public = true,
                [D, D, D, K],
                None,
            ),
        ]);
    }

    /// How the AMIs go (--retire), and the states that keep them, as a table.
    #[test]
    fn the_retire_modes_as_a_table() {
        let none = NONE;
        check(vec![
            ("disable", Rules { retire: Retire::Disable, ..rules(1) }, none, [Ds, Ds, Ds, K], None),
            (
                "disable: already disabled is left",
                Rules { retire: Retire::Disable, ..rules(1) },
                |a, _| a[1].state = ImageState::Disabled,
                [Ds, K, Ds, K],
                Some("already disabled"),
            ),
            ("deprecate", Rules { retire: Retire::Deprecate, ..rules(1) }, none, [Dp, Dp, Dp, K], None),
            (
                "deprecate: already deprecated is left",
                Rules { retire: Retire::Deprecate, ..rules(1) },
                |a, _| a[1].deprecation_time = Some(at(DAY)),
                [Dp, K, Dp, K],
                Some("already deprecated"),
            ),
            (
                "deprecate: deprecation set for later is brought forward",
                Rules { retire: Retire::Deprecate, ..rules(1) },
                |a, _| a[1].deprecation_time = Some(at(0).replace("2024", "2030")),
                [Dp, Dp, Dp, K],
                None,
            ),
            ("a disabled AMI is deleted like any other", rules(1), |a, _| a[0].state = ImageState::Disabled, [D, D, D, K], None),
            ("pending: kept, and the newest ready one with it", rules(1), |a, _| a[3].state = ImageState::Pending, [D, D, K, K], None),
            (
                "pending: an older pending one is kept too",
                rules(1),
                |a, _| a[1].state = ImageState::Pending,
                [D, K, D, K],
                Some("pending: still being made"),
            ),
        ]);
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human(Duration::from_secs(50 * DAY)), "50d");
        assert_eq!(human(Duration::from_secs(DAY + 7200 + 5)), "1d 2h 5s");
        assert_eq!(human(Duration::from_secs(90 * 60)), "1h 30m");
    }

    #[test]
    fn an_unreadable_date_keeps_the_ami() {
        let mut list = amis();
        list[0].creation_date = "yesterday".into();
        list[1].last_launched_time = Some("recently".into());
        let p = plan(
            list,
            &Rules { older_than: Some(Duration::from_secs(DAY)), unused_for: Some(Duration::from_secs(DAY)), ..rules(1) },
            &Uses::default(),
            now(),
        );
        assert_eq!(actions(&p), [K, K, D, K]);
        assert!(p[0].reason.contains("does not read"), "{}", p[0].reason);
    }

    #[test]
    fn failed_amis_do_not_count_among_the_newest() {
        // The two newest failed verification: the two before them stay the newest 2, and the
        // failed ones are retired by the usual rules (unless something uses them).
        let mut list = amis();
        for ami in &mut list[2..] {
            ami.tags.insert(common::images::verdict::TAG.into(), "failed".into());
            ami.tags.insert(common::images::verdict::REASON_TAG.into(), "impaired".into());
        }
        let p = plan(list.clone(), &rules(2), &Uses::default(), now());
        assert_eq!(actions(&p), [K, K, D, D]);
        assert_eq!(p[0].reason, "among the newest 2");
        assert!(p[3].reason.starts_with("its verification failed (impaired), so it does not count among the newest 2"), "{}", p[3].reason);
        let mut uses = Uses::default();
        uses.in_use.add(&list[3].image_id, "instance i-1 (running) runs it");
        assert_eq!(actions(&plan(list, &rules(2), &uses, now())), [K, K, D, K], "one in use is still kept");
    }
}
