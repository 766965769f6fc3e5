//! Deleting an AMI with its snapshots, for `delete-ami` and `prune-amis` alike: deregister,
//! then delete each snapshot; an AMI already deregistered is finished off from the snapshots
//! it left behind, found by the description EC2 gave them ("... for ami-...").

use std::io::{self, Write};

use anyhow::Result;
use aws_sdk_ec2::types::Filter;
use serde::Serialize;

use crate::error::{aws_error, error_code};
use crate::{Ami, Pacer, Report};

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
pub async fn delete(ec2: &aws_sdk_ec2::Client, pacer: &Pacer, target: Target, dry_run: bool) -> Result<Deletion> {
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
                    let reason = crate::AwsError::from_sdk(format!("deleting {snap}"), &e).to_string();
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
