//! The versions of a launch template that something launches from by number, so that they
//! are never deleted: an Auto Scaling group pinned to one (its own launch template, its mixed
//! instances policy's, or an override's: `common::groups::launches`), and the version an instance
//! refresh still in progress is deploying.
//!
//! AWS lets a version a group names be deleted; the group then fails every launch until
//! someone fixes it. A group on `$Latest` or `$Default` needs nothing here: the newest and the
//! default version are always kept.
//!
//! And the version a rollback of a group would go back to ([`rollback_targets`]).
//!
//! Costs one paged DescribeInstanceRefreshes per group that uses the template (the groups
//! themselves are listed once, by the caller), and one DescribeImages of the older versions'
//! AMIs when a group uses the template.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use common::aws::error::aws_error;
use common::groups::launches::{template_uses, Group};
use common::groups::refresh::{phase, Phase};
use common::groups::rollback::last_good;
pub use common::groups::templates::Template;
use common::images::ami::describe_many;

/// Version number -> why it must stay, for the template's `groups` (every group in the
/// account: those that do not use the template are passed over).
pub async fn pinned_versions(
    asg: &aws_sdk_autoscaling::Client,
    template: &Template<'_>,
    groups: &[Group],
) -> Result<BTreeMap<i64, Vec<String>>> {
    let mut pinned: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut users = Vec::new();
    for group in groups {
        let mut uses = group.uses_of(template).peekable();
        if uses.peek().is_some() {
            users.push(group.name.as_str());
        }
        for n in uses.filter_map(|u| u.version_number()) {
            pinned.entry(n).or_default().push(format!("group {} launches it", group.name));
        }
    }
    for group in users {
        let mut pages = asg.describe_instance_refreshes().auto_scaling_group_name(group).max_records(100).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(format!("listing the instance refreshes of group {group}"), e))?;
            for r in page.instance_refreshes() {
                // Not over: it may still launch from its desired configuration.
                let status = r.status().map(|s| s.as_str()).unwrap_or_default();
                if r.status().map_or(Phase::Waiting, phase) != Phase::Waiting {
                    continue;
                }
                let Some(desired) = r.desired_configuration() else { continue };
                let id = r.instance_refresh_id().unwrap_or("?");
                let uses = template_uses(desired.launch_template(), desired.mixed_instances_policy());
                for n in uses.iter().filter(|u| template.is(&u.template)).filter_map(|u| u.version_number()) {
                    pinned.entry(n).or_default().push(format!("instance refresh {id} of group {group} ({status}) deploys it"));
                }
            }
        }
    }
    Ok(pinned)
}

/// The versions a rollback of each group on `template` goes back to (`common::groups::rollback`:
/// the newest below the group's whose AMI passed verification and can still launch), each with
/// why: a bump never deletes them, whatever VERSIONS_TO_KEEP says. A group on `$Latest` or
/// `$Default` is on the version those name now. The older versions' AMIs are read in one call,
/// and only when a group uses the template.
pub async fn rollback_targets(
    ec2: &aws_sdk_ec2::Client,
    template: &Template<'_>,
    listed: &crate::versions::Listed,
    groups: &[Group],
) -> Result<BTreeMap<i64, Vec<String>>> {
    let latest = listed.versions.iter().map(|v| v.number).max().unwrap_or(0);
    let default = listed.versions.iter().find(|v| v.is_default).map_or(latest, |v| v.number);
    let on: Vec<(&str, i64)> = groups
        .iter()
        .flat_map(|g| g.uses_of(template).filter(|u| u.is_main()).map(move |u| (g.name.as_str(), u)))
        .map(|(name, u)| match u.version.as_str() {
            "$Latest" => (name, latest),
            "$Default" => (name, default),
            _ => (name, u.version_number().unwrap_or(0)),
        })
        .collect();
    let Some(highest) = on.iter().map(|(_, n)| *n).max() else { return Ok(BTreeMap::new()) };
    let older: Vec<String> = listed.images.range(..highest).map(|(_, id)| id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    if older.is_empty() {
        return Ok(BTreeMap::new());
    }
    let amis = describe_many(ec2, &older).await?;
    let mut targets: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (group, current) in on {
        if let Some((n, _)) = last_good(&listed.images, &amis, current) {
            targets.entry(n).or_default().push(format!("the version a rollback of group {group} goes back to"));
        }
    }
    Ok(targets)
}
