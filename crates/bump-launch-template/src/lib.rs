//! `bump-launch-template LAUNCH_TEMPLATE_ID AMI_ID VERSIONS_TO_KEEP`: put a new AMI into a new
//! launch template version, and keep only a bounded number of versions.
//!
//! Replaces the deploy loop's launch template script (the README's table of tools). That
//! script deleted exactly one version
//! (N - KEEP) per run, so any gap left versions piling up, and it could delete the version new
//! ones are copied from. This keeps the newest KEEP versions, plus the default version and the
//! source version wherever they fall, and every version something launches from by number (a
//! pinned Auto Scaling group, an instance refresh in progress: see [`pinned`]), and deletes
//! every other version, oldest first, in batches of 200 (AWS's limit per call).

pub mod pinned;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use anyhow::{bail, Result};
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use clap::Parser;
use common::args::{AmiId, LaunchTemplateId, Version as VersionArg};
use common::cli::PaceArgs;
use common::error::{aws_error, dry_run_ok};
use common::{Context, GlobalArgs, Report, Tool};
use serde::Serialize;

/// AWS deletes at most this many versions in one DeleteLaunchTemplateVersions call.
pub const DELETE_BATCH: usize = 200;

/// Create a launch template version that launches AMI_ID; keep the newest VERSIONS_TO_KEEP.
///
/// The new version copies the source version (1 unless --source-version says otherwise) and
/// changes only the ImageId. Its number is printed on stdout. Versions beyond the newest
/// VERSIONS_TO_KEEP are deleted, except the default version, the source version, a version an
/// Auto Scaling group is pinned to by number, and a version an instance refresh in progress is
/// deploying (`-o json` gives each kept version its reason).
///
/// Example (from buildspec.yml):
///   bump-launch-template "$LAUNCH_TEMPLATE_ID" "$(cat latest_ami_id)" "$VERSIONS_TO_KEEP"
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The launch template to bump (lt- followed by hex digits).
    #[arg(value_name = "LAUNCH_TEMPLATE_ID")]
    pub launch_template_id: LaunchTemplateId,

    /// The AMI the new version launches.
    #[arg(value_name = "AMI_ID")]
    pub ami_id: AmiId,

    /// How many of the newest versions to keep, the new one included: 2 or more.
    #[arg(value_name = "VERSIONS_TO_KEEP", allow_negative_numbers = true)]
    pub versions_to_keep: i64,

    /// The version the new one copies: a number, $Latest or $Default.
    #[arg(long, value_name = "VERSION", default_value = "1")]
    pub source_version: VersionArg,

    /// Make the new version the template's default version.
    #[arg(long)]
    pub set_default: bool,

    /// Check permissions with EC2's DryRun and print what would be deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten, next_help_heading = "Pacing")]
    pub pace: PaceArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// What a bump did.
#[derive(Debug, Serialize)]
pub struct Bumped {
    pub launch_template_id: String,
    pub image_id: String,
    /// The new version's number (in a dry run: the number it would most likely get).
    pub version: i64,
    pub source_version: i64,
    pub default_version: i64,
    pub kept_versions: Vec<i64>,
    /// Every kept version with why it stays.
    pub kept: Vec<Kept>,
    pub deleted_versions: Vec<i64>,
    pub failed_versions: Vec<FailedVersion>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Kept {
    pub version: i64,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct FailedVersion {
    pub version: i64,
    pub code: String,
    pub message: String,
}

impl Report for Bumped {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.version)
    }

    fn failure(&self) -> Option<String> {
        (!self.failed_versions.is_empty()).then(|| {
            let list: Vec<String> = self
                .failed_versions
                .iter()
                .map(|f| format!("{} ({}: {})", f.version, f.code, f.message))
                .collect();
            format!("could not delete launch template versions: {}", list.join(", "))
        })
    }
}

/// A version as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub number: i64,
    pub is_default: bool,
}

/// Which versions stay, each with why (the newest `keep`, the default, `source`, and those in
/// `pinned`), and which go, oldest first.
pub fn plan_versions(versions: &[Version], keep: usize, source: i64, pinned: &BTreeMap<i64, Vec<String>>) -> (BTreeMap<i64, String>, Vec<i64>) {
    let numbers: BTreeSet<i64> = versions.iter().map(|v| v.number).collect();
    let newest: BTreeSet<i64> = numbers.iter().rev().take(keep).copied().collect();
    let mut kept = BTreeMap::new();
    let mut doomed = Vec::new();
    for n in numbers {
        let mut why: Vec<String> = Vec::new();
        if newest.contains(&n) {
            why.push(format!("among the newest {keep}"));
        }
        if versions.iter().any(|v| v.number == n && v.is_default) {
            why.push("the default version".into());
        }
        if n == source {
            why.push("the source of new versions".into());
        }
        why.extend(pinned.get(&n).into_iter().flatten().cloned());
        if why.is_empty() {
            doomed.push(n);
        } else {
            kept.insert(n, why.join("; "));
        }
    }
    (kept, doomed)
}

