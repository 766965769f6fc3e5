//! A multi-Region deploy's targets file: for each Region, in the order to deploy, the launch
//! template to bump and the Auto Scaling group to refresh.
//!
//! ```json
//! [
//!   {"region": "us-east-1", "launch_template_id": "lt-0abc...", "auto_scaling_group": "web"},
//!   {"region": "eu-west-1", "launch_template_id": "lt-0def...", "auto_scaling_group": "web"}
//! ]
//! ```
//!
//! Everything is checked before a deploy starts: the file must parse, name one target or more,
//! no unknown field (a misspelt key would otherwise be silently ignored), well-formed Region
//! names and template IDs, a group name, and no Region twice (a second entry for a Region
//! would deploy it twice).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Usage;
use crate::ids::LaunchTemplateId;
use crate::regions::RegionList;

/// One Region's deploy target.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub region: String,
    pub launch_template_id: String,
    pub auto_scaling_group: String,
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
        let targets: Vec<Target> = serde_json::from_str(text).map_err(|e| bad(format!("not a list of targets ({e})")))?;
        if targets.is_empty() {
            return Err(bad("names no targets".into()));
        }
        for (i, t) in targets.iter().enumerate() {
            let n = i + 1;
            crate::regions::check_region_name(&t.region).map_err(|e| bad(format!("target {n}: {e}")))?;
            t.launch_template_id
                .parse::<LaunchTemplateId>()
                .map_err(|e| bad(format!("target {n} ({}): {e}, got {:?}", t.region, t.launch_template_id)))?;
            let group = &t.auto_scaling_group;
            if group.is_empty() || group.len() > 255 || group.chars().any(char::is_control) {
                return Err(bad(format!("target {n} ({}): the Auto Scaling group name must be 1 to 255 printable characters", t.region)));
            }
            if let Some(first) = targets[..i].iter().position(|o| o.region == t.region) {
                return Err(bad(format!("Region {} is named twice (targets {} and {n}): one target per Region", t.region, first + 1)));
            }
        }
        Ok(Targets { targets })
    }

    /// The targets' Regions, in the file's order.
    pub fn regions(&self) -> RegionList {
        RegionList::new(self.targets.iter().map(|t| t.region.clone()).collect()).expect("parse checked every Region, once each")
    }

    /// Reads and checks a targets file.
    pub fn read(path: &Path) -> Result<Targets, Usage> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Usage(format!("{name}: cannot read it ({e})")))?;
        Targets::parse(&name, &text)
    }
}

/// One target a line, tab-separated: `REGION LAUNCH_TEMPLATE_ID AUTO_SCALING_GROUP`.
impl crate::output::Report for Targets {
    fn write_text(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for t in &self.targets {
            writeln!(out, "{}\t{}\t{}", t.region, t.launch_template_id, t.auto_scaling_group)?;
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
        assert_eq!(t.targets[1].auto_scaling_group, "web-us");
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
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with("t.json: ") && err.contains(expected), "{text}: {err}");
        }
    }
}
