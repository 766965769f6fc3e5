//! `bump-launch-template LAUNCH_TEMPLATE_ID AMI_ID VERSIONS_TO_KEEP`: put a new AMI into a new
//! launch template version, and keep only a bounded number of versions.
//!
//! Replaces the deploy loop's launch template script (the README's table of tools). That
//! script deleted exactly one version
//! (N - KEEP) per run, so any gap left versions piling up, and it could delete the version new
//! ones are copied from. This keeps the newest KEEP versions, plus the default version and the
//! source version wherever they fall, and every version something launches from by number (a
//! pinned Auto Scaling group, an instance refresh in progress: see [`pinned`]), and deletes
//! every other version, oldest first, in batches of 200 (AWS's limit per call). An AMI that
//! cannot launch where the template and its groups would launch it is refused before any
//! version is made ([`fit`]).

pub mod fit;
pub mod order;
pub mod pinned;
pub mod report;
pub mod requirements;
pub mod versions;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use aws_sdk_ec2::types::{LaunchTemplateErrorCode, RequestLaunchTemplateData};
use clap::Parser;
use common::aws::consistency::CatchUp;
use common::aws::error::{aws_error, dry_run_ok, Code};
use common::aws::ids::{AmiId, LaunchTemplateId, Version as VersionArg};
use common::groups::launches::{list_groups, Group};
use common::images::ami::describe_one;
use common::{Context, GlobalArgs, Plan, Tool};
pub use versions::{plan_versions, resolve_source, Version};

/// AWS deletes at most this many versions in one DeleteLaunchTemplateVersions call.
pub const DELETE_BATCH: usize = 200;

pub use crate::report::{Bumped, FailedVersion, Kept};

/// Create a launch template version that launches AMI_ID; keep the newest VERSIONS_TO_KEEP.
///
/// The new version copies the source version (1 unless --source-version says otherwise) and
/// changes only the ImageId. Its number is printed on stdout. Versions beyond the newest
/// VERSIONS_TO_KEEP are deleted, except the default version, the source version, a version an
/// Auto Scaling group is pinned to by number, and a version an instance refresh in progress is
/// deploying (`-o json` gives each kept version its reason).
///
/// Before any version is made, the AMI must be able to launch where the new version would
/// launch it: available (not pending or disabled), and fitting every instance type the
/// template and the groups on it (their overrides too) name, in architecture, boot mode and
/// ENA support; where types are chosen by attributes, EC2 must know one that the requirements
/// allow and that runs the AMI's architecture. A mismatch exits 1 with one line naming it, and
/// nothing is changed. Nor is an AMI of an older build of the branch than the one the
/// template's latest or default version runs (by Packer's timestamp tag, else creation date)
/// put in, unless --allow-older: two builds finishing out of order leave the newer deployed.
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

    /// Allow an AMI of an older build of the branch than the one the template's latest or
    /// default version runs: a deliberate rollback. Without it such a bump exits 1.
    #[arg(long)]
    pub allow_older: bool,

    /// Check permissions with EC2's DryRun and print what would be deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A bump to make, from the arguments: the template, the AMI, how many versions to keep, the
/// version to copy, and what else to do.
#[derive(Debug)]
pub struct Bump {
    pub launch_template_id: LaunchTemplateId,
    pub ami_id: AmiId,
    /// 2 or more.
    pub versions_to_keep: usize,
    pub source_version: VersionArg,
    pub set_default: bool,
    pub allow_older: bool,
    pub dry_run: bool,
}

impl Tool for Args {
    const NAME: &'static str = "bump-launch-template";
    const PACED: bool = true;
    type Plan = Bump;

    /// The one check that is not a usage error: the replaced script exited 1 here, and
    /// pipelines may depend on that.
    fn prepare(self, _: &GlobalArgs) -> Result<Bump> {
        if self.versions_to_keep < 2 {
            bail!("Must keep at least 2 versions of launch template");
        }
        Ok(Bump {
            launch_template_id: self.launch_template_id,
            ami_id: self.ami_id,
            versions_to_keep: usize::try_from(self.versions_to_keep).unwrap_or(usize::MAX),
            source_version: self.source_version,
            set_default: self.set_default,
            allow_older: self.allow_older,
            dry_run: self.dry_run,
        })
    }
}

