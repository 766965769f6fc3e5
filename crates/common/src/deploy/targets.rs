//! A multi-Region deploy's targets file: for each Region, in the order to deploy, the launch
//! template to bump and the Auto Scaling group to refresh.
//!
//! ```json
//! [
//!   {"region": "us-east-1", "launch_template_id": "lt-0abc...", "auto_scaling_group": "web"},
//!   {"region": "eu-west-1", "launch_template_id": "lt-0def...", "auto_scaling_group": "web"},
//!   {"region": "us-east-1", "launch_template_id": "lt-0123...", "auto_scaling_group": "web",
//!    "role_arn": "arn:aws:iam::222233334444:role/deploy", "external_id": "build-account"}
//! ]
//! ```
//!
//! A target with `role_arn` is in that role's account (reached through the role, with
//! `external_id` if its trust policy asks for one); one without, in the caller's.
//!
//! `wave` (a whole number from 1) puts a target in a wave of `deploy-tools deploy`: waves go in
//! ascending order, a wave's targets at the same time. Every target has one, or none has (then
//! each target is a wave of its own, in the file's order). `alarms` names the target's
//! CloudWatch alarms (in its account and Region, at most 10), which its refresh and the bake
//! time between waves watch.
//!
//! Everything is checked before a deploy starts: the file must parse, name one target or more,
//! no unknown field (a misspelt key would otherwise be silently ignored), well-formed Region
//! names and template IDs, a group name, well-formed role ARNs and external IDs, and no Region
//! twice in one account (a second entry would deploy it twice).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::aws::error::Usage;
use crate::aws::ids::{ExternalId, GroupName, LaunchTemplateId, Region, RoleArn};
use crate::deploy::regions::RegionList;

/// One target as the file spells it, before it is checked into a [`Target`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    region: String,
    launch_template_id: String,
    auto_scaling_group: String,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    /// Any JSON, so that a wave of "2" or 1.5 is named as such rather than as a parse error.
    #[serde(default)]
    wave: Option<serde_json::Value>,
    #[serde(default)]
    alarms: Vec<String>,
}

/// AWS's limit on the alarms one instance refresh watches (AlarmSpecification).
pub const MAX_ALARMS: usize = 10;

/// An alarm name as CloudWatch and Auto Scaling take it: 1 to 255 printable characters.
pub fn check_alarm_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        Err(format!("alarm name {name:?} is not 1 to 255 printable characters"))
    } else {
        Ok(())
    }
}

/// One Region's deploy target, checked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Target {
    pub region: Region,
    pub launch_template_id: LaunchTemplateId,
    pub auto_scaling_group: GroupName,
    /// The role to act through in the target's account; none: the caller's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<RoleArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<ExternalId>,
    /// Its wave (1 or more), if the file gives waves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// Its own CloudWatch alarms, in its account and Region.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

impl Target {
    /// The account the target is in: its role's, or "" for the caller's.
    pub fn account(&self) -> String {
        self.role_arn.as_ref().map(|r| r.account().to_owned()).unwrap_or_default()
    }

    /// Its Region, and its account if it has a role: "us-east-1", "us-east-1 (account 2222...)".
    pub fn place(&self) -> String {
        match &self.role_arn {
            Some(role) => format!("{} (account {})", self.region, role.account()),
            None => self.region.to_string(),
        }
    }

    /// How messages name it: "target 2 (us-east-1)", "target 3 (us-east-1, account 2222...)".
    pub fn describe(&self, n: usize) -> String {
        match &self.role_arn {
            Some(role) => format!("target {n} ({}, account {})", self.region, role.account()),
            None => format!("target {n} ({})", self.region),
        }
    }

    /// Checks entry `n` of the file.
    fn check(n: usize, e: Entry) -> Result<Target, String> {
        let region: Region = e.region.parse().map_err(|e| format!("target {n}: {e}"))?;
        let at = |why: String| format!("target {n} ({region}): {why}");
        let launch_template_id = e.launch_template_id.parse().map_err(|why| at(format!("{why}, got {:?}", e.launch_template_id)))?;
        let auto_scaling_group = e.auto_scaling_group.parse().map_err(at)?;
        let role_arn = match &e.role_arn {
            Some(role) => Some(role.parse::<RoleArn>().map_err(|why| at(format!("{why}, got {role:?}")))?),
            None => None,
        };
        let external_id = match &e.external_id {
            Some(_) if role_arn.is_none() => return Err(at("external_id needs a role_arn".into())),
            Some(id) => Some(id.parse::<ExternalId>().map_err(at)?),
            None => None,
        };
        let wave = match &e.wave {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=u64::from(u32::MAX)).contains(&n) => u32::try_from(n).ok(),
                _ => return Err(at(format!("wave must be a whole number from 1, got {v}"))),
            },
        };
        for name in &e.alarms {
            check_alarm_name(name).map_err(at)?;
        }
        if e.alarms.len() > MAX_ALARMS {
            return Err(at(format!("{} alarms: a refresh watches at most {MAX_ALARMS}", e.alarms.len())));
        }
        Ok(Target { region, launch_template_id, auto_scaling_group, role_arn, external_id, wave, alarms: e.alarms })
    }
}

