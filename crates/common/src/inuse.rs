//! Which AMIs something still launches from. An AMI is in use when:
//! - an instance that is pending, running, stopping or stopped runs it;
//! - the default or latest version of any launch template names it;
//! - any version of a launch template that an Auto Scaling group uses names it (the group's
//!   own version, or one kept as its way back, which `bump-launch-template`'s
//!   VERSIONS_TO_KEEP bounds);
//! - any of those template versions reaches it through `resolve:ssm:NAME` (the describes ask
//!   EC2 to resolve the alias, `ResolveAlias`, so the AMI ID comes back instead of the name);
//! - an SSM parameter names it ([`ssm_references`]).
//!
//! [`find`] is a fixed number of paged describes, whatever the number of AMIs: instances,
//! groups, every template's `$Latest` and `$Default` in one call, and the versions of each
//! template a group uses. [`ssm_references`] costs one DescribeImageReferences per 10 AMIs
//! asked about, and [`shared_with`] one DescribeImageAttribute per AMI: callers ask only
//! about the AMIs they are about to delete.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_ec2::types::{Filter, ImageReferenceResourceType, ResourceTypeRequest};

use crate::error::aws_error;

/// AMI ID -> why it is in use (the first reasons found; one is enough to keep it).
#[derive(Debug, Default, Clone)]
pub struct InUse {
    reasons: BTreeMap<String, Vec<String>>,
}

impl InUse {
    pub fn add(&mut self, ami: impl Into<String>, reason: impl Into<String>) {
        let list = self.reasons.entry(ami.into()).or_default();
        let reason = reason.into();
        if list.len() < 3 && !list.contains(&reason) {
            list.push(reason);
        }
    }

    /// Why `ami` is in use, or `None`.
    pub fn reason(&self, ami: &str) -> Option<String> {
        self.reasons.get(ami).map(|r| r.join("; "))
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// The launch template a group launches from: its own, or its mixed instances policy's.
pub fn group_launch_template(
    group: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> Option<&aws_sdk_autoscaling::types::LaunchTemplateSpecification> {
    group
        .launch_template()
        .or_else(|| group.mixed_instances_policy().and_then(|m| m.launch_template()).and_then(|l| l.launch_template_specification()))
}

/// Looks up every use of every AMI in the account and Region.
pub async fn find(ec2: &aws_sdk_ec2::Client, asg: &aws_sdk_autoscaling::Client) -> Result<InUse> {
    let mut in_use = InUse::default();

    let mut pages = ec2
        .describe_instances()
        .filters(Filter::builder().name("instance-state-name").values("pending").values("running").values("stopping").values("stopped").build())
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("listing instances (to find AMIs in use)", e))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            if let (Some(ami), Some(id)) = (instance.image_id(), instance.instance_id()) {
                let state = instance.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or("?");
                in_use.add(ami, format!("instance {id} ({state}) runs it"));
            }
        }
    }

    // Templates used by groups: template -> groups (and the version each group names).
    let mut used: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut pages = asg.describe_auto_scaling_groups().max_records(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("listing Auto Scaling groups (to find AMIs in use)", e))?;
        for group in page.auto_scaling_groups() {
            if let Some(spec) = group_launch_template(group) {
                let version = spec.version().unwrap_or("$Default").to_owned();
                let name = group.auto_scaling_group_name().unwrap_or_default().to_owned();
                if let Some(id) = spec.launch_template_id() {
                    used.entry(id.to_owned()).or_default().push((name, version));
                } else if let Some(lt_name) = spec.launch_template_name() {
                    used.entry(format!("name:{lt_name}")).or_default().push((name, version));
                }
            }
        }
    }

    // Every template's latest and default versions, in one paged call.
    let mut pages = ec2
        .describe_launch_template_versions()
        .versions("$Latest")
        .versions("$Default")
        .resolve_alias(true)
        .max_results(200)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("listing launch templates' latest and default versions", e))?;
        for v in page.launch_template_versions() {
            let (Some(lt), Some(n)) = (v.launch_template_id(), v.version_number()) else { continue };
            if let Some(ami) = v.launch_template_data().and_then(|d| d.image_id()) {
                let which = if v.default_version() == Some(true) { "default" } else { "latest" };
                in_use.add(ami, format!("launch template {lt} version {n} ({which}) names it"));
            }
        }
    }

    // Every version of each template a group uses.
    for (template, groups) in &used {
        let mut request = ec2.describe_launch_template_versions().resolve_alias(true).max_results(200);
        request = match template.strip_prefix("name:") {
            Some(name) => request.launch_template_name(name),
            None => request.launch_template_id(template),
        };
        let mut pages = request.into_paginator().send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(format!("listing the versions of launch template {template}"), e))?;
            versions.extend(page.launch_template_versions().iter().cloned());
        }
        let latest = versions.iter().filter_map(|v| v.version_number()).max();
        for v in &versions {
            let (Some(n), Some(ami)) = (v.version_number(), v.launch_template_data().and_then(|d| d.image_id())) else { continue };
            let lt = v.launch_template_id().unwrap_or(template);
            for (group, named) in groups {
                let own = named == &n.to_string()
                    || (named == "$Default" && v.default_version() == Some(true))
                    || (named == "$Latest" && Some(n) == latest);
                if own {
                    in_use.add(ami, format!("group {group} launches launch template {lt} version {n}"));
                } else {
                    in_use.add(ami, format!("launch template {lt} version {n}, kept for group {group} to roll back to"));
                }
            }
        }
    }
    Ok(in_use)
}

