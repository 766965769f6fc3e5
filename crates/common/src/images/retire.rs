//! Retiring one AMI short of deleting it: the one action `prune-amis --retire` and
//! `verify-ami --on-failure` take, disabling it or deprecating it now. Each is one paced call
//! that EC2's DryRun can check.

use std::time::SystemTime;

use anyhow::Result;
use aws_smithy_types::DateTime;
use clap::ValueEnum;
use serde::Serialize;

use crate::aws::error::{aws_error, dry_run_ok};

/// How an AMI is retired short of being deleted.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retirement {
    /// Disable it (DisableImage): nothing can launch it until EnableImage brings it back, in seconds.
    Disable,
    /// Set its deprecation time to now (EnableImageDeprecation): it still launches by ID, but is
    /// marked retired and drops out of default listings.
    Deprecate,
}

impl Retirement {
    pub fn verb(self) -> &'static str {
        match self {
            Retirement::Disable => "disable",
            Retirement::Deprecate => "deprecate",
        }
    }

    /// Retires `id` so; with `dry_run`, only asks EC2 whether it may. A deprecation takes
    /// effect at `now` (EC2 rounds it to the nearest minute).
    pub async fn apply(self, ec2: &aws_sdk_ec2::Client, id: &str, dry_run: bool, now: SystemTime) -> Result<()> {
        match self {
            Retirement::Disable => {
                dry_run_ok(ec2.disable_image().image_id(id).dry_run(dry_run).send().await)
                    .map_err(|e| aws_error(format!("disabling {id}"), e))?;
            }
            Retirement::Deprecate => {
                dry_run_ok(ec2.enable_image_deprecation().image_id(id).deprecate_at(DateTime::from(now)).dry_run(dry_run).send().await)
                    .map_err(|e| aws_error(format!("deprecating {id}"), e))?;
            }
        }
        if !dry_run {
            tracing::info!("{}d {id}", self.verb());
        }
        Ok(())
    }
}
