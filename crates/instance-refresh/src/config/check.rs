//! The values StartInstanceRefresh would refuse, refused here first as usage errors that name
//! the field: a typo found after the deploy has baked and bumped would stop it half way.
//!
//! Every rule is AWS's, from the Auto Scaling API reference (StartInstanceRefresh,
//! DesiredConfiguration, LaunchTemplateSpecification, LaunchTemplateOverrides,
//! InstancesDistribution, RefreshPreferences, AlarmSpecification).

use anyhow::{bail, Result};

use super::*;

/// A whole number field within `lo..=hi`.
fn range(name: &str, v: Option<i32>, lo: i32, hi: i32) -> Result<()> {
    match v {
        Some(v) if v < lo || v > hi => bail!("{name} must be {lo} to {hi}, not {v}"),
        _ => Ok(()),
    }
}

/// A text field of `lo..=hi` characters.
fn length(name: &str, v: Option<&str>, lo: usize, hi: usize) -> Result<()> {
    match v.map(|s| s.chars().count()) {
        Some(n) if n < lo || n > hi => bail!("{name} must be {lo} to {hi} characters, not {n}"),
        _ => Ok(()),
    }
}

/// A field that must be one of AWS's values.
fn one_of(name: &str, v: Option<&str>, allowed: &[&str]) -> Result<()> {
    match v {
        Some(v) if !allowed.contains(&v) => bail!("{name} must be {}, not {v:?}", words(allowed)),
        _ => Ok(()),
    }
}

