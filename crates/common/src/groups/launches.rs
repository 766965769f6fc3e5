//! What an Auto Scaling group launches from: the one model that `prune-amis`, `delete-ami`,
//! `bump-launch-template`, `instance-refresh` and the targets check all ask.
//!
//! A group launches from one of:
//! - its own launch template (`LaunchTemplate`), at the version it names;
//! - its mixed instances policy's template (`MixedInstancesPolicy.LaunchTemplate
//!   .LaunchTemplateSpecification`), and, for each override that carries a
//!   `LaunchTemplateSpecification` of its own (a Graviton override on an arm64 template,
//!   say), that template at the version the override names;
//! - a launch configuration (`LaunchConfigurationName`), whose `ImageId` it launches.
//!
//! Each template is named by ID or by name, at a number, `$Latest` or `$Default` (AWS's
//! default when no version is given). An instance refresh's desired configuration has the
//! same two shapes and goes through [`template_uses`] too. Three hand-written copies of this
//! once disagreed about the overrides, and one let an AMI in use be deleted.

use std::fmt;

use anyhow::Result;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LaunchTemplateSpecification, MixedInstancesPolicy};

use crate::aws::error::aws_error;
use crate::groups::templates::{Template, TemplateRef};

/// Where in a group's settings a template is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The group's own `LaunchTemplate`.
    Own,
    /// The mixed instances policy's template.
    Policy,
    /// Override `index` (0-based) of the mixed instances policy, with a template of its own.
    Override { index: usize },
}

/// How an instance launched from a template gets its instance type.
#[derive(Debug, Clone, PartialEq)]
pub enum InstanceChoice {
    /// The template's own `InstanceType` (or its instance requirements).
    FromTemplate,
    /// An override's `InstanceType`.
    Type(String),
    /// An override's `InstanceRequirements`, as Auto Scaling gives them: EC2 picks the types
    /// (attribute-based selection).
    Attributes(Box<aws_sdk_autoscaling::types::InstanceRequirements>),
}

/// One template a group launches from, with the version it names.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateUse {
    pub template: TemplateRef,
    /// As named: a number, `$Latest` or `$Default`.
    pub version: String,
    pub slot: Slot,
    /// The ways its instances get their instance types.
    pub instance_types: Vec<InstanceChoice>,
}

impl TemplateUse {
    /// The version number, when the version is named by number.
    pub fn version_number(&self) -> Option<i64> {
        self.version.parse().ok()
    }

    /// The group's main template (its own or its policy's), as opposed to an override's.
    pub fn is_main(&self) -> bool {
        !matches!(self.slot, Slot::Override { .. })
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Own => f.write_str("its launch template"),
            Slot::Policy => f.write_str("its mixed instances policy's template"),
            Slot::Override { index } => write!(f, "override {} of its mixed instances policy", index + 1),
        }
    }
}

/// Every template named by a group's (or a desired configuration's) own launch template and
/// mixed instances policy, with the instance types each launches.
pub fn template_uses(own: Option<&LaunchTemplateSpecification>, mixed: Option<&MixedInstancesPolicy>) -> Vec<TemplateUse> {
    let mut uses = Vec::new();
    let named = |spec: &LaunchTemplateSpecification, slot: Slot, instance_types: Vec<InstanceChoice>| {
        TemplateRef::from_parts(spec.launch_template_id(), spec.launch_template_name()).map(|template| TemplateUse {
            template,
            version: spec.version().unwrap_or("$Default").to_owned(),
            slot,
            instance_types,
        })
    };
    if let Some(spec) = own {
        uses.extend(named(spec, Slot::Own, vec![InstanceChoice::FromTemplate]));
    }
    let Some(lt) = mixed.and_then(|m| m.launch_template()) else { return uses };
    let choice = |o: &aws_sdk_autoscaling::types::LaunchTemplateOverrides| match (o.instance_type(), o.instance_requirements()) {
        (Some(t), _) => InstanceChoice::Type(t.to_owned()),
        (None, Some(r)) => InstanceChoice::Attributes(Box::new(r.clone())),
        (None, None) => InstanceChoice::FromTemplate,
    };
    // Overrides without a template of their own launch the policy's template.
    let on_policy: Vec<InstanceChoice> =
        lt.overrides().iter().filter(|o| o.launch_template_specification().is_none()).map(choice).collect();
    if let Some(spec) = lt.launch_template_specification() {
        let types = if on_policy.is_empty() { vec![InstanceChoice::FromTemplate] } else { on_policy };
        uses.extend(named(spec, Slot::Policy, types));
    }
    for (index, o) in lt.overrides().iter().enumerate() {
        if let Some(spec) = o.launch_template_specification() {
            uses.extend(named(spec, Slot::Override { index }, vec![choice(o)]));
        }
    }
    uses
}

