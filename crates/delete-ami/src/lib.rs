//! `delete-ami AMI_ID`: deregister an AMI, then delete the EBS snapshots it was made of.
//!
//! Replaces the blog post's `delete_ami.sh`. Deregistering alone leaves the snapshots (and
//! their storage bill) behind; this deletes them too. A delete that was cut short after the
//! deregistration is finished by running the tool again: the AMI is gone, so its snapshots are
//! found by the description EC2 gave them ("... for ami-...").
//!
//! `prune-amis` calls [`delete`] for each image it removes.

use std::io::{self, Write};

use anyhow::{bail, Result};
use aws_sdk_ec2::types::Filter;
use clap::Parser;
use common::error::{aws_error, error_code};
use common::{validate_ami_id, Ami, Context, GlobalArgs, Report, Tool};
use serde::Serialize;

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
    pub ami_id: String,

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

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// What happened to one AMI and its snapshots.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Deletion {
    pub image_id: String,
    /// True when this run deregistered the AMI; false when it was already gone.
    pub deregistered: bool,
    pub already_deregistered: bool,
    pub deleted_snapshots: Vec<String>,
    /// Snapshots left in place, with why (for example another AMI still uses one).
    pub skipped_snapshots: Vec<Skipped>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub snapshot_id: String,
    pub reason: String,
}

impl Report for Deletion {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let would = if self.dry_run { "Would delete" } else { "Deleted" };
        if self.already_deregistered {
            writeln!(out, "AMI {} was already deregistered", self.image_id)?;
        } else if self.dry_run {
            writeln!(out, "Would deregister AMI: {}", self.image_id)?;
        } else {
            writeln!(out, "Deregistered AMI: {}", self.image_id)?;
        }
        for snap in &self.deleted_snapshots {
            writeln!(out, "{would} snapshot: {snap}")?;
        }
        for skip in &self.skipped_snapshots {
            writeln!(out, "Kept snapshot: {} ({})", skip.snapshot_id, skip.reason)?;
        }
        Ok(())
    }
}

impl Tool for Args {
    const NAME: &'static str = "delete-ami";
    type Report = Deletion;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    fn validate(&mut self) -> Result<()> {
        validate_ami_id(&self.ami_id)
    }