fn words(allowed: &[&str]) -> String {
    match allowed {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

pub fn check(config: &RefreshConfig) -> Result<()> {
    length("AutoScalingGroupName", config.auto_scaling_group_name.as_deref(), 1, 255)?;
    one_of("Strategy", config.strategy.as_deref(), &["Rolling", "ReplaceRootVolume"])?;
    if let Some(d) = &config.desired_configuration {
        desired(d, config.strategy.as_deref() == Some("ReplaceRootVolume"))?;
    }
    if let Some(p) = &config.preferences {
        preferences(p)?;
    }
    Ok(())
}

fn desired(d: &DesiredConfiguration, replace_root_volume: bool) -> Result<()> {
    match (&d.launch_template, &d.mixed_instances_policy) {
        (Some(_), Some(_)) => bail!("DesiredConfiguration takes a LaunchTemplate or a MixedInstancesPolicy, not both"),
        (None, None) => bail!("DesiredConfiguration must have a LaunchTemplate or a MixedInstancesPolicy"),
        _ => {}
    }
    if let Some(lt) = &d.launch_template {
        spec("DesiredConfiguration.LaunchTemplate", lt)?;
    }
    let Some(m) = &d.mixed_instances_policy else { return Ok(()) };
    let at = "DesiredConfiguration.MixedInstancesPolicy";
    if let Some(lt) = &m.launch_template {
        if let Some(s) = &lt.launch_template_specification {
            spec(&format!("{at}.LaunchTemplate.LaunchTemplateSpecification"), s)?;
        }
        let overrides = lt.overrides.as_deref().unwrap_or_default();
        let weighted = overrides.iter().filter(|o| o.weighted_capacity.is_some()).count();
        if weighted != 0 && weighted != overrides.len() {
            bail!("{at}.LaunchTemplate.Overrides: WeightedCapacity must be given for every override or none");
        }
        for (i, o) in overrides.iter().enumerate() {
            override_(&format!("{at}.LaunchTemplate.Overrides[{i}]"), o, replace_root_volume)?;
        }
    }
    if let Some(dist) = &m.instances_distribution {
        let at = format!("{at}.InstancesDistribution");
        range(&format!("{at}.OnDemandBaseCapacity"), dist.on_demand_base_capacity, 0, i32::MAX)?;
        range(&format!("{at}.OnDemandPercentageAboveBaseCapacity"), dist.on_demand_percentage_above_base_capacity, 0, 100)?;
        range(&format!("{at}.SpotInstancePools"), dist.spot_instance_pools, 1, 20)?;
        length(&format!("{at}.SpotMaxPrice"), dist.spot_max_price.as_deref(), 0, 255)?;
        for (i, segment) in dist.distribution_segments.iter().flatten().enumerate() {
            for t in segment.target_capacity_types.iter().flatten() {
                let allowed = ["on-demand", "on-demand-capacity-reservation", "capacity-block", "interruptible-capacity-reservation"];
                one_of(&format!("{at}.DistributionSegments[{i}].TargetCapacityTypes"), Some(t), &allowed)?;
            }
        }
    }
    Ok(())
}

fn spec(at: &str, s: &LaunchTemplateSpec) -> Result<()> {
    if s.launch_template_id.is_none() && s.launch_template_name.is_none() {
        bail!("{at} must have a LaunchTemplateId or a LaunchTemplateName");
    }
    length(&format!("{at}.LaunchTemplateId"), s.launch_template_id.as_deref(), 1, 255)?;
    length(&format!("{at}.LaunchTemplateName"), s.launch_template_name.as_deref(), 3, 128)?;
    if let Some(name) = &s.launch_template_name {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "().-/_".contains(c)) {
            bail!("{at}.LaunchTemplateName may hold only letters, digits and ( ) . - / _, not {name:?}");
        }
    }
    length(&format!("{at}.Version"), s.version.as_deref(), 1, 255)
}

fn override_(at: &str, o: &Override, replace_root_volume: bool) -> Result<()> {
    if o.instance_type.is_some() && o.instance_requirements.is_some() {
        bail!("{at} takes an InstanceType or InstanceRequirements, not both");
    }
    length(&format!("{at}.InstanceType"), o.instance_type.as_deref(), 1, 255)?;
    if let Some(w) = &o.weighted_capacity {
        if !w.parse::<u16>().is_ok_and(|n| (1..=999).contains(&n)) {
            bail!("{at}.WeightedCapacity must be a whole number from 1 to 999, not {w:?}");
        }
    }
    if let Some(s) = &o.launch_template_specification {
        spec(&format!("{at}.LaunchTemplateSpecification"), s)?;
    }
    match &o.image_id {
        Some(id) if !is_ami_id(id) => bail!("{at}.ImageId must be ami- followed by 1 to 17 lowercase letters or digits, not {id:?}"),
        None if replace_root_volume => bail!("{at} has no ImageId: the ReplaceRootVolume strategy needs one in every override"),
        _ => Ok(()),
    }
}

/// `^ami-[a-z0-9]{1,17}$`, as AWS's model gives an override's ImageId.
fn is_ami_id(id: &str) -> bool {
    id.strip_prefix("ami-")
        .is_some_and(|rest| (1..=17).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn preferences(p: &Preferences) -> Result<()> {
    range("Preferences.MinHealthyPercentage", p.min_healthy_percentage, 0, 100)?;
    range("Preferences.MaxHealthyPercentage", p.max_healthy_percentage, 100, 200)?;
    if let Some(max) = p.max_healthy_percentage {
        let Some(min) = p.min_healthy_percentage else {
            bail!("Preferences.MaxHealthyPercentage needs Preferences.MinHealthyPercentage too");
        };
        if max - min > 100 {
            bail!("Preferences.MaxHealthyPercentage ({max}) and MinHealthyPercentage ({min}) may be at most 100 apart");
        }
    }
    range("Preferences.InstanceWarmup", p.instance_warmup, 0, i32::MAX)?;
    range("Preferences.CheckpointDelay", p.checkpoint_delay, 0, 172_800)?;
    range("Preferences.BakeTime", p.bake_time, 0, 172_800)?;
    let checkpoints = p.checkpoint_percentages.as_deref().unwrap_or_default();
    for c in checkpoints {
        range("Preferences.CheckpointPercentages", Some(*c), 1, 100)?;
    }
    if checkpoints.windows(2).any(|w| w[0] >= w[1]) {
        bail!("Preferences.CheckpointPercentages must be in ascending order, each once, not {checkpoints:?}");
    }
    if p.checkpoint_delay.is_some() && checkpoints.is_empty() {
        bail!("Preferences.CheckpointDelay needs Preferences.CheckpointPercentages");
    }
    one_of("Preferences.ScaleInProtectedInstances", p.scale_in_protected_instances.as_deref(), &["Refresh", "Ignore", "Wait"])?;
    one_of("Preferences.StandbyInstances", p.standby_instances.as_deref(), &["Terminate", "Ignore", "Wait"])?;
    if let Some(alarms) = p.alarm_specification.as_ref().and_then(|a| a.alarms.as_deref()) {
        if alarms.len() > 10 {
            bail!("Preferences.AlarmSpecification.Alarms may name at most 10 alarms, not {}", alarms.len());
        }
        for a in alarms {
            length("Preferences.AlarmSpecification.Alarms", Some(a), 1, 255)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    /// Each config AWS would refuse is refused, naming the field.
    #[test]
    fn what_aws_refuses_is_refused_by_name() {
        let cases = [
            (r#"{"Strategy":"Fast"}"#, "Strategy must be Rolling or ReplaceRootVolume"),
            (r#"{"AutoScalingGroupName":""}"#, "AutoScalingGroupName must be 1 to 255"),
            (r#"{"Preferences":{"MinHealthyPercentage":-1}}"#, "MinHealthyPercentage must be 0 to 100"),
            (r#"{"Preferences":{"MinHealthyPercentage":101}}"#, "MinHealthyPercentage must be 0 to 100"),
            (r#"{"Preferences":{"MinHealthyPercentage":90,"MaxHealthyPercentage":99}}"#, "MaxHealthyPercentage must be 100 to 200"),
            (r#"{"Preferences":{"MinHealthyPercentage":90,"MaxHealthyPercentage":201}}"#, "MaxHealthyPercentage must be 100 to 200"),
            (r#"{"Preferences":{"MaxHealthyPercentage":150}}"#, "needs Preferences.MinHealthyPercentage"),
            (r#"{"Preferences":{"MinHealthyPercentage":50,"MaxHealthyPercentage":200}}"#, "at most 100 apart"),
            (r#"{"Preferences":{"InstanceWarmup":-5}}"#, "InstanceWarmup must be 0 to"),
            (r#"{"Preferences":{"BakeTime":172801}}"#, "BakeTime must be 0 to 172800"),
            (r#"{"Preferences":{"CheckpointPercentages":[50,100],"CheckpointDelay":172801}}"#, "CheckpointDelay must be 0 to 172800"),
            (r#"{"Preferences":{"CheckpointDelay":60}}"#, "CheckpointDelay needs Preferences.CheckpointPercentages"),
            (r#"{"Preferences":{"CheckpointPercentages":[50,20]}}"#, "ascending order"),
            (r#"{"Preferences":{"CheckpointPercentages":[50,50,100]}}"#, "ascending order"),
            (r#"{"Preferences":{"CheckpointPercentages":[50,101]}}"#, "CheckpointPercentages must be 1 to 100"),
            (r#"{"Preferences":{"CheckpointPercentages":[0,100]}}"#, "CheckpointPercentages must be 1 to 100"),
            (r#"{"Preferences":{"ScaleInProtectedInstances":"Terminate"}}"#, "ScaleInProtectedInstances must be Refresh, Ignore or Wait"),
            (r#"{"Preferences":{"StandbyInstances":"Refresh"}}"#, "StandbyInstances must be Terminate, Ignore or Wait"),
            (r#"{"Preferences":{"AlarmSpecification":{"Alarms":["a","b","c","d","e","f","g","h","i","j","k"]}}}"#, "at most 10 alarms"),
            (r#"{"DesiredConfiguration":{}}"#, "must have a LaunchTemplate or a MixedInstancesPolicy"),
            (r#"{"DesiredConfiguration":{"LaunchTemplate":{"Version":"1"}}}"#, "LaunchTemplateId or a LaunchTemplateName"),
            (r#"{"DesiredConfiguration":{"LaunchTemplate":{"LaunchTemplateName":"a b"}}}"#, "LaunchTemplateName may hold only"),
            (r#"{"DesiredConfiguration":{"LaunchTemplate":{"LaunchTemplateId":"lt-1"},"MixedInstancesPolicy":{}}}"#, "not both"),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"LaunchTemplate":{"Overrides":[{"InstanceType":"t3.micro","ImageId":"ami-XYZ"}]}}}}"#,
                "Overrides[0].ImageId must be ami-",
            ),
            (
                r#"{"Strategy":"ReplaceRootVolume","DesiredConfiguration":{"MixedInstancesPolicy":{"LaunchTemplate":{"Overrides":[{"InstanceType":"t3.micro","ImageId":"ami-1"},{"InstanceType":"t3.small"}]}}}}"#,
                "Overrides[1] has no ImageId",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"LaunchTemplate":{"Overrides":[{"InstanceType":"t3.micro","WeightedCapacity":"1000"}]}}}}"#,
                "WeightedCapacity must be a whole number from 1 to 999",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"LaunchTemplate":{"Overrides":[{"InstanceType":"t3.micro","WeightedCapacity":"2"},{"InstanceType":"t3.small"}]}}}}"#,
                "every override or none",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"LaunchTemplate":{"Overrides":[{"InstanceType":"t3.micro","InstanceRequirements":{}}]}}}}"#,
                "not both",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"InstancesDistribution":{"SpotInstancePools":21}}}}"#,
                "SpotInstancePools must be 1 to 20",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"InstancesDistribution":{"OnDemandPercentageAboveBaseCapacity":101}}}}"#,
                "OnDemandPercentageAboveBaseCapacity must be 0 to 100",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"InstancesDistribution":{"OnDemandBaseCapacity":-1}}}}"#,
                "OnDemandBaseCapacity must be 0 to",
            ),
            (
                r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"InstancesDistribution":{"DistributionSegments":[{"TargetCapacityTypes":["spot"]}]}}}}"#,
                "TargetCapacityTypes must be",
            ),
        ];
        for (config, says) in cases {
            let err = parse(config).expect_err(config).to_string();
            assert!(err.contains(says), "{config}: {err:?} lacks {says:?}");
        }
    }

    #[test]
    fn what_aws_takes_is_taken() {
        for config in [
            r#"{"Strategy":"ReplaceRootVolume","DesiredConfiguration":{"MixedInstancesPolicy":{"LaunchTemplate":{"LaunchTemplateSpecification":{"LaunchTemplateId":"lt-1","Version":"4"},"Overrides":[{"InstanceType":"t3.micro","ImageId":"ami-0123456789abcdef0"},{"InstanceType":"m6g.large","ImageId":"ami-1","LaunchTemplateSpecification":{"LaunchTemplateName":"arm-lt","Version":"2"}}]}}}}"#,
            r#"{"Preferences":{"MinHealthyPercentage":100,"MaxHealthyPercentage":200,"CheckpointPercentages":[20,50,100],"CheckpointDelay":0,"ScaleInProtectedInstances":"Wait","StandbyInstances":"Terminate","BakeTime":0}}"#,
            r#"{"Preferences":{"MinHealthyPercentage":0,"MaxHealthyPercentage":100,"InstanceWarmup":0}}"#,
            r#"{"DesiredConfiguration":{"MixedInstancesPolicy":{"InstancesDistribution":{"DistributionSegments":[{"TargetCapacityTypes":["on-demand-capacity-reservation","on-demand"]}],"SpotInstancePools":20}}}}"#,
        ] {
            parse(config).unwrap_or_else(|e| panic!("{config}: {e}"));
        }
    }
}