/// What a bump found before it changed anything: the template's versions, the versions groups
/// and their refreshes pin, and what the AMI's fit could not be checked against.
struct Looked {
    listed: versions::Listed,
    pinned: BTreeMap<i64, Vec<String>>,
    notes: Vec<String>,
}

impl Plan for Bump {
    type Report = Bumped;

    async fn run(self, ctx: Context) -> Result<Bumped> {
        let (lt, ami) = (self.launch_template_id.as_str(), self.ami_id.as_str());
        let Looked { listed, pinned, notes } = self.look(&ctx).await?;
        let new_version = self.create(&ctx, &listed).await?;
        let mut all = listed.versions.clone();
        if !all.iter().any(|v| v.number == new_version) {
            all.push(Version { number: new_version, is_default: false });
        }
        let source = resolve_source(self.source_version, &all, new_version).unwrap_or(new_version);
        tracing::info!("created version {new_version} of {lt} (from version {source}) with {ami}");

        let (mut kept, doomed) = plan_versions(&all, self.versions_to_keep, source, &pinned);
        let old_default = all.iter().find(|v| v.is_default).map_or(1, |v| v.number);
        let (default_version, (deleted, failed)) = self.default_and_deletes(&ctx, new_version, old_default, &doomed).await?;
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
            not_checked: notes,
            dry_run: self.dry_run,
        })
    }
}

impl Bump {
    /// Everything a bump checks before it makes a version. What the new version would launch,
    /// and where (the AMI, the template's versions and every group) are looked up at the same
    /// time; then, at the same time, whether the AMI fits where the version would launch it,
    /// whether it is older than what the template runs, and which versions groups and their
    /// refreshes pin (the versions to delete are chosen from these).
    async fn look(&self, ctx: &Context) -> Result<Looked> {
        let ec2 = ctx.ec2();
        let (lt, ami) = (self.launch_template_id.as_str(), self.ami_id.as_str());
        let asg = ctx.autoscaling();
        let (image, listed, groups) =
            futures::try_join!(describe_one(&ec2, ami), versions::list_versions(&ec2, lt), list_groups(&asg, &[]))?;
        let Some(image) = image else { bail!("{ami} does not exist (InvalidAMIID.NotFound): no version created") };
        let template = pinned::Template { id: lt, name: listed.name.as_deref() };
        // Then, at the same time: whether the AMI fits where the version would launch it,
        // whether it is older than what the template runs, and which versions groups and
        // their refreshes pin (the versions to delete are chosen from these).
        let order = async {
            if self.allow_older {
                Ok(())
            } else {
                order::check(&ec2, &image, &listed).await
            }
        };
        let (notes, (), mut pinned, targets) = futures::try_join!(
            self.check_fit(&ec2, &image, &template, &listed, &groups),
            order,
            pinned::pinned_versions(&asg, &template, &groups),
            pinned::rollback_targets(&ec2, &template, &listed, &groups)
        )?;
        for (n, why) in targets {
            pinned.entry(n).or_default().extend(why);
        }
        Ok(Looked { listed, pinned, notes })
    }

    /// The new default (with --set-default; else the old default stays) and the deletes at the
    /// same time, unless the old default is to be deleted: EC2 refuses to delete the default
    /// version, so it must stop being one first. Returns the default version and the deletes'
    /// outcome.
    async fn default_and_deletes(
        &self,
        ctx: &Context,
        new_version: i64,
        old_default: i64,
        doomed: &[i64],
    ) -> Result<(i64, (Vec<i64>, Vec<FailedVersion>))> {
        let (ec2, lt) = (ctx.ec2(), self.launch_template_id.as_str());
        let make_default = async {
            if !self.set_default {
                return Ok(old_default);
            }
            // EC2 may not know the version it has just made: asked again while it says so.
            let mut catch_up = CatchUp::default();
            loop {
                let sent = ec2
                    .modify_launch_template()
                    .launch_template_id(lt)
                    .default_version(new_version.to_string())
                    .dry_run(self.dry_run)
                    .send()
                    .await;
                match dry_run_ok(sent) {
                    Ok(_) => return Ok::<_, anyhow::Error>(new_version),
                    Err(e)
                        if !self.dry_run
                            && Code::of(&e) == Some(Code::LaunchTemplateVersionNotFound)
                            && catch_up
                                .again(&format!("version {new_version} of {lt}"), "InvalidLaunchTemplateId.VersionNotFound")
                                .await => {}
                    Err(e) => return Err(aws_error(format!("making version {new_version} the default of {lt}"), e)),
                }
            }
        };
        if self.set_default && doomed.contains(&old_default) {
            let default_version = make_default.await?;
            Ok((default_version, self.delete_versions(ctx, doomed).await?))
        } else {
            futures::try_join!(make_default, self.delete_versions(ctx, doomed))
        }
    }