    async fn run(self, ctx: Context) -> Result<Deletion> {
        let ec2 = ctx.ec2();
        let target = match describe_one(&ec2, &self.ami_id).await? {
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
                let leftovers = leftover_snapshots(&ec2, &self.ami_id).await?;
                if leftovers.is_empty() {
                    bail!("AMI {} does not exist (InvalidAMIID.NotFound), and no snapshot made for it remains", self.ami_id);
                }
                tracing::info!("AMI {} is already deregistered; deleting the {} snapshot(s) left behind", self.ami_id, leftovers.len());
                Target::Gone { image_id: self.ami_id.clone(), snapshot_ids: leftovers }
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

/// What to delete: a registered AMI (with the snapshots its listing named), or the snapshots an
/// already deregistered AMI left behind.
#[derive(Debug, Clone)]
pub enum Target {
    Registered(Ami),
    Gone { image_id: String, snapshot_ids: Vec<String> },
}

/// The AMI with this ID, or `None` if EC2 no longer knows it.
pub async fn describe_one(ec2: &aws_sdk_ec2::Client, ami_id: &str) -> Result<Option<Ami>> {
    // A disabled AMI is left out of DescribeImages, even asked for by ID, unless included.
    match ec2.describe_images().image_ids(ami_id).include_disabled(true).include_deprecated(true).send().await {
        Ok(out) => Ok(out
            .images()
            .iter()
            .map(Ami::from_image)
            .find(|a| a.image_id == ami_id && a.state != "deregistered")),
        Err(e) if error_code(&e) == Some("InvalidAMIID.NotFound") => Ok(None),
        Err(e) => Err(aws_error(format!("describing {ami_id}"), e)),
    }
}

/// Snapshots whose description says they were made for `ami_id` (EC2 writes "Created by
/// CreateImage(i-...) for ami-... "; the local AWS "Auto-created snapshot for AMI ami-...").
pub async fn leftover_snapshots(ec2: &aws_sdk_ec2::Client, ami_id: &str) -> Result<Vec<String>> {
    let mut pages = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(Filter::builder().name("description").values(format!("*{ami_id}*")).build())
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("looking for snapshots left by {ami_id}"), e))?;
        for snap in page.snapshots() {
            if snap.description().is_some_and(|d| names_ami(d, ami_id)) {
                found.extend(snap.snapshot_id().map(str::to_owned));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// True when `description` names exactly `ami_id` (not a longer ID that starts with it).
pub fn names_ami(description: &str, ami_id: &str) -> bool {
    description.match_indices(ami_id).any(|(at, _)| {
        let after = description[at + ami_id.len()..].chars().next();
        let before = description[..at].chars().next_back();
        !after.is_some_and(|c| c.is_ascii_alphanumeric())
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Deregisters the AMI (unless already gone), then deletes its snapshots. Outcomes that mean
/// "already done" (a retried call whose first reply was lost) count as success.
pub async fn delete(ec2: &aws_sdk_ec2::Client, pacer: &common::Pacer, target: Target, dry_run: bool) -> Result<Deletion> {
    let (image_id, snapshot_ids, registered) = match target {
        Target::Registered(ami) => (ami.image_id, ami.snapshot_ids, true),
        Target::Gone { image_id, snapshot_ids } => (image_id, snapshot_ids, false),
    };
    let mut report = Deletion {
        image_id: image_id.clone(),
        deregistered: false,
        already_deregistered: !registered,
        deleted_snapshots: Vec::new(),
        skipped_snapshots: Vec::new(),
        dry_run,
    };

    if registered {
        pacer.wait("DeregisterImage").await;
        match ec2.deregister_image().image_id(&image_id).dry_run(dry_run).send().await {
            Ok(_) => report.deregistered = true,
            Err(e) => match error_code(&e) {
                Some("DryRunOperation") => {}
                Some("InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable") => {
                    report.already_deregistered = true;
                }
                _ => return Err(aws_error(format!("deregistering {image_id}"), e)),
            },
        }
        if report.deregistered {
            tracing::info!("deregistered {image_id}");
        }
    }

    for snap in snapshot_ids {
        pacer.wait("DeleteSnapshot").await;
        match ec2.delete_snapshot().snapshot_id(&snap).dry_run(dry_run).send().await {
            Ok(_) => {
                tracing::info!("deleted snapshot {snap} of {image_id}");
                report.deleted_snapshots.push(snap);
            }
            Err(e) => match error_code(&e) {
                Some("DryRunOperation" | "InvalidSnapshot.NotFound") => report.deleted_snapshots.push(snap),
                Some("InvalidSnapshot.InUse") => {
                    let reason = common::AwsError::from_sdk(format!("deleting {snap}"), &e).to_string();
                    tracing::warn!("kept snapshot {snap}: {reason}");
                    report.skipped_snapshots.push(Skipped { snapshot_id: snap, reason: "in use by another AMI (InvalidSnapshot.InUse)".into() });
                }
                _ => {
                    return Err(aws_error(format!("deleting snapshot {snap} of {image_id} (the AMI is deregistered: run delete-ami {image_id} again to finish)"), e));
                }
            },
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_names_the_ami_exactly() {
        let id = "ami-0123456789abcdef0";
        assert!(names_ami("Created by CreateImage(i-1) for ami-0123456789abcdef0 from vol-1", id));
        assert!(names_ami("Auto-created snapshot for AMI ami-0123456789abcdef0", id));
        assert!(!names_ami("Auto-created snapshot for AMI ami-0123456789abcdef01", id));
        assert!(!names_ami("Auto-created snapshot for AMI xami-0123456789abcdef0", id));
        assert!(!names_ami("something else", id));
    }
}
