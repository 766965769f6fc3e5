//! `deploy-tools targets FILE`: checks a multi-Region deploy's targets file and prints it as
//! the buildspec's Region-by-Region loop reads it, one target a line, tab-separated:
//! `REGION LAUNCH_TEMPLATE_ID AUTO_SCALING_GROUP`, in the file's order.
//!
//! The file's form is checked with no request (`common::deploy::targets`); then, with one
//! DescribeRegions, that AWS knows each Region and the account has enabled it; then, in every
//! Region at once, that its launch template exists and its group exists and launches from that
//! template (for a target with `role_arn`, in the role's account: the role is assumed first,
//! and one that cannot be is an error, exit 1). Any other fault is a usage error (exit 2), found
//! before Packer bakes or any Region is touched: a typo in the last Region's group would otherwise stop a deploy half way, with the
//! first Regions on the new build and the rest on the old.

use std::path::PathBuf;

use std::io::{self, Write};

use anyhow::{bail, Result};
use clap::Parser;
use common::aws::error::{aws_error, Code, Usage};
use common::deploy::regions::check_known;
use common::deploy::targets::{Target, Targets};
use common::groups::launches::list_groups;
use common::groups::templates::Template;
use common::{Context, GlobalArgs, Plan, RegionList, Report, Tool};
use serde::Serialize;

/// Check a multi-Region deploy's targets file and print its targets, one line each.
///
/// The file is a JSON list of {"region", "launch_template_id", "auto_scaling_group"}, one per
/// Region, in the order to deploy them. Prints `REGION<TAB>LAUNCH_TEMPLATE_ID<TAB>GROUP` lines.
///
/// Example (from scripts/deploy-regions):  deploy-tools targets deploy-targets.json
#[derive(Parser, Debug)]
#[command(name = "targets", version, about, long_about)]
pub struct Args {
    /// The targets file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print only the Regions, comma-separated, as --regions and Packer's ami_regions take them.
    #[arg(long)]
    pub list_regions: bool,

    /// Print only the accounts of the targets' roles, comma-separated, as Packer's ami_users
    /// takes them (an empty line when every target is in this account). With --list-regions,
    /// on the line after the Regions.
    #[arg(long)]
    pub list_accounts: bool,
}

/// The targets file, read and checked, to check against AWS.
#[derive(Debug)]
pub struct Check {
    targets: Targets,
    /// The targets' Regions, once each, in the file's order.
    regions: RegionList,
    list_regions: bool,
    list_accounts: bool,
}

/// The targets, or (--list-regions, --list-accounts) only their Regions and accounts.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(skip)]
    regions_only: bool,
    #[serde(skip)]
    accounts_only: bool,
    #[serde(flatten)]
    targets: Targets,
    /// The accounts of the targets' roles.
    accounts: Vec<String>,
}

impl Report for Listed {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if !self.regions_only && !self.accounts_only {
            return self.targets.write_text(out);
        }
        if self.regions_only {
            writeln!(out, "{}", self.targets.regions())?;
        }
        if self.accounts_only {
            writeln!(out, "{}", self.accounts.join(","))?;
        }
        Ok(())
    }
}

impl Tool for Args {
    const NAME: &'static str = "deploy-tools targets";
    type Plan = Check;

    fn prepare(self, _: &GlobalArgs) -> Result<Check> {
        let targets = Targets::read(&self.file)?;
        let regions = targets.regions();
        Ok(Check { targets, regions, list_regions: self.list_regions, list_accounts: self.list_accounts })
    }
}

impl Plan for Check {
    type Report = Listed;

    fn fallback_region(&self) -> Option<&str> {
        Some(self.regions.first())
    }

    async fn run(self, ctx: Context) -> Result<Listed> {
        let targets = self.targets;
        check_known(&ctx.ec2(), &self.regions).await?;
        let ctx = &ctx;
        let checks = targets.targets.iter().enumerate().map(|(i, t)| async move {
            let there = reach(ctx, "deploy-tools-targets", i + 1, t).await?;
            check_target(&there, i + 1, t).await
        });
        futures::future::try_join_all(checks).await?;
        let accounts = targets.accounts();
        Ok(Listed { regions_only: self.list_regions, accounts_only: self.list_accounts, targets, accounts })
    }
}

/// Target `n`'s context: its Region, through its role if it names one (assumed now, in a
/// session named `session`; one that cannot be assumed is an error).
pub async fn reach(ctx: &Context, session: &str, n: usize, t: &Target) -> Result<Context> {
    match &t.role_arn {
        Some(role) => {
            ctx.in_region(t.region.as_str()).assuming(session, role, t.external_id.as_ref()).await.map_err(|e| e.context(t.describe(n)))
        }
        None => Ok(ctx.in_region(t.region.as_str())),
    }
}

/// Target `n`'s launch template exists in its Region and account (`ctx`, from [`reach`]), and
/// its group exists there and launches from that template (its own, or its mixed instances
/// policy's: `common::groups::launches`).
pub async fn check_target(ctx: &Context, n: usize, t: &Target) -> Result<()> {
    let what = t.describe(n);
    // The template and the group, looked up at the same time.
    let (ec2, asg) = (ctx.ec2(), ctx.autoscaling());
    let group_name = [t.auto_scaling_group.to_string()];
    let (templates, groups) = futures::join!(
        ec2.describe_launch_templates().launch_template_ids(t.launch_template_id.as_str()).send(),
        list_groups(&asg, &group_name)
    );
    let missing = || Usage(format!("{what}: launch template {} does not exist in {}", t.launch_template_id, t.region));
    let name = match templates {
        Ok(out) => match out.launch_templates().first() {
            Some(lt) => lt.launch_template_name().map(str::to_owned),
            None => bail!(missing()),
        },
        Err(e) if Code::of(&e).is_some_and(Code::template_missing) => bail!(missing()),
        Err(e) => return Err(aws_error(format!("{what}: looking up launch template {}", t.launch_template_id), e)),
    };
    let groups = groups.map_err(|e| e.context(format!("{what}: looking up group {}", t.auto_scaling_group)))?;
    let Some(group) = groups.first() else {
        bail!(Usage(format!("{what}: Auto Scaling group {} does not exist in {}", t.auto_scaling_group, t.region)));
    };
    // A refresh moves the group's main template (its own, or its policy's): an override's
    // template is not the one the deploy bumps.
    let template = Template { id: t.launch_template_id.as_str(), name: name.as_deref() };
    if !group.main_template().is_some_and(|u| template.is(&u.template)) {
        bail!(Usage(format!(
            "{what}: group {} uses {}, not {}: a refresh would move it to another template",
            t.auto_scaling_group,
            group.launches_from(),
            t.launch_template_id
        )));
    }
    Ok(())
}