/// Resolves the source version as given (number, `$Latest`, `$Default`) to a number, knowing
/// the versions as they stood after `new` was created from it.
pub fn resolve_source(source: VersionArg, versions: &[Version], new: i64) -> Option<i64> {
    match source {
        VersionArg::Latest => versions.iter().map(|v| v.number).filter(|n| *n < new).max(),
        VersionArg::Default => versions.iter().find(|v| v.is_default).map(|v| v.number),
        VersionArg::Number(n) => Some(n),
    }
}

impl Tool for Args {
    const NAME: &'static str = "bump-launch-template";
    type Report = Bumped;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    fn rate(&self) -> Option<f64> {
        self.pace.rate
    }

    /// The one check that is not a usage error: the replaced script exited 1 here, and
    /// pipelines may depend on that.
    fn validate(&mut self) -> Result<()> {
        if self.versions_to_keep < 2 {
            bail!("Must keep at least 2 versions of launch template");
        }
        Ok(())
    }

    async fn run(self, ctx: Context) -> Result<Bumped> {
        let ec2 = ctx.ec2();
        let lt = self.launch_template_id.as_str();
        let ami = self.ami_id.as_str();
        let keep = usize::try_from(self.versions_to_keep).unwrap_or(usize::MAX);

        ctx.pacer().wait("CreateLaunchTemplateVersion").await;
        let created = dry_run_ok(ec2
            .create_launch_template_version()
            .launch_template_id(lt)
            .source_version(self.source_version.to_string())
            .version_description(format!("{ami} via bump-launch-template"))
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(ami).build())
            .dry_run(self.dry_run)
            .send()
            .await)
        .map_err(|e| aws_error(format!("creating a version of launch template {lt}"), e))?;
        let new_version = created.as_ref().and_then(|out| out.launch_template_version()).and_then(|v| v.version_number());

        let (versions, lt_name) = list_versions(&ec2, lt).await?;
        let new_version = match new_version {
            Some(n) => n,
            None if self.dry_run => versions.iter().map(|v| v.number).max().unwrap_or(0) + 1,
            None => bail!("creating a version of launch template {lt}: AWS returned no version number"),
        };
        let source = resolve_source(self.source_version, &versions, new_version)
            .unwrap_or(new_version);
        tracing::info!("created version {new_version} of {lt} (from version {source}) with {ami}");

        let mut all = versions.clone();
        if self.dry_run {
            all.push(Version { number: new_version, is_default: false });
        }
        let template = pinned::Template { id: lt, name: lt_name.as_deref() };
        let pinned = pinned::pinned_versions(&ctx.autoscaling(), &template).await?;
        let (mut kept, doomed) = plan_versions(&all, keep, source, &pinned);
        let old_default = all.iter().find(|v| v.is_default).map_or(1, |v| v.number);

        let mut default_version = old_default;
        if self.set_default {
            ctx.pacer().wait("ModifyLaunchTemplate").await;
            dry_run_ok(ec2.modify_launch_template()
                .launch_template_id(lt)
                .default_version(new_version.to_string())
                .dry_run(self.dry_run)
                .send()
                .await)
                .map_err(|e| aws_error(format!("making version {new_version} the default of {lt}"), e))?;
            default_version = new_version;
        }

        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for batch in doomed.chunks(DELETE_BATCH) {
            if self.dry_run {
                deleted.extend_from_slice(batch);
                continue;
            }
            ctx.pacer().wait("DeleteLaunchTemplateVersions").await;
            let out = ec2
                .delete_launch_template_versions()
                .launch_template_id(lt)
                .set_versions(Some(batch.iter().map(i64::to_string).collect()))
                .send()
                .await
                .map_err(|e| aws_error(format!("deleting versions of launch template {lt}"), e))?;
            deleted.extend(out.successfully_deleted_launch_template_versions().iter().filter_map(|v| v.version_number()));
            for item in out.unsuccessfully_deleted_launch_template_versions() {
                let error = item.response_error();
                // Gone already: a retry of a call whose reply was lost, or someone else. The
                // goal, that the version not be there, holds.
                if error.and_then(|e| e.code()).map(|c| c.as_str()) == Some("launchTemplateVersionDoesNotExist") {
                    deleted.extend(item.version_number());
                    continue;
                }
                failed.push(FailedVersion {
                    version: item.version_number().unwrap_or_default(),
                    code: error.and_then(|e| e.code()).map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    message: error.and_then(|e| e.message()).unwrap_or_default().to_owned(),
                });
            }
        }
        if deleted.is_empty() {
            tracing::info!("no launch template version to delete");
        } else {
            tracing::info!("deleted versions {:?} of {lt}", deleted);
        }
        let gone: BTreeSet<i64> = deleted.iter().copied().collect();
        let kept_versions: Vec<i64> = all.iter().map(|v| v.number).filter(|n| !gone.contains(n)).collect();
        // A version that failed to delete stays too; say why.
        let kept: Vec<Kept> = kept_versions
            .iter()
            .map(|&n| Kept { version: n, reason: kept.remove(&n).unwrap_or_else(|| "could not be deleted".into()) })
            .collect();