    /// Refuses (exit 1, before any version is made) an AMI that cannot launch where the new
    /// version would launch it ([`fit`]); returns what could not be checked.
    async fn check_fit(
        &self,
        ec2: &aws_sdk_ec2::Client,
        image: &common::Ami,
        template: &pinned::Template<'_>,
        listed: &versions::Listed,
        groups: &[Group],
    ) -> Result<Vec<String>> {
        let source = resolve_source(self.source_version, &listed.versions, i64::MAX);
        let (own, requirements) = source.and_then(|n| listed.instance_types.get(&n)).cloned().unwrap_or_default();
        let mut targets = fit::targets(template, own.as_deref(), requirements.as_ref(), groups);
        if let Some(why) = fit::unlaunchable(image) {
            bail!("{why}: no version created");
        }
        // Each instance type it would run on, and the requirements that choose them.
        let names: Vec<String> = targets.types.keys().cloned().collect();
        let by_attributes = fit::attribute_mismatches(ec2, image, &targets.requirements);
        let types = async {
            if names.is_empty() {
                Ok(BTreeMap::new())
            } else {
                fit::describe_types(ec2, &names).await
            }
        };
        let (types, (attributes, notes)) = futures::try_join!(types, by_attributes)?;
        let mut wrong = fit::mismatches(image, &targets, &types);
        wrong.extend(attributes);
        targets.notes.extend(notes);
        if !wrong.is_empty() {
            bail!("{}: no version created", wrong.join("; "));
        }
        for note in &targets.notes {
            tracing::warn!("{note}");
        }
        Ok(targets.notes)
    }

    /// Creates the new version (in a dry run, asks EC2 whether it may) and returns its number
    /// (in a dry run, the number it would most likely get).
    async fn create(&self, ctx: &Context, listed: &versions::Listed) -> Result<i64> {
        let (lt, ami) = (self.launch_template_id.as_str(), self.ami_id.as_str());
        let created = dry_run_ok(
            ctx.ec2()
                .create_launch_template_version()
                .launch_template_id(lt)
                .source_version(self.source_version.to_string())
                .version_description(format!("{ami} via bump-launch-template"))
                .launch_template_data(RequestLaunchTemplateData::builder().image_id(ami).build())
                .dry_run(self.dry_run)
                .send()
                .await,
        )
        .map_err(|e| aws_error(format!("creating a version of launch template {lt}"), e))?;
        match created.as_ref().and_then(|out| out.launch_template_version()).and_then(|v| v.version_number()) {
            Some(n) => Ok(n),
            None if self.dry_run => Ok(listed.versions.iter().map(|v| v.number).max().unwrap_or(0) + 1),
            None => bail!("creating a version of launch template {lt}: AWS returned no version number"),
        }
    }

    /// Deletes `doomed`, 200 a call; returns the versions gone and those that failed.
    async fn delete_versions(&self, ctx: &Context, doomed: &[i64]) -> Result<(Vec<i64>, Vec<FailedVersion>)> {
        let lt = self.launch_template_id.as_str();
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for batch in doomed.chunks(DELETE_BATCH) {
            if self.dry_run {
                deleted.extend_from_slice(batch);
                continue;
            }
            let out = ctx
                .ec2()
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
                if error.and_then(|e| e.code()) == Some(&LaunchTemplateErrorCode::LaunchTemplateVersionDoesNotExist) {
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
        Ok((deleted, failed))
    }
}
