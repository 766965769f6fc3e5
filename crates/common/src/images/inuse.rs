//! Which AMIs something still launches from. An AMI is in use when:
//! - an instance that is pending, running, stopping or stopped runs it;
//! - the default or latest version of any launch template names it;
//! - any version of a launch template that an Auto Scaling group launches from names it
//!   (the group's own template, its mixed instances policy's, or an override's own: see
//!   [`crate::groups::launches`]; the group's version, or one kept as its way back, which
//!   `bump-launch-template`'s VERSIONS_TO_KEEP bounds);
//! - any of those template versions reaches it through `resolve:ssm:NAME` (the describes ask
//!   EC2 to resolve the alias, `ResolveAlias`, so the AMI ID comes back instead of the name);
//! - a launch configuration names it (a group on it launches it; one no group uses yet may
//!   be attached to one);
//! - an SSM parameter names it, or an EC2 Image Builder image or container recipe builds on
//!   it ([`references`]).
//!
//! [`find`] is a fixed number of paged describes, whatever the number of AMIs, made at the
//! same time: instances, groups, launch configurations, every template's `$Latest` and
//! `$Default` in one call, and the versions of each template a group names. [`references`]
//! costs one DescribeImageReferences per 10 AMIs asked about (a few at once), and [`shared_with`] one
//! DescribeImageAttribute per AMI: callers ask only about the AMIs they are about to delete.
//!
//! What no lookup here can see: other accounts' use of an AMI shared with them. A shared AMI
//! is kept unless `--include-shared`, or unless every account it is shared with was looked up
//! too, through a role ([`find`] in each: `prune-amis --targets`).

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_ec2::types::{Filter, ImageReferenceResourceType, LaunchTemplateVersion, ResourceTypeRequest};
use futures::{StreamExt, TryStreamExt};

use crate::aws::error::{aws_error, Code};
use crate::groups::launches::{self, Slot, TemplateUse};
use crate::groups::templates::TemplateRef;

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

    /// The same uses, each reason naming the account it was found in (a lookup through a role).
    pub fn in_account(self, account: &str) -> InUse {
        let reasons = self
            .reasons
            .into_iter()
            .map(|(ami, list)| (ami, list.into_iter().map(|r| format!("in account {account}, {r}")).collect()))
            .collect();
        InUse { reasons }
    }

    /// Adds `other`'s reasons after this one's.
    pub fn merge(&mut self, other: InUse) {
        for (ami, reasons) in other.reasons {
            for reason in reasons {
                self.add(ami.clone(), reason);
            }
        }
    }
}

/// Looks up every use of every AMI in the account and Region. The lookups run at the same
/// time: instances; every template's latest and default versions; the groups with their
/// launch configurations, then the versions of each template a group names.
pub async fn find(ec2: &aws_sdk_ec2::Client, asg: &aws_sdk_autoscaling::Client) -> Result<InUse> {
    let (instances, latest, groups) = futures::try_join!(instances(ec2), latest_and_default(ec2), from_groups(ec2, asg))?;
    let mut in_use = instances;
    in_use.merge(latest);
    in_use.merge(groups);
    Ok(in_use)
}

/// The AMIs that instances in a state that can run (pending, running, stopping, stopped) run.
async fn instances(ec2: &aws_sdk_ec2::Client) -> Result<InUse> {
    let mut in_use = InUse::default();
    let mut pages = ec2
        .describe_instances()
        .filters(
            Filter::builder().name("instance-state-name").values("pending").values("running").values("stopping").values("stopped").build(),
        )
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
    Ok(in_use)
}

/// Every template's latest and default versions, in one paged call.
async fn latest_and_default(ec2: &aws_sdk_ec2::Client) -> Result<InUse> {
    let mut in_use = InUse::default();
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
    Ok(in_use)
}

/// How many templates' versions are listed at the same time.
const LISTINGS_AT_ONCE: usize = 8;

