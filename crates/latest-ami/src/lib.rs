//! `latest-ami BRANCH`: the newest AMI of a branch that is ready to launch.
//!
//! Replaces the deploy loop's "latest AMI" script (the README's table of tools). Like it, the
//! ID goes to stdout and to the file `latest_ami_id`, which the buildspec's next step reads;
//! unlike it, the file is replaced, not appended to, so a retried build still leaves exactly
//! one ID in it, and only `available`, undeprecated images are considered, so a half-built or
//! retired image is never deployed.

pub mod build;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use common::deploy::regions::{check_known, list_in_each, RegionList};
use common::images::verdict::{deployable, NotDeployable};
use common::{list_amis, Context, GlobalArgs, Plan, RegionsArgs, Report, Scope, TagArgs, Tool};
use serde::Serialize;

use common::images::builds::{describe, pick, Picked};

use crate::build::Build;

/// Print the newest available AMI of a branch and write its ID to a file.
///
/// Lists this account's AMIs tagged branch=BRANCH and every --tag (every page), keeps those in
/// state available (so never a disabled one) and not deprecated, and picks the one with the
/// latest CreationDate (ties broken by ImageId). An AMI that verify-ami failed (its tag
/// verification=failed) is never picked, and passed over with a warning; with --verified only
/// an AMI it passed is.
///
/// Example (from buildspec.yml):  latest-ami "$BRANCH"   then   "$(cat latest_ami_id)"
///
/// With --regions it picks one build (the AMIs Packer copied under one name) for all the
/// Regions: the newest whose copy is available and undeprecated in every one of them. A newer
/// build still pending somewhere is passed over, and said so on stderr. It prints, and writes
/// to the file, one line per Region, `REGION AMI_ID`, in the order given.
///
/// Example (one build for two Regions):  latest-ami --regions us-east-1,eu-west-1 main
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The value of the AMI's `branch` tag, as Packer set it.
    #[arg(value_name = "BRANCH")]
    pub branch: String,

    #[command(flatten)]
    pub tags: TagArgs,

    /// Pick only an AMI that verify-ami passed (an AMI it failed is never picked).
    #[arg(long)]
    pub verified: bool,

    /// Where to write the ID (the file is replaced; it holds the ID and a newline; with
    /// --regions, a line `REGION AMI_ID` for each Region).
    #[arg(long, value_name = "PATH", default_value = "latest_ami_id")]
    pub output_file: PathBuf,

    #[command(flatten)]
    pub regions: RegionsArgs,
}

/// What to pick, made once from the arguments: the AMIs' scope, whether only a verified one
/// will do, where the answer goes, and the Regions of one build (`--regions`).
#[derive(Debug)]
pub struct Pick {
    scope: Scope,
    verified: bool,
    output_file: PathBuf,
    regions: Option<RegionList>,
}

/// The newest available AMI of the branch.
#[derive(Debug, Serialize)]
pub struct Latest {
    pub image_id: String,
    pub name: Option<String>,
    pub creation_date: String,
    pub branch: String,
    /// The other tags the AMI had to carry (--tag).
    pub tags: std::collections::BTreeMap<String, String>,
}

impl Report for Latest {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.image_id)
    }
}

/// One Region's newest AMI, or one build's AMI in each of several Regions.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Found {
    One(Latest),
    Many(Build),
}

impl Report for Found {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Found::One(r) => r.write_text(out),
            Found::Many(r) => r.write_text(out),
        }
    }
}

impl Tool for Args {
    const NAME: &'static str = "latest-ami";
    type Plan = Pick;

    fn prepare(self, _: &GlobalArgs) -> Result<Pick> {
        Ok(Pick {
            scope: Scope::new(&self.branch, &self.tags.tags)?,
            verified: self.verified,
            output_file: self.output_file,
            regions: self.regions.regions,
        })
    }
}

impl Plan for Pick {
    type Report = Found;

    fn fallback_region(&self) -> Option<&str> {
        self.regions.as_ref().map(RegionList::first)
    }

