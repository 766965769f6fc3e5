//! `delete-ami AMI_ID`: deregister an AMI, then delete the EBS snapshots it was made of.
//!
//! Replaces the deploy loop's delete script (the README's table of tools). Deregistering
//! alone leaves the snapshots (and their storage bill) behind; this deletes them too. A delete
//! that was cut short after the deregistration is finished by running the tool again: the AMI
//! is gone, so its snapshots are found by the description EC2 gave them ("... for ami-...").
//!
//! The deleting itself is `common::delete`'s, which `prune-amis` uses too; this crate decides
//! whether the one AMI may go.

use anyhow::{bail, Result};
use clap::Parser;
use common::args::AmiId;
use common::cli::PaceArgs;
use common::delete::{delete, describe_one, leftover_snapshots, Deletion, Target};
use common::{Ami, Context, GlobalArgs, Tool};

/// Deregister an AMI and delete its EBS snapshots.
///
/// Reads the snapshot IDs from the AMI's block device mappings, deregisters the AMI, then
/// deletes each snapshot. Running it again after a partial failure finishes the job.
///
/// Example:  delete-ami ami-0123456789abcdef0
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The AMI to delete (ami- followed by hex digits).
    #[arg(value_name = "AMI_ID")]
    pub ami_id: AmiId,

    /// Print what would be deleted and check the permissions with EC2's DryRun; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete the AMI even if something still uses it (an instance runs it, a launch template
    /// or an SSM parameter names it) or other accounts may launch it. Deregistration
    /// protection is never overridden: turn it off first, on purpose.
    #[arg(long)]
    pub force: bool,

    /// Delete the AMI even if it is shared with other accounts or public (their launches
    /// will fail).
    #[arg(long)]
    pub include_shared: bool,

    #[command(flatten, next_help_heading = "Pacing")]
    pub pace: PaceArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

impl Tool for Args {
    const NAME: &'static str = "delete-ami";
    type Report = Deletion;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    fn rate(&self) -> Option<f64> {
        self.pace.rate
    }

    async fn run(self, ctx: Context) -> Result<Deletion> {
        let ec2 = ctx.ec2();
        let id = self.ami_id.as_str();
        let target = match describe_one(&ec2, id).await? {
            Some(ami) => {
                if ami.is_protected() {
                    let how = ami.deregistration_protection.as_deref().unwrap_or_default();
                    bail!(
                        "refusing to delete {}: deregistration protection is {how} (DisableImageDeregistrationProtection turns it off; this tool never does)",
                        ami.image_id
                    );
                }
                if !self.force {
                    refuse_if_needed(&ec2, &ctx, &ami, self.include_shared).await?;
                }
                Target::Registered(ami)
            }
            None => {
                let leftovers = leftover_snapshots(&ec2, id).await?;
                if leftovers.is_empty() {
                    bail!("AMI {} does not exist (InvalidAMIID.NotFound), and no snapshot made for it remains", self.ami_id);
                }
                tracing::info!("AMI {} is already deregistered; deleting the {} snapshot(s) left behind", self.ami_id, leftovers.len());
                Target::Gone { image_id: id.to_owned(), snapshot_ids: leftovers }
            }
        };
        delete(&ec2, ctx.pacer(), target, self.dry_run).await
    }
}

/// Refuses an AMI that something still needs: the in-use lookups, SSM parameters, and
/// (unless `include_shared`) other accounts' launch permissions.
async fn refuse_if_needed(ec2: &aws_sdk_ec2::Client, ctx: &Context, ami: &Ami, include_shared: bool) -> Result<()> {
    let id = &ami.image_id;
    if !include_shared && ami.public {
        bail!("refusing to delete {id}: it is public (--include-shared deletes it anyway)");
    }
    let mut uses = common::Uses { in_use: common::inuse::find(ec2, &ctx.autoscaling()).await?, ..Default::default() };
    if uses.in_use.reason(id).is_none() {
        common::inuse::screen(ec2, std::slice::from_ref(id), include_shared, &mut uses).await?;
    }
    if let Some(why) = uses.in_use.reason(id) {
        bail!("refusing to delete {id}: it is in use: {why} (--force deletes it anyway)");
    }
    if let Some(who) = uses.shared.get(id) {
        bail!("refusing to delete {id}: it is {who} (--include-shared deletes it anyway)");
    }
    Ok(())
}

