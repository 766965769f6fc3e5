//! The refresh config file: the JSON that the replaced refresh script passed to
//! `aws autoscaling start-instance-refresh --cli-input-json`. Field names are AWS's; every
//! field StartInstanceRefresh accepts is passed through, and an unknown field is an error
//! (a typo such as "MinHealthyPercent" would otherwise be dropped without a word).

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;

mod check;
mod convert;
use check::check;
pub use convert::to_sdk;

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
    pub instance_requirements: Option<InstanceRequirements>,
    /// The AMI instances launched with this override run (the `ReplaceRootVolume` strategy
    /// needs one in every override).
    pub image_id: Option<String>,
}

/// A `{"Min": .., "Max": ..}` range, as AWS's instance requirements take them.
#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Range<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct InstanceRequirements {
    #[serde(rename = "VCpuCount")]
    pub v_cpu_count: Option<Range<i32>>,
    #[serde(rename = "MemoryMiB")]
    pub memory_mib: Option<Range<i32>>,
    pub cpu_manufacturers: Option<Vec<String>>,
    #[serde(rename = "MemoryGiBPerVCpu")]
    pub memory_gib_per_v_cpu: Option<Range<f64>>,
    pub excluded_instance_types: Option<Vec<String>>,
    pub instance_generations: Option<Vec<String>>,
    pub spot_max_price_percentage_over_lowest_price: Option<i32>,
    pub max_spot_price_as_percentage_of_optimal_on_demand_price: Option<i32>,
    pub on_demand_max_price_percentage_over_lowest_price: Option<i32>,
    pub bare_metal: Option<String>,
    pub burstable_performance: Option<String>,
    pub require_hibernate_support: Option<bool>,
    pub network_interface_count: Option<Range<i32>>,
    pub local_storage: Option<String>,
    pub local_storage_types: Option<Vec<String>>,
    #[serde(rename = "TotalLocalStorageGB")]
    pub total_local_storage_gb: Option<Range<f64>>,
    pub baseline_ebs_bandwidth_mbps: Option<Range<i32>>,
    pub accelerator_types: Option<Vec<String>>,
    pub accelerator_count: Option<Range<i32>>,
    pub accelerator_manufacturers: Option<Vec<String>>,
    pub accelerator_names: Option<Vec<String>>,
    #[serde(rename = "AcceleratorTotalMemoryMiB")]
    pub accelerator_total_memory_mib: Option<Range<i32>>,
    pub network_bandwidth_gbps: Option<Range<f64>>,
    pub allowed_instance_types: Option<Vec<String>>,
    pub baseline_performance_factors: Option<BaselinePerformanceFactors>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct BaselinePerformanceFactors {
    pub cpu: Option<CpuPerformanceFactor>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CpuPerformanceFactor {
    pub references: Option<Vec<PerformanceFactorReference>>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PerformanceFactorReference {
    pub instance_family: Option<String>,
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
    pub distribution_segments: Option<Vec<DistributionSegment>>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DistributionSegment {
    pub target_capacity_types: Option<Vec<String>>,
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

/// Adds `--alarm`s (after the file's own, each once) and `--bake-time` (over the file's) to the
/// config's preferences; more than 10 alarms in all is an error.
pub fn watch(config: &mut RefreshConfig, alarms: &[String], bake_time: Option<std::time::Duration>) -> Result<(), String> {
    if alarms.is_empty() && bake_time.is_none() {
        return Ok(());
    }
    let prefs = config.preferences.get_or_insert_with(Preferences::default);
    if !alarms.is_empty() {
        let all = prefs.alarm_specification.get_or_insert_with(AlarmSpecification::default).alarms.get_or_insert_with(Vec::new);
        for a in alarms {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        if all.len() > 10 {
            return Err(format!(
                "a refresh watches at most 10 alarms (--alarm with the config file's AlarmSpecification), not {}",
                all.len()
            ));
        }
    }
    if let Some(bake) = bake_time {
        prefs.bake_time = Some(i32::try_from(bake.as_secs()).unwrap_or(i32::MAX));
    }
    Ok(())
}

impl RefreshConfig {
    /// The alarms the refresh watches (the file's AlarmSpecification, with --alarm).
    pub fn alarms(&self) -> Vec<String> {
        self.preferences.as_ref().and_then(|p| p.alarm_specification.as_ref()).and_then(|a| a.alarms.clone()).unwrap_or_default()
    }
}

/// Reads and checks the config file. Every problem is one line naming the file.
pub fn load(path: &Path) -> Result<RefreshConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read refresh config {}", path.display()))?;
    parse(&text).with_context(|| format!("refresh config {}", path.display()))
}

pub fn parse(text: &str) -> Result<RefreshConfig> {
    let config: RefreshConfig = serde_json::from_str(text)?;
    check(&config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replaced_scripts_sample_parses() {
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
        let c = parse(
            r#"{
            "AutoScalingGroupName": "g", "Strategy": "Rolling",
            "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "7"}},
            "Preferences": {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 110, "InstanceWarmup": 60,
              "CheckpointPercentages": [50, 100], "CheckpointDelay": 30, "SkipMatching": true,
              "AutoRollback": true, "ScaleInProtectedInstances": "Refresh", "StandbyInstances": "Ignore",
              "AlarmSpecification": {"Alarms": ["a"]}, "BakeTime": 10}
        }"#,
        )
        .unwrap();
        let (desired, prefs) = to_sdk(&c);
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
    fn instance_requirements_reach_the_sdk() {
        let c = parse(
            r#"{"DesiredConfiguration": {"MixedInstancesPolicy": {
            "LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1", "Version": "3"},
              "Overrides": [{"InstanceRequirements": {"VCpuCount": {"Min": 2, "Max": 8}, "MemoryMiB": {"Min": 4096},
                "CpuManufacturers": ["intel"], "MemoryGiBPerVCpu": {"Max": 4.0}, "BurstablePerformance": "excluded",
                "TotalLocalStorageGB": {"Min": 10.5}, "AcceleratorTotalMemoryMiB": {"Max": 0},
                "BaselinePerformanceFactors": {"Cpu": {"References": [{"InstanceFamily": "c6i"}]}}}}]},
            "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 50}}}}"#,
        )
        .unwrap();
        let (desired, _) = to_sdk(&c);
        let mixed = desired.unwrap().mixed_instances_policy.unwrap();
        let r = mixed.launch_template.unwrap().overrides()[0].instance_requirements.clone().unwrap();
        assert_eq!(r.v_cpu_count().unwrap().max, Some(8));
        assert_eq!(r.memory_mib().unwrap().min, Some(4096));
        assert_eq!(r.cpu_manufacturers()[0].as_str(), "intel");
        assert_eq!(r.memory_gib_per_v_cpu().unwrap().max, Some(4.0));
        assert_eq!(r.burstable_performance().unwrap().as_str(), "excluded");
        assert_eq!(r.total_local_storage_gb().unwrap().min, Some(10.5));
        let cpu = r.baseline_performance_factors().unwrap().cpu().unwrap();
        assert_eq!(cpu.references()[0].instance_family(), Some("c6i"));
        assert!(parse(r#"{"DesiredConfiguration": {"MixedInstancesPolicy": {"LaunchTemplate": {"Overrides": [{"InstanceRequirements": {"VCpus": 2}}]}}}}"#).is_err());
    }

    #[test]
    fn overrides_image_ids_and_distribution_segments_reach_the_sdk() {
        let c = parse(
            r#"{"Strategy": "ReplaceRootVolume", "DesiredConfiguration": {"MixedInstancesPolicy": {
            "LaunchTemplate": {"Overrides": [{"InstanceType": "t3.micro", "ImageId": "ami-0123456789abcdef0"}]},
            "InstancesDistribution": {"DistributionSegments": [{"TargetCapacityTypes": ["on-demand"]}]}}}}"#,
        )
        .unwrap();
        let (desired, _) = to_sdk(&c);
        let mixed = desired.unwrap().mixed_instances_policy.unwrap();
        assert_eq!(mixed.launch_template.unwrap().overrides()[0].image_id(), Some("ami-0123456789abcdef0"));
        let segments = mixed.instances_distribution.unwrap().distribution_segments.unwrap();
        assert_eq!(segments[0].target_capacity_types()[0].as_str(), "on-demand");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(parse(r#"{"Preferences":{"MinHealthyPercentage":101}}"#).is_err());
        assert!(parse(r#"{"Preferences":{"BakeTime":172801}}"#).is_err());
        assert!(parse(r#"{"Strategy":"Fast"}"#).is_err());
        assert!(parse("not json").is_err());
    }
}