    async fn run(self, ctx: Context) -> Result<Found> {
        match self.regions.clone() {
            None => self.latest(ctx).await.map(Found::One),
            Some(regions) => self.one_build(ctx, &regions).await.map(Found::Many),
        }
    }
}

impl Pick {
    /// The newest AMI in the context's Region.
    async fn latest(self, ctx: Context) -> Result<Latest> {
        let scope = self.scope;
        let amis = list_amis(&ctx.ec2(), &scope, true).await?;
        let now = std::time::SystemTime::now();
        let verified_only = self.verified;
        let Some(newest) = amis.into_iter().rev().find(|a| match deployable(a, now, verified_only) {
            Ok(()) => true,
            Err(NotDeployable::FailedVerification(reason)) => {
                tracing::warn!("passing over {}: its verification failed ({reason})", a.image_id);
                false
            }
            Err(NotDeployable::Deprecated) => {
                tracing::info!("skipping {}: deprecated since {}", a.image_id, a.deprecation_time.as_deref().unwrap_or("?"));
                false
            }
            Err(NotDeployable::NotVerified) => {
                tracing::info!("skipping {}: not verified (--verified)", a.image_id);
                false
            }
            Err(why) => {
                tracing::info!("skipping {}: {why}", a.image_id);
                false
            }
        }) else {
            let with = scope.tags.iter().map(|(k, v)| format!(" {k}={v:?}")).collect::<String>();
            let verified = if verified_only { ", verified" } else { "" };
            bail!("no available, undeprecated{verified} AMI is tagged branch={:?}{with}", scope.branch);
        };
        write_id_file(&self.output_file, &newest.image_id)?;
        tracing::info!("newest AMI of {scope}: {} ({})", newest.image_id, newest.creation_date);
        Ok(Latest {
            image_id: newest.image_id,
            name: newest.name,
            creation_date: newest.creation_date,
            branch: scope.branch,
            tags: scope.tags,
        })
    }

    /// The newest build available in every Region, and its AMI in each.
    async fn one_build(self, ctx: Context, regions: &RegionList) -> Result<Build> {
        let scope = self.scope;
        check_known(&ctx.ec2(), regions).await?;
        let mut listed = Vec::new();
        for (region, listing) in list_in_each(&ctx, regions, &scope).await {
            let amis = listing.with_context(|| format!("in {region}"))?;
            listed.push((region, amis));
        }
        match pick(regions.names(), &listed, std::time::SystemTime::now(), self.verified) {
            Picked::Build { name, created, images, passed_over } => {
                for newer in &passed_over {
                    tracing::warn!("passing over build {}, which is not ready everywhere ({}); deploying {name}, the newest build available in every Region", newer.name, describe(&newer.not_ready));
                }
                let build = Build {
                    name,
                    creation_date: created,
                    branch: scope.branch.clone(),
                    tags: scope.tags.clone(),
                    images: images.iter().cloned().collect(),
                    passed_over,
                    order: images,
                };
                write_file(&self.output_file, &build.lines())?;
                tracing::info!("build {} of {scope} in {} Regions", build.name, build.order.len());
                Ok(build)
            }
            Picked::None { newest } => {
                let why = match newest.first() {
                    None => "there are none".to_owned(),
                    Some(b) => format!("the newest, {}, is {}", b.name, describe(&b.not_ready)),
                };
                bail!("no build of {scope} is available in every one of {regions}: {why}");
            }
        }
    }
}

/// Replaces `path` with the ID: written to a temporary file beside it, then renamed over it,
/// so a reader never sees a half-written or doubled file.
pub fn write_id_file(path: &Path, id: &str) -> Result<()> {
    write_file(path, &format!("{id}\n"))
}

/// Replaces `path` with `text`, as [`write_id_file`] does.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_file_is_replaced_not_appended() {
        let dir = tempfile_dir();
        let path = dir.join("latest_ami_id");
        write_id_file(&path, "ami-11111111").unwrap();
        write_id_file(&path, "ami-22222222").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ami-22222222\n");
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("latest-ami-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