/// An Auto Scaling group and everything it launches from.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub templates: Vec<TemplateUse>,
    pub launch_configuration: Option<String>,
    /// The subnets it launches into (its VPCZoneIdentifier), in the order given.
    pub subnets: Vec<String>,
    /// Its instances' IDs.
    pub instances: Vec<String>,
}

impl Group {
    pub fn from_sdk(group: &AutoScalingGroup) -> Group {
        Group {
            name: group.auto_scaling_group_name().unwrap_or_default().to_owned(),
            templates: template_uses(group.launch_template(), group.mixed_instances_policy()),
            launch_configuration: group.launch_configuration_name().map(str::to_owned),
            subnets: group
                .vpc_zone_identifier()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            instances: group.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect(),
        }
    }

    /// The template a refresh of the group moves: its own, or its mixed instances policy's.
    pub fn main_template(&self) -> Option<&TemplateUse> {
        self.templates.iter().find(|u| u.is_main())
    }

    /// The uses of `template` among the group's templates (its main one, and overrides').
    pub fn uses_of<'a>(&'a self, template: &'a Template<'a>) -> impl Iterator<Item = &'a TemplateUse> + 'a {
        self.templates.iter().filter(move |u| template.is(&u.template))
    }

    /// What the group launches from, in words: "launch template lt-1", "launch configuration
    /// web-lc", or "no launch template".
    pub fn launches_from(&self) -> String {
        if let Some(main) = self.main_template() {
            return format!("launch template {}", main.template);
        }
        match &self.launch_configuration {
            Some(lc) => format!("launch configuration {lc}"),
            None => "no launch template".into(),
        }
    }
}

/// The account's groups (or only those `names`), every page: one paged DescribeAutoScalingGroups.
pub async fn list_groups(asg: &aws_sdk_autoscaling::Client, names: &[String]) -> Result<Vec<Group>> {
    let mut groups = Vec::new();
    let mut pages = asg
        .describe_auto_scaling_groups()
        .set_auto_scaling_group_names((!names.is_empty()).then(|| names.to_vec()))
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("listing Auto Scaling groups (to see what they launch from)", e))?;
        groups.extend(page.auto_scaling_groups().iter().map(Group::from_sdk));
    }
    Ok(groups)
}

/// Each instance's AMI, by instance ID (DescribeInstances, every page).
pub async fn instance_images(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut found = std::collections::BTreeMap::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let mut pages = ec2.describe_instances().set_instance_ids(Some(ids.to_vec())).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("describing the group's instances", e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            if let (Some(id), Some(ami)) = (i.instance_id(), i.image_id()) {
                found.insert(id.to_owned(), ami.to_owned());
            }
        }
    }
    Ok(found)
}

/// A launch configuration and the AMI it launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchConfiguration {
    pub name: String,
    pub image_id: String,
}