/// The targets, in the file's order.
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    pub targets: Vec<Target>,
}

impl Targets {
    /// Parses and checks a targets file's text; `name` is how errors call the file.
    pub fn parse(name: &str, text: &str) -> Result<Targets, Usage> {
        let bad = |why: String| Usage(format!("{name}: {why}"));
        let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| bad(format!("not a list of targets ({e})")))?;
        if entries.is_empty() {
            return Err(bad("names no targets".into()));
        }
        let mut targets: Vec<Target> = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let n = i + 1;
            let t = Target::check(n, entry).map_err(bad)?;
            if let Some(first) = targets.iter().position(|o| o.region == t.region && o.account() == t.account()) {
                return Err(bad(format!(
                    "Region {} is named twice (targets {} and {n}): one target per Region and account",
                    t.region,
                    first + 1
                )));
            }
            targets.push(t);
        }
        let waved = targets.iter().filter(|t| t.wave.is_some()).count();
        if waved != 0 && waved != targets.len() {
            let n = targets.iter().position(|t| t.wave.is_none()).map_or(0, |i| i + 1);
            return Err(bad(format!("target {n} has no wave, but other targets have one: give every target a wave, or none")));
        }
        Ok(Targets { targets })
    }

    /// The waves, in the order they deploy: each wave's number and its targets' indexes in the
    /// file's order. Without waves in the file, each target is a wave of its own, in order.
    pub fn waves(&self) -> Vec<(u32, Vec<usize>)> {
        let mut waves: Vec<(u32, Vec<usize>)> = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let n = t.wave.unwrap_or(u32::try_from(i + 1).unwrap_or(u32::MAX));
            match waves.iter_mut().find(|(w, _)| *w == n) {
                Some((_, members)) => members.push(i),
                None => waves.push((n, vec![i])),
            }
        }
        waves.sort_by_key(|(n, _)| *n);
        waves
    }

    /// The targets' Regions, in the file's order, each once (several accounts may share one).
    pub fn regions(&self) -> RegionList {
        let mut names: Vec<Region> = Vec::new();
        for t in &self.targets {
            if !names.contains(&t.region) {
                names.push(t.region.clone());
            }
        }
        RegionList::of(names)
    }

    /// The accounts of the targets' roles, in the file's order, each once: the accounts an AMI
    /// is shared with (Packer's `ami_users`). Targets without a role are the caller's own.
    pub fn accounts(&self) -> Vec<String> {
        let mut accounts: Vec<String> = Vec::new();
        for t in &self.targets {
            let account = t.account();
            if !account.is_empty() && !accounts.contains(&account) {
                accounts.push(account);
            }
        }
        accounts
    }

    /// Reads and checks a targets file.
    pub fn read(path: &Path) -> Result<Targets, Usage> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Usage(format!("{name}: cannot read it ({e})")))?;
        Targets::parse(&name, &text)
    }
}

/// One target a line, tab-separated: `REGION LAUNCH_TEMPLATE_ID AUTO_SCALING_GROUP`, then
/// `ROLE_ARN` and `EXTERNAL_ID` for a target in another account.
impl crate::cli::output::Report for Targets {
    fn write_text(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for t in &self.targets {
            write!(out, "{}\t{}\t{}", t.region, t.launch_template_id, t.auto_scaling_group)?;
            if let Some(role) = &t.role_arn {
                write!(out, "\t{role}")?;
                if let Some(id) = &t.external_id {
                    write!(out, "\t{id}")?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Targets, String> {
        Targets::parse("t.json", text).map_err(|e| e.0)
    }

    #[test]
    fn a_good_file_in_order() {
        let t = parse(
            r#"[{"region": "eu-west-1", "launch_template_id": "lt-0123abcd", "auto_scaling_group": "web"},
                          {"region": "us-east-1", "launch_template_id": "lt-4567", "auto_scaling_group": "web-us"}]"#,
        )
        .unwrap();
        assert_eq!(t.regions().names(), ["eu-west-1", "us-east-1"]);
        assert_eq!(t.targets[1].auto_scaling_group.as_str(), "web-us");
    }

    #[test]
    fn accounts_share_a_region() {
        let t = parse(
            r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "web"},
                {"region": "us-east-1", "launch_template_id": "lt-2", "auto_scaling_group": "web",
                 "role_arn": "arn:aws:iam::222233334444:role/deploy", "external_id": "build-account"}]"#,
        )
        .unwrap();
        assert_eq!(t.regions().names(), ["us-east-1"], "each Region once");
        assert_eq!(t.accounts(), ["222233334444"], "the caller's own is not one to share with");
        assert_eq!(t.targets[1].describe(2), "target 2 (us-east-1, account 222233334444)");
        let mut text = Vec::new();
        crate::cli::output::Report::write_text(&t, &mut text).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "us-east-1\tlt-1\tweb\nus-east-1\tlt-2\tweb\tarn:aws:iam::222233334444:role/deploy\tbuild-account\n"
        );
    }

