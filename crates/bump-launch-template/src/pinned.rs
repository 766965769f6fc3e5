//! The versions of a launch template that something launches from by number, so that they
//! are never deleted: an Auto Scaling group pinned to one (its own launch template, its mixed
//! instances policy's, or an override's), and the version an instance refresh still in
//! progress is deploying.
//!
//! AWS lets a version a group names be deleted; the group then fails every launch until
//! someone fixes it. A group on `$Latest` or `$Default` needs nothing here: the newest and the
//! default version are always kept.
//!
//! Costs one paged DescribeAutoScalingGroups, and one paged DescribeInstanceRefreshes per group
//! that uses the template.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, MixedInstancesPolicy};
use common::error::aws_error;
pub use common::templates::Template;

/// Refresh statuses in which a refresh may still launch from its desired configuration (or,
/// rolling back, from the group's own).
const ACTIVE: [&str; 5] = ["Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"];

/// Every launch template specification in a group's (or a desired configuration's) settings.
fn specs<'a>(own: Option<&'a LaunchTemplateSpecification>, mixed: Option<&'a MixedInstancesPolicy>) -> Vec<&'a LaunchTemplateSpecification> {
    let mut all: Vec<&LaunchTemplateSpecification> = own.into_iter().collect();
    if let Some(lt) = mixed.and_then(|m| m.launch_template()) {
        all.extend(lt.launch_template_specification());
        all.extend(lt.overrides().iter().filter_map(|o| o.launch_template_specification()));
    }
    all
}

/// Version number -> why it must stay.
pub async fn pinned_versions(asg: &aws_sdk_autoscaling::Client, template: &Template<'_>) -> Result<BTreeMap<i64, Vec<String>>> {
    let mut pinned: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut users = Vec::new();
    let mut pages = asg.describe_auto_scaling_groups().max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("listing Auto Scaling groups (to keep the versions they launch)", e))?;
        for group in page.auto_scaling_groups() {
            let name = group.auto_scaling_group_name().unwrap_or_default();
            let specs = specs(group.launch_template(), group.mixed_instances_policy());
            for n in specs.iter().filter_map(|s| template.version_in(s)) {
                pinned.entry(n).or_default().push(format!("group {name} launches it"));
            }
            if specs.iter().any(|s| template.is_used_by(s)) {
                users.push(name.to_owned());
            }
        }
    }
    for group in users {
        let mut pages = asg.describe_instance_refreshes().auto_scaling_group_name(&group).max_records(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(format!("listing the instance refreshes of group {group}"), e))?;
            for r in page.instance_refreshes() {
                let status = r.status().map(|s| s.as_str()).unwrap_or_default();
                if !ACTIVE.contains(&status) {
                    continue;
                }
                let Some(desired) = r.desired_configuration() else { continue };
                let id = r.instance_refresh_id().unwrap_or("?");
                for n in specs(desired.launch_template(), desired.mixed_instances_policy()).iter().filter_map(|s| template.version_in(s)) {
                    pinned.entry(n).or_default().push(format!("instance refresh {id} of group {group} ({status}) deploys it"));
                }
            }
        }
    }
    Ok(pinned)
}
