//! Retiring one AMI short of deleting it (prune-amis --retire, verify-ami --on-failure):
//! disabling it, or deprecating it now. Each is one
//! paced call that EC2's DryRun can check.

use std::time::SystemTime;

use crate::aws::error::{aws_error, dry_run_ok};
use anyhow::Result;
use aws_smithy_types::DateTime;

/// DisableImage: the AMI can no longer launch; EnableImage brings it back in seconds.
pub async fn disable(ec2: &aws_sdk_ec2::Client, id: &str, dry_run: bool) -> Result<()> {
    dry_run_ok(ec2.disable_image().image_id(id).dry_run(dry_run).send().await).map_err(|e| aws_error(format!("disabling {id}"), e))?;
    if !dry_run {
        tracing::info!("disabled {id}");
    }
    Ok(())
}

/// EnableImageDeprecation at `now` (EC2 rounds it to the nearest minute).
pub async fn deprecate(ec2: &aws_sdk_ec2::Client, id: &str, dry_run: bool, now: SystemTime) -> Result<()> {
    dry_run_ok(ec2.enable_image_deprecation().image_id(id).deprecate_at(DateTime::from(now)).dry_run(dry_run).send().await)
        .map_err(|e| aws_error(format!("deprecating {id}"), e))?;
    if !dry_run {
        tracing::info!("deprecated {id}");
    }
    Ok(())
}