    #[test]
    fn waves_in_ascending_order_and_without_waves_one_target_each() {
        let t = parse(
            r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "wave": 2, "alarms": ["errors"]},
                {"region": "eu-west-1", "launch_template_id": "lt-2", "auto_scaling_group": "a", "wave": 1},
                {"region": "us-west-2", "launch_template_id": "lt-3", "auto_scaling_group": "a", "wave": 2}]"#,
        )
        .unwrap();
        assert_eq!(t.waves(), [(1, vec![1]), (2, vec![0, 2])]);
        assert_eq!(t.targets[0].alarms, ["errors"]);
        let t = parse(
            r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a"},
                {"region": "eu-west-1", "launch_template_id": "lt-2", "auto_scaling_group": "a"}]"#,
        )
        .unwrap();
        assert_eq!(t.waves(), [(1, vec![0]), (2, vec![1])], "the file's order, one at a time");
    }

    #[test]
    fn every_mistake_is_named() {
        let cases = [
            ("", "not a list of targets"),
            ("{", "not a list of targets"),
            (r#"{"region": "us-east-1"}"#, "not a list of targets"),
            ("[]", "names no targets"),
            (r#"[{"region": "us-east-1", "launch_template_id": "lt-1"}]"#, "missing field `auto_scaling_group`"),
            (r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "grup": "b"}]"#, "unknown field `grup`"),
            (
                r#"[{"region": "us-east", "launch_template_id": "lt-1", "auto_scaling_group": "a"}]"#,
                "target 1: \"us-east\" is not a Region name",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-xyz", "auto_scaling_group": "a"}]"#,
                "target 1 (us-east-1): malformed launch template ID",
            ),
            (r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": ""}]"#, "group name must be"),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a"},
                    {"region": "eu-west-1", "launch_template_id": "lt-2", "auto_scaling_group": "a"},
                    {"region": "us-east-1", "launch_template_id": "lt-3", "auto_scaling_group": "b"}]"#,
                "Region us-east-1 is named twice (targets 1 and 3)",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "role_arn": "deploy"}]"#,
                "target 1 (us-east-1): malformed role ARN",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "external_id": "build"}]"#,
                "external_id needs a role_arn",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a",
                     "role_arn": "arn:aws:iam::222233334444:role/a", "external_id": "b c"}]"#,
                "malformed external ID",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "role_arn": "arn:aws:iam::222233334444:role/a"},
                    {"region": "us-east-1", "launch_template_id": "lt-2", "auto_scaling_group": "a", "role_arn": "arn:aws:iam::222233334444:role/b"}]"#,
                "one target per Region and account",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "wave": 0}]"#,
                "wave must be a whole number from 1, got 0",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "wave": "1"}]"#,
                "wave must be a whole number from 1, got \"1\"",
            ),
            (r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "wave": 1.5}]"#, "got 1.5"),
            (r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "wave": -1}]"#, "got -1"),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "alarms": ["ok", ""]}]"#,
                "alarm name \"\" is not",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "alarms": ["1","2","3","4","5","6","7","8","9","10","11"]}]"#,
                "11 alarms: a refresh watches at most 10",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "alarms": "errors"}]"#,
                "not a list of targets",
            ),
            (
                r#"[{"region": "us-east-1", "launch_template_id": "lt-1", "auto_scaling_group": "a", "wave": 1},
                    {"region": "eu-west-1", "launch_template_id": "lt-2", "auto_scaling_group": "a"}]"#,
                "target 2 has no wave, but other targets have one",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with("t.json: ") && err.contains(expected), "{text}: {err}");
        }
    }
}