/// What the groups launch from ([`crate::groups::launches`]): every version of each template a group
/// names (its own, its policy's, an override's), and every launch configuration's AMI.
async fn from_groups(ec2: &aws_sdk_ec2::Client, asg: &aws_sdk_autoscaling::Client) -> Result<InUse> {
    let (groups, configurations) = futures::try_join!(launches::list_groups(asg, &[]), launches::list_launch_configurations(asg))?;
    let mut in_use = InUse::default();
    // Template -> the groups naming it, each with how it names it.
    let mut used: BTreeMap<&TemplateRef, Vec<(&str, &TemplateUse)>> = BTreeMap::new();
    for group in &groups {
        for u in &group.templates {
            used.entry(&u.template).or_default().push((group.name.as_str(), u));
        }
    }
    // A few at a time: an account may have many templates, and describes share one bucket.
    let listings: Vec<Vec<LaunchTemplateVersion>> =
        futures::stream::iter(used.keys().map(|t| versions_of(ec2, t))).buffered(LISTINGS_AT_ONCE).try_collect().await?;
    for ((_, users), versions) in used.iter().zip(listings) {
        let latest = versions.iter().filter_map(|v| v.version_number()).max();
        for v in &versions {
            let (Some(n), Some(ami)) = (v.version_number(), v.launch_template_data().and_then(|d| d.image_id())) else { continue };
            let lt = v.launch_template_id().unwrap_or("?");
            for (group, u) in users {
                let launches = u.version == n.to_string()
                    || (u.version == "$Default" && v.default_version() == Some(true))
                    || (u.version == "$Latest" && Some(n) == latest);
                let how = match u.slot {
                    Slot::Override { index } => format!(" (override {})", index + 1),
                    _ => String::new(),
                };
                if launches {
                    in_use.add(ami, format!("group {group} launches launch template {lt} version {n}{how}"));
                } else {
                    in_use.add(ami, format!("launch template {lt} version {n}, kept for group {group} to roll back to"));
                }
            }
        }
    }
    for lc in &configurations {
        let users: Vec<&str> =
            groups.iter().filter(|g| g.launch_configuration.as_ref() == Some(&lc.name)).map(|g| g.name.as_str()).collect();
        if users.is_empty() {
            in_use.add(&lc.image_id, format!("launch configuration {} names it", lc.name));
        }
        for group in users {
            in_use.add(&lc.image_id, format!("group {group} launches launch configuration {}", lc.name));
        }
    }
    Ok(in_use)
}

/// Every version of one template, every page, with `resolve:ssm:` aliases resolved. A
/// template a group names that no longer exists has no versions (the group cannot launch;
/// that is for its owner to mend, not a reason to stop).
async fn versions_of(ec2: &aws_sdk_ec2::Client, template: &TemplateRef) -> Result<Vec<LaunchTemplateVersion>> {
    let request = ec2.describe_launch_template_versions().resolve_alias(true).max_results(200);
    let request = match template {
        TemplateRef::Id(id) => request.launch_template_id(id),
        TemplateRef::Name(name) => request.launch_template_name(name),
    };
    let mut pages = request.into_paginator().send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => versions.extend(page.launch_template_versions().iter().cloned()),
            Err(e) if Code::of(&e).is_some_and(Code::template_missing) => {
                tracing::warn!("launch template {template}, which a group names, does not exist");
                return Ok(Vec::new());
            }
            Err(e) => return Err(aws_error(format!("listing the versions of launch template {template}"), e)),
        }
    }
    Ok(versions)
}

/// DescribeImageReferences takes at most this many image IDs a call.
pub const REFERENCE_BATCH: usize = 10;

/// Adds the AMIs among `ids` that an SSM parameter names (data type `aws:ec2:image`, the kind
/// `resolve:ssm:` and golden-image pipelines use) or an EC2 Image Builder image or container
/// recipe builds on: one DescribeImageReferences call per 10 AMIs asks for all three.
pub async fn references(ec2: &aws_sdk_ec2::Client, ids: &[String], in_use: &mut InUse) -> Result<()> {
    let asked = [
        ImageReferenceResourceType::SsmParameter,
        ImageReferenceResourceType::ImageBuilderImageRecipe,
        ImageReferenceResourceType::ImageBuilderContainerRecipe,
    ];
    // The batches at the same time, a few at once (the describes share one bucket).
    let batches = ids.chunks(REFERENCE_BATCH).map(|batch| {
        let mut pages = ec2
            .describe_image_references()
            .set_image_ids(Some(batch.to_vec()))
            .set_resource_types(Some(asked.iter().map(|t| ResourceTypeRequest::builder().resource_type(t.clone()).build()).collect()))
            .max_results(1000)
            .into_paginator()
            .send();
        async move {
            let mut found = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    aws_error("looking up SSM parameters and Image Builder recipes that name the AMIs (DescribeImageReferences)", e)
                })?;
                for r in page.image_references() {
                    let (Some(ami), Some(arn)) = (r.image_id(), r.arn()) else { continue };
                    found.push((ami.to_owned(), reference_reason(r.resource_type(), arn)));
                }
            }
            Ok::<_, anyhow::Error>(found)
        }
    });
    let found: Vec<Vec<(String, String)>> = futures::stream::iter(batches).buffered(LISTINGS_AT_ONCE).try_collect().await?;
    for (ami, reason) in found.into_iter().flatten() {
        in_use.add(ami, reason);
    }
    Ok(())
}