        Ok(Bumped {
            launch_template_id: lt.to_owned(),
            image_id: ami.to_owned(),
            version: new_version,
            source_version: source,
            default_version,
            kept_versions,
            kept,
            deleted_versions: deleted,
            failed_versions: failed,
            dry_run: self.dry_run,
        })
    }
}

/// Every version of the template, every page, oldest first, and the template's name.
async fn list_versions(ec2: &aws_sdk_ec2::Client, lt: &str) -> Result<(Vec<Version>, Option<String>)> {
    let mut pages = ec2
        .describe_launch_template_versions()
        .launch_template_id(lt)
        .max_results(200)
        .into_paginator()
        .send();
    let mut versions = Vec::new();
    let mut name = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("listing the versions of launch template {lt}"), e))?;
        name = name.or_else(|| page.launch_template_versions().iter().find_map(|v| v.launch_template_name().map(str::to_owned)));
        versions.extend(page.launch_template_versions().iter().filter_map(|v| {
            Some(Version { number: v.version_number()?, is_default: v.default_version().unwrap_or(false) })
        }));
    }
    versions.sort_by_key(|v| v.number);
    Ok((versions, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(numbers: &[i64], default: i64) -> Vec<Version> {
        numbers.iter().map(|&number| Version { number, is_default: number == default }).collect()
    }

    fn versions_to_delete(v: &[Version], keep: usize, source: i64) -> Vec<i64> {
        plan_versions(v, keep, source, &BTreeMap::new()).1
    }

    #[test]
    fn keeps_newest_plus_default_and_source_after_gaps() {
        // Versions 1..=10 with gaps, default 1, source 1, keep 3.
        let v = versions(&[1, 2, 3, 5, 6, 9, 10, 12], 1);
        assert_eq!(versions_to_delete(&v, 3, 1), vec![2, 3, 5, 6]);
    }

    #[test]
    fn source_and_default_are_kept_wherever_they_fall() {
        let v = versions(&[1, 2, 3, 4, 5, 6], 2);
        assert_eq!(versions_to_delete(&v, 2, 3), vec![1, 4]);
    }

    #[test]
    fn nothing_to_delete_when_few_versions() {
        assert!(versions_to_delete(&versions(&[1, 2], 1), 2, 1).is_empty());
    }

    #[test]
    fn pinned_versions_are_kept_with_every_reason() {
        let v = versions(&[1, 2, 3, 4, 5, 6], 1);
        let pinned = BTreeMap::from([
            (2, vec!["group web launches it".to_owned()]),
            (3, vec!["group a launches it".to_owned(), "instance refresh r of group a (InProgress) deploys it".to_owned()]),
            (6, vec!["group b launches it".to_owned()]),
        ]);
        let (kept, doomed) = plan_versions(&v, 2, 1, &pinned);
        assert_eq!(doomed, vec![4]);
        assert_eq!(kept[&1], "the default version; the source of new versions");
        assert_eq!(kept[&2], "group web launches it");
        assert_eq!(kept[&3], "group a launches it; instance refresh r of group a (InProgress) deploys it");
        assert_eq!(kept[&6], "among the newest 2; group b launches it");
    }

    #[test]
    fn resolves_symbolic_sources() {
        let v = versions(&[1, 4, 7, 8], 4);
        assert_eq!(resolve_source(VersionArg::Latest, &v, 8), Some(7));
        assert_eq!(resolve_source(VersionArg::Default, &v, 8), Some(4));
        assert_eq!(resolve_source(VersionArg::Number(1), &v, 8), Some(1));
    }
}