/// DescribeImageReferences takes at most this many image IDs a call.
pub const REFERENCE_BATCH: usize = 10;

/// Adds the AMIs among `ids` that an SSM parameter names (data type `aws:ec2:image`, the kind
/// `resolve:ssm:` and golden-image pipelines use), one DescribeImageReferences call per 10.
pub async fn ssm_references(ec2: &aws_sdk_ec2::Client, ids: &[String], in_use: &mut InUse) -> Result<()> {
    for batch in ids.chunks(REFERENCE_BATCH) {
        let mut pages = ec2
            .describe_image_references()
            .set_image_ids(Some(batch.to_vec()))
            .resource_types(ResourceTypeRequest::builder().resource_type(ImageReferenceResourceType::SsmParameter).build())
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("looking up SSM parameters that name the AMIs (DescribeImageReferences)", e))?;
            for r in page.image_references() {
                let (Some(ami), Some(arn)) = (r.image_id(), r.arn()) else { continue };
                in_use.add(ami, format!("SSM parameter {arn} names it"));
            }
        }
    }
    Ok(())
}

/// Who else may launch the AMI, from its launch permissions (one DescribeImageAttribute), or
/// `None` when only this account can. Deleting a shared AMI breaks the other accounts'
/// launches, which no lookup of ours can see.
pub async fn shared_with(ec2: &aws_sdk_ec2::Client, ami: &str) -> Result<Option<String>> {
    let out = ec2
        .describe_image_attribute()
        .image_id(ami)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(|e| aws_error(format!("reading the launch permissions of {ami}"), e))?;
    let mut who: Vec<String> = Vec::new();
    for p in out.launch_permissions() {
        if p.group().is_some_and(|g| g.as_str() == "all") {
            who.push("everyone (public)".into());
        }
        who.extend(p.user_id().map(|u| format!("account {u}")));
        who.extend(p.organization_arn().map(|o| format!("organization {o}")));
        who.extend(p.organizational_unit_arn().map(|o| format!("organizational unit {o}")));
    }
    Ok((!who.is_empty()).then(|| format!("shared with {}", who.join(", "))))
}

/// What keeps an AMI that nothing in this account launches from: an SSM parameter naming it
/// (in [`Uses::in_use`]), or other accounts' launch permissions (in [`Uses::shared`]).
#[derive(Debug, Default, Clone)]
pub struct Uses {
    pub in_use: InUse,
    /// AMI ID -> who else may launch it.
    pub shared: BTreeMap<String, String>,
}

/// The lookups that cost calls per AMI, for the AMIs about to be deleted (`ids`): SSM
/// references for all, then, unless `include_shared`, launch permissions for those still
/// unreferenced.
pub async fn screen(ec2: &aws_sdk_ec2::Client, ids: &[String], include_shared: bool, uses: &mut Uses) -> Result<()> {
    ssm_references(ec2, ids, &mut uses.in_use).await?;
    if include_shared {
        return Ok(());
    }
    for id in ids.iter().filter(|id| uses.in_use.reason(id).is_none()) {
        if let Some(who) = shared_with(ec2, id).await? {
            uses.shared.insert(id.clone(), who);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded_and_unique() {
        let mut u = InUse::default();
        for r in ["a", "a", "b", "c", "d"] {
            u.add("ami-1", r);
        }
        assert_eq!(u.reason("ami-1").unwrap(), "a; b; c");
        assert!(u.reason("ami-2").is_none());
    }
}