/// Every launch configuration in the account and Region: one paged
/// DescribeLaunchConfigurations. AWS no longer lets accounts create them, but groups made
/// from them still launch from them.
pub async fn list_launch_configurations(asg: &aws_sdk_autoscaling::Client) -> Result<Vec<LaunchConfiguration>> {
    let mut all = Vec::new();
    let mut pages = asg.describe_launch_configurations().max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("listing launch configurations (to find AMIs in use)", e))?;
        all.extend(page.launch_configurations().iter().filter_map(|lc| {
            Some(LaunchConfiguration { name: lc.launch_configuration_name()?.to_owned(), image_id: lc.image_id()?.to_owned() })
        }));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::types::{InstanceRequirements, LaunchTemplate, LaunchTemplateOverrides, VCpuCountRequest};

    fn spec(id: Option<&str>, name: Option<&str>, version: Option<&str>) -> LaunchTemplateSpecification {
        LaunchTemplateSpecification::builder()
            .set_launch_template_id(id.map(str::to_owned))
            .set_launch_template_name(name.map(str::to_owned))
            .set_version(version.map(str::to_owned))
            .build()
    }

    #[test]
    fn own_template_defaults_to_the_default_version() {
        let uses = template_uses(Some(&spec(Some("lt-1"), None, None)), None);
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].version, "$Default");
        assert_eq!(uses[0].version_number(), None);
        assert_eq!(uses[0].instance_types, [InstanceChoice::FromTemplate]);
        assert!(uses[0].is_main());
    }

    #[test]
    fn a_mixed_policy_names_its_template_and_each_overrides_own() {
        let requirements = InstanceRequirements::builder().v_cpu_count(VCpuCountRequest::builder().min(2).build()).build();
        let lt = LaunchTemplate::builder()
            .launch_template_specification(spec(Some("lt-x86"), None, Some("4")))
            .overrides(LaunchTemplateOverrides::builder().instance_type("t3.micro").build())
            .overrides(LaunchTemplateOverrides::builder().instance_requirements(requirements).build())
            .overrides(
                LaunchTemplateOverrides::builder()
                    .instance_type("m6g.large")
                    .launch_template_specification(spec(None, Some("arm"), Some("7")))
                    .build(),
            )
            .build();
        let mixed = MixedInstancesPolicy::builder().launch_template(lt).build();
        let uses = template_uses(None, Some(&mixed));
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[0].template, TemplateRef::Id("lt-x86".into()));
        assert_eq!(uses[0].slot, Slot::Policy);
        assert_eq!(uses[0].instance_types[0], InstanceChoice::Type("t3.micro".into()));
        let InstanceChoice::Attributes(r) = &uses[0].instance_types[1] else { panic!("{:?}", uses[0].instance_types) };
        assert_eq!(r.v_cpu_count().unwrap().min, Some(2));
        assert_eq!(uses[1].template, TemplateRef::Name("arm".into()));
        assert_eq!(uses[1].version_number(), Some(7));
        assert_eq!(uses[1].slot, Slot::Override { index: 2 });
        assert!(!uses[1].is_main());
        assert_eq!(uses[1].instance_types, [InstanceChoice::Type("m6g.large".into())]);

        let group = Group { name: "g".into(), templates: uses, launch_configuration: None, subnets: Vec::new(), instances: Vec::new() };
        assert_eq!(group.main_template().unwrap().template, TemplateRef::Id("lt-x86".into()));
        let arm = Template { id: "lt-arm", name: Some("arm") };
        assert_eq!(group.uses_of(&arm).count(), 1);
        assert_eq!(group.launches_from(), "launch template lt-x86");
    }

    #[test]
    fn a_group_on_a_launch_configuration() {
        let group = Group {
            name: "old".into(),
            templates: Vec::new(),
            launch_configuration: Some("old-lc".into()),
            subnets: Vec::new(),
            instances: Vec::new(),
        };
        assert!(group.main_template().is_none());
        assert_eq!(group.launches_from(), "launch configuration old-lc");
    }
}
