//! Deleting an AMI with its snapshots, for `delete-ami` and `prune-amis` alike: one
//! `DeregisterImage` with `DeleteAssociatedSnapshots`, whose per-snapshot results say what
//! became of each snapshot. Where an endpoint does not answer with those results although the
//! AMI had snapshots (one that predates the parameter), they are deleted one by one. An AMI
//! already deregistered is finished off from the snapshots it left behind, found by the
//! description EC2 gave them ("... for ami-...").

use std::io::{self, Write};

use anyhow::Result;
use aws_sdk_ec2::types::{Filter, ImageState, SnapshotReturnCodes};
use serde::Serialize;

use crate::aws::error::{aws_error, Code};
use crate::images::ami::{Snapshot, Snapshots};
use crate::{Ami, Report};

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
    /// Snapshots EC2 could not delete (`missing-permissions`, `client-error`,
    /// `internal-error`): the AMI is deregistered, and running `delete-ami` on it again
    /// finishes the job.
    pub failed_snapshots: Vec<FailedSnapshot>,
    /// The volume size of the snapshots deleted, in GiB (what the deletes save, at most).
    pub deleted_gib: i64,
    pub dry_run: bool,
}

/// An AMI a run could not delete (or retire), with the one-line error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    pub image_id: String,
    pub error: String,
}

impl Failure {
    /// Logs the error on stderr and keeps it for the report.
    pub fn logged(image_id: String, err: &anyhow::Error) -> Failure {
        let error = crate::aws::error::render(err);
        tracing::error!("{image_id}: {error}");
        Failure { image_id, error }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedSnapshot {
    pub snapshot_id: String,
    /// EC2's return code for it.
    pub code: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub snapshot_id: String,
    pub reason: String,
}

impl Report for Deletion {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let would = if self.dry_run { "Would delete" } else { "Deleted" };
        let nothing_left = self.deleted_snapshots.is_empty() && self.skipped_snapshots.is_empty() && self.failed_snapshots.is_empty();
        if self.already_deregistered && nothing_left {
            writeln!(out, "AMI {} no longer exists, and nothing of it remains", self.image_id)?;
        } else if self.already_deregistered {
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
        for failed in &self.failed_snapshots {
            writeln!(out, "Could not delete snapshot: {} ({})", failed.snapshot_id, failed.code)?;
        }
        Ok(())
    }

    fn failure(&self) -> Option<String> {
        self.unfinished()
    }
}

impl Deletion {
    /// Why the delete is not finished, when snapshots could not be deleted.
    pub fn unfinished(&self) -> Option<String> {
        (!self.failed_snapshots.is_empty()).then(|| {
            let list: Vec<String> = self.failed_snapshots.iter().map(|f| format!("{} ({})", f.snapshot_id, f.code)).collect();
            format!(
                "{} is deregistered but snapshots could not be deleted: {}; run delete-ami {} again to finish",
                self.image_id,
                list.join(", "),
                self.image_id
            )
        })
    }
}

/// What became of the AMIs a run deleted: one for `delete-ami` with several IDs and for
/// `prune-amis`, so "N of M could not" is counted, said and summed the same way in both. In
/// JSON: `deleted`, `failed`, and `deleted_gib`, the total computed as it is written.
#[derive(Debug, Default)]
pub struct Batch {
    pub deleted: Vec<Deletion>,
    pub failed: Vec<Failure>,
}

impl Batch {
    /// Takes one AMI's outcome: a deletion (a failure too when its snapshots are not all
    /// deleted), or the error, logged.
    pub fn record(&mut self, image_id: String, outcome: Result<Deletion>) {
        match outcome {
            Ok(d) => {
                if let Some(why) = d.unfinished() {
                    tracing::error!("{why}");
                    self.failed.push(Failure { image_id, error: why });
                }
                self.deleted.push(d);
            }
            Err(e) => self.fail(image_id, &e),
        }
    }

    /// An AMI that could not be deleted (or retired), logged.
    pub fn fail(&mut self, image_id: String, err: &anyhow::Error) {
        self.failed.push(Failure::logged(image_id, err));
    }

    /// The volume size of all snapshots deleted, in GiB.
    pub fn deleted_gib(&self) -> i64 {
        self.deleted.iter().map(|d| d.deleted_gib).sum()
    }

    /// How many snapshots were deleted.
    pub fn snapshots(&self) -> usize {
        self.deleted.iter().map(|d| d.deleted_snapshots.len()).sum()
    }

    /// "2 of 5 AMIs {what}: ami-1, ami-2", when any failed, out of `of` attempted.
    pub fn failure(&self, of: usize, what: &str) -> Option<String> {
        (!self.failed.is_empty()).then(|| {
            let ids: Vec<&str> = self.failed.iter().map(|f| f.image_id.as_str()).collect();
            format!("{} of {of} AMIs {what}: {}", self.failed.len(), ids.join(", "))
        })
    }
}

impl Serialize for Batch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("deleted", &self.deleted)?;
        map.serialize_entry("failed", &self.failed)?;
        map.serialize_entry("deleted_gib", &self.deleted_gib())?;
        map.end()
    }
}

