//! `deploy-tools targets FILE`: checks a multi-Region deploy's targets file and prints it as
//! the buildspec's Region-by-Region loop reads it, one target a line, tab-separated:
//! `REGION LAUNCH_TEMPLATE_ID AUTO_SCALING_GROUP`, in the file's order.
//!
//! The file's form is checked with no request (`common::targets`); then, with one
//! DescribeRegions, that AWS knows each Region and the account has enabled it. Either fault is
//! a usage error (exit 2), found before Packer bakes or any Region is touched.

use std::path::PathBuf;

use std::io::{self, Write};

use anyhow::Result;
use clap::Parser;
use common::regions::check_known;
use common::targets::Targets;
use common::{Context, GlobalArgs, Report, Tool};
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

    #[command(flatten)]
    pub global: GlobalArgs,

    #[arg(skip)]
    targets: Option<Targets>,
}

/// The targets, or (--list-regions) only their Regions.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(skip)]
    regions_only: bool,
    #[serde(flatten)]
    targets: Targets,
}

impl Report for Listed {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.regions_only {
            writeln!(out, "{}", self.targets.regions)
        } else {
            self.targets.write_text(out)
        }
    }
}

impl Tool for Args {
    const NAME: &'static str = "deploy-tools targets";
    type Report = Listed;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    fn validate(&mut self) -> Result<()> {
        self.targets = Some(Targets::read(&self.file)?);
        Ok(())
    }

    fn fallback_region(&self) -> Option<String> {
        Targets::read(&self.file).ok().map(|t| t.regions.names()[0].clone())
    }

    async fn run(self, ctx: Context) -> Result<Listed> {
        let targets = self.targets.expect("validated");
        check_known(&ctx.ec2(), &targets.regions).await?;
        Ok(Listed { regions_only: self.list_regions, targets })
    }
}