/// Why a reference DescribeImageReferences reports keeps the AMI.
fn reference_reason(kind: Option<&ImageReferenceResourceType>, arn: &str) -> String {
    match kind {
        Some(ImageReferenceResourceType::SsmParameter) => format!("SSM parameter {arn} names it"),
        Some(ImageReferenceResourceType::ImageBuilderImageRecipe) => format!("Image Builder image recipe {arn} builds on it"),
        Some(ImageReferenceResourceType::ImageBuilderContainerRecipe) => format!("Image Builder container recipe {arn} builds on it"),
        Some(other) => format!("{} {arn} references it", other.as_str()),
        None => format!("{arn} references it"),
    }
}

/// Who else may launch an AMI, from its launch permissions: accounts by ID, and the grants no
/// account lookup can cover (the public, organizations, organizational units).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sharing {
    pub accounts: Vec<String>,
    /// "everyone (public)", "organization ARN", "organizational unit ARN".
    pub beyond_accounts: Vec<String>,
}

impl Sharing {
    /// Who may launch it besides the accounts in `checked` (whose uses were looked up), as a
    /// reason to keep it, or `None` when nobody else may.
    pub fn beyond(&self, checked: &[String]) -> Option<String> {
        let mut who: Vec<String> = self.beyond_accounts.clone();
        who.extend(self.accounts.iter().filter(|a| !checked.contains(a)).map(|a| format!("account {a}")));
        (!who.is_empty()).then(|| format!("shared with {}", who.join(", ")))
    }
}

/// Who else may launch the AMI, from its launch permissions (one DescribeImageAttribute,
/// paced: a prune reads one per AMI). Deleting a shared AMI breaks the other accounts'
/// launches, which only a lookup in each of those accounts can see (`prune-amis --targets`).
pub async fn shared_with(ec2: &aws_sdk_ec2::Client, ami: &str) -> Result<Sharing> {
    let out = ec2
        .describe_image_attribute()
        .image_id(ami)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(|e| aws_error(format!("reading the launch permissions of {ami}"), e))?;
    let mut sharing = Sharing::default();
    for p in out.launch_permissions() {
        if p.group().is_some_and(|g| g.as_str() == "all") {
            sharing.beyond_accounts.push("everyone (public)".into());
        }
        sharing.accounts.extend(p.user_id().map(str::to_owned));
        sharing.beyond_accounts.extend(p.organization_arn().map(|o| format!("organization {o}")));
        sharing.beyond_accounts.extend(p.organizational_unit_arn().map(|o| format!("organizational unit {o}")));
    }
    Ok(sharing)
}

/// What keeps an AMI that nothing in this account launches from: an SSM parameter or an
/// Image Builder recipe naming it (in [`Uses::in_use`]), or other accounts' launch
/// permissions (in [`Uses::shared`]).
#[derive(Debug, Default, Clone)]
pub struct Uses {
    pub in_use: InUse,
    /// AMI ID -> who else may launch it.
    pub shared: BTreeMap<String, String>,
}

/// The lookups that cost calls per AMI, for the AMIs about to be deleted (`ids`), at the same
/// time: SSM and recipe references for all and, unless `include_shared`, launch permissions
/// (one read an AMI, a few at once). Run beside [`find`], they cost one round
/// trip instead of one after another; the reads of an AMI that a reference or a use then
/// keeps are the price.
pub async fn screen(ec2: &aws_sdk_ec2::Client, ids: &[String], include_shared: bool) -> Result<Uses> {
    let mut uses = Uses::default();
    let reads = async {
        if include_shared {
            return Ok(Vec::new());
        }
        futures::stream::iter(
            ids.iter().map(|id| async move { Ok::<_, anyhow::Error>((id.clone(), shared_with(ec2, id).await?.beyond(&[]))) }),
        )
        .buffered(LISTINGS_AT_ONCE)
        .try_collect::<Vec<_>>()
        .await
    };
    let (referenced, read) = futures::join!(references(ec2, ids, &mut uses.in_use), reads);
    referenced?;
    uses.shared.extend(read?.into_iter().filter_map(|(id, who)| who.map(|who| (id, who))));
    Ok(uses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_beyond_the_checked_accounts() {
        let only_accounts = Sharing { accounts: vec!["111122223333".into(), "222233334444".into()], beyond_accounts: vec![] };
        assert_eq!(only_accounts.beyond(&[]).unwrap(), "shared with account 111122223333, account 222233334444");
        assert_eq!(only_accounts.beyond(&["222233334444".into()]).unwrap(), "shared with account 111122223333");
        assert_eq!(only_accounts.beyond(&["111122223333".into(), "222233334444".into()]), None, "every one checked");
        let organization =
            Sharing { accounts: vec![], beyond_accounts: vec!["organization arn:aws:organizations::1:organization/o-1".into()] };
        assert!(organization.beyond(&["111122223333".into()]).unwrap().contains("organization"), "no account check covers it");
        assert_eq!(Sharing::default().beyond(&[]), None);
    }

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