/// What to delete: a registered AMI (with the snapshots its listing named), or the snapshots an
/// already deregistered AMI left behind.
#[derive(Debug, Clone)]
pub enum Target {
    Registered(Ami),
    /// An AMI already deregistered: its ID and the snapshots it left (see [`leftovers`]).
    Gone(Ami),
}

/// What a deregistered AMI left behind: the snapshots whose description says they were made
/// for `ami_id` (EC2 writes "Created by CreateImage(i-...) for ami-... "; the local AWS
/// "Auto-created snapshot for AMI ami-..."), as an [`Ami`] in state `deregistered`, or `None`
/// when none remain.
pub async fn leftovers(ec2: &aws_sdk_ec2::Client, ami_id: &str) -> Result<Option<Ami>> {
    let mut pages = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(Filter::builder().name("description").values(format!("*{ami_id}*")).build())
        .into_paginator()
        .send();
    let mut found: Vec<Snapshot> = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("looking for snapshots left by {ami_id}"), e))?;
        for snap in page.snapshots() {
            if let (Some(id), true) = (snap.snapshot_id(), snap.description().is_some_and(|d| names_ami(d, ami_id))) {
                found.push(Snapshot { id: id.to_owned(), size_gib: i64::from(snap.volume_size().unwrap_or(0)) });
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((!found.is_empty()).then(|| Ami {
        image_id: ami_id.to_owned(),
        name: None,
        creation_date: String::new(),
        state: ImageState::Deregistered,
        snapshots: Snapshots(found),
        ..Ami::default()
    }))
}

/// True when `description` names exactly `ami_id` (not a longer ID that starts with it).
pub fn names_ami(description: &str, ami_id: &str) -> bool {
    description.match_indices(ami_id).any(|(at, _)| {
        let after = description[at + ami_id.len()..].chars().next();
        let before = description[..at].chars().next_back();
        !after.is_some_and(|c| c.is_ascii_alphanumeric()) && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Deregisters the AMI and deletes its snapshots in the same call (unless already gone: then
/// the snapshots one by one). Outcomes that mean "already done" (a retried call whose first
/// reply was lost) count as success.
pub async fn delete(ec2: &aws_sdk_ec2::Client, target: Target, dry_run: bool) -> Result<Deletion> {
    let (ami, registered) = match target {
        Target::Registered(ami) => (ami, true),
        Target::Gone(ami) => (ami, false),
    };
    let mut report = Deletion {
        image_id: ami.image_id.clone(),
        deregistered: false,
        already_deregistered: !registered,
        deleted_snapshots: Vec::new(),
        skipped_snapshots: Vec::new(),
        failed_snapshots: Vec::new(),
        deleted_gib: 0,
        dry_run,
    };
    let one_by_one = if registered { deregister(ec2, &ami, dry_run, &mut report).await? } else { ami.snapshots.ids() };
    for snap in one_by_one {
        delete_snapshot(ec2, &ami.image_id, snap, dry_run, &mut report).await?;
    }
    report.deleted_gib = ami.snapshots.size_of(&report.deleted_snapshots);
    Ok(report)
}

/// DeregisterImage with DeleteAssociatedSnapshots, its per-snapshot results in `report`.
/// Returns the snapshots still to delete one by one: all of them when the endpoint gave no
/// per-snapshot results although the AMI had snapshots, none otherwise.
async fn deregister(ec2: &aws_sdk_ec2::Client, ami: &Ami, dry_run: bool, report: &mut Deletion) -> Result<Vec<String>> {
    let image_id = &ami.image_id;
    let sent = ec2.deregister_image().image_id(image_id).delete_associated_snapshots(true).dry_run(dry_run).send().await;
    let out = match sent {
        Ok(out) => out,
        Err(e) => match Code::of(&e) {
            // Permitted: the one call would deregister the AMI and delete its snapshots.
            Some(Code::DryRunOperation) => {
                report.deleted_snapshots = ami.snapshots.ids();
                return Ok(Vec::new());
            }
            Some(Code::AmiNotFound | Code::AmiUnavailable) => {
                report.already_deregistered = true;
                return Ok(ami.snapshots.ids());
            }
            _ => return Err(aws_error(format!("deregistering {image_id}"), e)),
        },
    };
    report.deregistered = true;
    tracing::info!("deregistered {image_id}");
    let results = out.delete_snapshot_results();
    if results.is_empty() && !ami.snapshots.is_empty() {
        tracing::info!("no per-snapshot results for {image_id}: deleting its {} snapshot(s) one by one", ami.snapshots.len());
        return Ok(ami.snapshots.ids());
    }
    for r in results {
        let snap = r.snapshot_id().unwrap_or_default().to_owned();
        match r.return_code() {
            Some(SnapshotReturnCodes::Success) => report.deleted_snapshots.push(snap),
            Some(SnapshotReturnCodes::WarnSkipped) => {
                report.skipped_snapshots.push(Skipped { snapshot_id: snap, reason: "another AMI still uses it (skipped)".into() })
            }
            code => report.failed_snapshots.push(FailedSnapshot { snapshot_id: snap, code: code.map_or("", |c| c.as_str()).to_owned() }),
        }
    }
    Ok(Vec::new())
}

/// One DeleteSnapshot, its outcome in `report`; "already deleted" and "in use by another AMI"
/// are outcomes, not errors.
async fn delete_snapshot(ec2: &aws_sdk_ec2::Client, image_id: &str, snap: String, dry_run: bool, report: &mut Deletion) -> Result<()> {
    let Err(e) = ec2.delete_snapshot().snapshot_id(&snap).dry_run(dry_run).send().await else {
        tracing::info!("deleted snapshot {snap} of {image_id}");
        report.deleted_snapshots.push(snap);
        return Ok(());
    };
    match Code::of(&e) {
        Some(Code::DryRunOperation | Code::SnapshotNotFound) => report.deleted_snapshots.push(snap),
        Some(Code::SnapshotInUse) => {
            let reason = crate::AwsError::from_sdk(format!("deleting {snap}"), &e).to_string();
            tracing::warn!("kept snapshot {snap}: {reason}");
            report.skipped_snapshots.push(Skipped { snapshot_id: snap, reason: "in use by another AMI (InvalidSnapshot.InUse)".into() });
        }
        _ => {
            return Err(aws_error(
                format!("deleting snapshot {snap} of {image_id} (the AMI is deregistered: run delete-ami {image_id} again to finish)"),
                e,
            ));
        }
    }
    Ok(())
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
