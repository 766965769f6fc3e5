//! The refresh config file: the JSON that the original script passed to
//! `aws autoscaling start-instance-refresh --cli-input-json`. Field names are AWS's; every
//! field StartInstanceRefresh accepts is passed through, and an unknown field is an error
//! (a typo such as "MinHealthyPercent" would otherwise be dropped without a word).

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use aws_sdk_autoscaling::types as asg;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RefreshConfig {
    pub auto_scaling_group_name: Option<String>,
    pub strategy: Option<String>,
    pub desired_configuration: Option<DesiredConfiguration>,
    pub preferences: Option<Preferences>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DesiredConfiguration {
    pub launch_template: Option<LaunchTemplateSpec>,
    pub mixed_instances_policy: Option<MixedInstancesPolicy>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct LaunchTemplateSpec {
    pub launch_template_id: Option<String>,
    pub launch_template_name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MixedInstancesPolicy {
    pub launch_template: Option<MixedLaunchTemplate>,
    pub instances_distribution: Option<InstancesDistribution>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct MixedLaunchTemplate {
    pub launch_template_specification: Option<LaunchTemplateSpec>,
    pub overrides: Option<Vec<Override>>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Override {
    pub instance_type: Option<String>,
    pub weighted_capacity: Option<String>,
    pub launch_template_specification: Option<LaunchTemplateSpec>,
    /// Accepted so that a file AWS takes is not refused, but not passed through yet: see
    /// [`to_sdk`], which names it in its error.
    pub instance_requirements: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct InstancesDistribution {
    pub on_demand_allocation_strategy: Option<String>,
    pub on_demand_base_capacity: Option<i32>,
    pub on_demand_percentage_above_base_capacity: Option<i32>,
    pub spot_allocation_strategy: Option<String>,
    pub spot_instance_pools: Option<i32>,
    pub spot_max_price: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Preferences {
    pub min_healthy_percentage: Option<i32>,
    pub max_healthy_percentage: Option<i32>,
    pub instance_warmup: Option<i32>,
    pub checkpoint_percentages: Option<Vec<i32>>,
    pub checkpoint_delay: Option<i32>,
    pub skip_matching: Option<bool>,
    pub auto_rollback: Option<bool>,
    pub scale_in_protected_instances: Option<String>,
    pub standby_instances: Option<String>,
    pub alarm_specification: Option<AlarmSpecification>,
    pub bake_time: Option<i32>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AlarmSpecification {
    pub alarms: Option<Vec<String>>,
}

/// Reads and checks the config file. Every problem is one line naming the file.
pub fn load(path: &Path) -> Result<RefreshConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read refresh config {}", path.display()))?;
    parse(&text).with_context(|| format!("refresh config {}", path.display()))
}

pub fn parse(text: &str) -> Result<RefreshConfig> {
    let config: RefreshConfig = serde_json::from_str(text)?;
    check(&config)?;
    Ok(config)
}

fn check(config: &RefreshConfig) -> Result<()> {
    if let Some(s) = &config.strategy {
        if !matches!(s.as_str(), "Rolling" | "ReplaceRootVolume") {
            bail!("Strategy must be Rolling or ReplaceRootVolume, not {s:?}");
        }
    }
    let Some(p) = &config.preferences else { return Ok(()) };
    let pct = |name: &str, v: Option<i32>, lo: i32, hi: i32| -> Result<()> {
        match v {
            Some(v) if v < lo || v > hi => bail!("Preferences.{name} must be {lo} to {hi}, not {v}"),
            _ => Ok(()),
        }
    };
    pct("MinHealthyPercentage", p.min_healthy_percentage, 0, 100)?;
    pct("MaxHealthyPercentage", p.max_healthy_percentage, 100, 200)?;
    pct("InstanceWarmup", p.instance_warmup, 0, i32::MAX)?;
    pct("CheckpointDelay", p.checkpoint_delay, 0, 172_800)?;
    pct("BakeTime", p.bake_time, 0, 172_800)?;
    for c in p.checkpoint_percentages.iter().flatten() {
        pct("CheckpointPercentages", Some(*c), 1, 100)?;
    }
    for (name, value) in [
        ("ScaleInProtectedInstances", &p.scale_in_protected_instances),
        ("StandbyInstances", &p.standby_instances),
    ] {
        if let Some(v) = value {
            if !matches!(v.as_str(), "Refresh" | "Ignore" | "Wait" | "Terminate") {
                bail!("Preferences.{name} must be Refresh, Ignore, Wait or Terminate, not {v:?}");
            }
        }
    }
    Ok(())
}

fn lt_spec(s: &LaunchTemplateSpec) -> asg::LaunchTemplateSpecification {
    asg::LaunchTemplateSpecification::builder()
        .set_launch_template_id(s.launch_template_id.clone())
        .set_launch_template_name(s.launch_template_name.clone())
        .set_version(s.version.clone())
        .build()
}

/// The SDK's shapes for the config's DesiredConfiguration and Preferences.
pub fn to_sdk(
    config: &RefreshConfig,
) -> Result<(Option<asg::DesiredConfiguration>, Option<asg::RefreshPreferences>)> {
    let desired = match &config.desired_configuration {
        None => None,
        Some(d) => {
            let mixed = match &d.mixed_instances_policy {
                None => None,
                Some(m) => {
                    let lt = match &m.launch_template {
                        None => None,
                        Some(lt) => {
                            let mut overrides = Vec::new();
                            for o in lt.overrides.iter().flatten() {
                                if o.instance_requirements.is_some() {
                                    bail!("DesiredConfiguration.MixedInstancesPolicy overrides with InstanceRequirements are not supported yet; name instance types instead");
                                }
                                overrides.push(
                                    asg::LaunchTemplateOverrides::builder()
                                        .set_instance_type(o.instance_type.clone())
                                        .set_weighted_capacity(o.weighted_capacity.clone())
                                        .set_launch_template_specification(o.launch_template_specification.as_ref().map(lt_spec))
                                        .build(),
                                );
                            }
                            Some(
                                asg::LaunchTemplate::builder()
                                    .set_launch_template_specification(lt.launch_template_specification.as_ref().map(lt_spec))
                                    .set_overrides(lt.overrides.as_ref().map(|_| overrides))
                                    .build(),
                            )
                        }
                    };
                    let dist = m.instances_distribution.as_ref().map(|d| {
                        asg::InstancesDistribution::builder()
                            .set_on_demand_allocation_strategy(d.on_demand_allocation_strategy.clone())
                            .set_on_demand_base_capacity(d.on_demand_base_capacity)
                            .set_on_demand_percentage_above_base_capacity(d.on_demand_percentage_above_base_capacity)
                            .set_spot_allocation_strategy(d.spot_allocation_strategy.clone())
                            .set_spot_instance_pools(d.spot_instance_pools)
                            .set_spot_max_price(d.spot_max_price.clone())
                            .build()
                    });
                    Some(asg::MixedInstancesPolicy::builder().set_launch_template(lt).set_instances_distribution(dist).build())
                }
            };
            Some(
                asg::DesiredConfiguration::builder()
                    .set_launch_template(d.launch_template.as_ref().map(lt_spec))
                    .set_mixed_instances_policy(mixed)
                    .build(),
            )
        }
    };
    let prefs = config.preferences.as_ref().map(|p| {
        asg::RefreshPreferences::builder()
            .set_min_healthy_percentage(p.min_healthy_percentage)
            .set_max_healthy_percentage(p.max_healthy_percentage)
            .set_instance_warmup(p.instance_warmup)
            .set_checkpoint_percentages(p.checkpoint_percentages.clone())
            .set_checkpoint_delay(p.checkpoint_delay)
            .set_skip_matching(p.skip_matching)
            .set_auto_rollback(p.auto_rollback)
            .set_scale_in_protected_instances(p.scale_in_protected_instances.as_deref().map(asg::ScaleInProtectedInstances::from))
            .set_standby_instances(p.standby_instances.as_deref().map(asg::StandbyInstances::from))
            .set_alarm_specification(p.alarm_specification.as_ref().map(|a| asg::AlarmSpecification::builder().set_alarms(a.alarms.clone()).build()))
            .set_bake_time(p.bake_time)
            .build()
    });
    Ok((desired, prefs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blog_posts_sample_parses() {
        let c = parse(r#"{"AutoScalingGroupName":"my_asg","Preferences":{"InstanceWarmup":5,"MinHealthyPercentage":50}}"#).unwrap();
        assert_eq!(c.auto_scaling_group_name.as_deref(), Some("my_asg"));
        assert_eq!(c.preferences.unwrap().min_healthy_percentage, Some(50));
    }

    #[test]
    fn unknown_fields_are_refused_at_any_depth() {
        let e = parse(r#"{"Preferences":{"MinHealthyPercent":50}}"#).unwrap_err();
        assert!(e.to_string().contains("MinHealthyPercent"), "{e}");
        assert!(parse(r#"{"Bogus":1}"#).is_err());
        assert!(parse(r#"{"DesiredConfiguration":{"LaunchTemplate":{"Id":"lt-1"}}}"#).is_err());
    }

    #[test]
    fn every_field_reaches_the_sdk() {
        let c = parse(r#"{
            "AutoScalingGroupName": "g", "Strategy": "Rolling",
            "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "7"}},
            "Preferences": {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 110, "InstanceWarmup": 60,
              "CheckpointPercentages": [50, 100], "CheckpointDelay": 30, "SkipMatching": true,
              "AutoRollback": true, "ScaleInProtectedInstances": "Refresh", "StandbyInstances": "Ignore",
              "AlarmSpecification": {"Alarms": ["a"]}, "BakeTime": 10}
        }"#).unwrap();
        let (desired, prefs) = to_sdk(&c).unwrap();
        let lt = desired.unwrap().launch_template.unwrap();
        assert_eq!(lt.version.as_deref(), Some("7"));
        let p = prefs.unwrap();
        assert_eq!(p.max_healthy_percentage, Some(110));
        assert_eq!(p.checkpoint_percentages(), [50, 100]);
        assert_eq!(p.skip_matching, Some(true));
        assert_eq!(p.auto_rollback, Some(true));
        assert_eq!(p.bake_time, Some(10));
        assert_eq!(p.alarm_specification.unwrap().alarms(), ["a"]);
        assert_eq!(p.standby_instances.unwrap().as_str(), "Ignore");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(parse(r#"{"Preferences":{"MinHealthyPercentage":101}}"#).is_err());
        assert!(parse(r#"{"Preferences":{"BakeTime":172801}}"#).is_err());
        assert!(parse(r#"{"Strategy":"Fast"}"#).is_err());
        assert!(parse("not json").is_err());
    }
}
