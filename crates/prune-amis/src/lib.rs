//! `prune-amis BRANCH MAX`: keep the newest MAX AMIs of a branch, delete the rest together with
//! their EBS snapshots.
//!
//! Replaces the blog post's prune script (which could not run: its first line was not a valid
//! shell assignment). Each deletion is `delete-ami`'s, called as a library; the snapshot IDs
//! come from the one listing, so no AMI is described twice. One AMI that fails to delete does
//! not stop the others: every failure is reported and the exit status is 1.

use std::io::{self, Write};

use anyhow::Result;
use clap::Parser;
use common::{list_branch_amis, Ami, Context, GlobalArgs, InUse, Report, Tool};
use delete_ami::{Deletion, Target};
use futures::stream::{self, StreamExt};
use serde::Serialize;

/// Keep the newest MAX AMIs of a branch; deregister the rest and delete their snapshots.
///
/// AMIs are this account's images tagged branch=BRANCH, ordered by CreationDate (ties by
/// ImageId). The oldest are deleted first. An older AMI that is still in use is kept: one an
/// instance runs (pending, running, stopping, stopped), one a launch template's default or
/// latest version names, or one any version of a template an Auto Scaling group uses names.
///
/// Example (from buildspec.yml):  prune-amis "$BRANCH" "$AMIS_TO_KEEP"
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The value of the AMIs' `branch` tag.
    #[arg(value_name = "BRANCH")]
    pub branch: String,

    /// How many of the newest AMIs to keep: 1 or more (0 would delete the image in service).
    #[arg(value_name = "MAX", value_parser = clap::value_parser!(u32).range(1..))]
    pub max: u32,

    /// Print the plan (each AMI, keep or delete, and why) and check permissions with EC2's
    /// DryRun; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How many AMIs to delete at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Keep,
    Delete,
}

/// One AMI in the plan: what happens to it and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Decision {
    #[serde(flatten)]
    pub ami: Ami,
    pub action: Action,
    pub reason: String,
}

/// Decides, oldest first, which AMIs go: all but the newest `max`, and but those in use.
pub fn plan(amis: Vec<Ami>, max: u32, in_use: &InUse) -> Vec<Decision> {
    let keep_from = amis.len().saturating_sub(max as usize);
    amis.into_iter()
        .enumerate()
        .map(|(i, ami)| {
            if i >= keep_from {
                Decision { ami, action: Action::Keep, reason: format!("among the newest {max}") }
            } else if let Some(why) = in_use.reason(&ami.image_id) {
                Decision { ami, action: Action::Keep, reason: format!("in use: {why}") }
            } else {
                Decision { ami, action: Action::Delete, reason: format!("older than the newest {max}, and not in use") }
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub image_id: String,
    pub error: String,
}

/// The result of a prune.
#[derive(Debug, Serialize)]
pub struct Pruned {
    pub branch: String,
    pub max: u32,
    pub dry_run: bool,
    /// Every AMI of the branch, oldest first, with its decision.
    pub plan: Vec<Decision>,
    pub deleted: Vec<Deletion>,
    pub failed: Vec<Failure>,
}

impl Report for Pruned {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.dry_run {
            for d in &self.plan {
                let verb = match d.action {
                    Action::Keep => "keep",
                    Action::Delete => "delete",
                };
                writeln!(out, "{verb} {} {} ({})", d.ami.image_id, d.ami.creation_date, d.reason)?;
            }
        }
        for d in &self.deleted {
            let snaps = if d.deleted_snapshots.is_empty() { "no snapshots".to_owned() } else { d.deleted_snapshots.join(", ") };
            let verb = if self.dry_run { "would delete" } else { "deleted" };
            writeln!(out, "{verb} {} ({snaps})", d.image_id)?;
        }
        for f in &self.failed {
            writeln!(out, "failed {}: {}", f.image_id, f.error)?;
        }
        let kept = self.plan.iter().filter(|d| d.action == Action::Keep).count();
        let snapshots: usize = self.deleted.iter().map(|d| d.deleted_snapshots.len()).sum();
        writeln!(
            out,
            "{} {} of {} AMIs of branch {} ({} snapshots), kept {}, {} failed",
            if self.dry_run { "Would delete" } else { "Deleted" },
            self.deleted.len(),
            self.plan.len(),
            self.branch,
            snapshots,
            kept,
            self.failed.len()
        )
    }

    fn failure(&self) -> Option<String> {
        (!self.failed.is_empty()).then(|| {
            format!("{} of {} AMIs could not be deleted: {}", self.failed.len(), self.failed.len() + self.deleted.len(),
                self.failed.iter().map(|f| f.image_id.as_str()).collect::<Vec<_>>().join(", "))
        })
    }
}

impl Tool for Args {
    const NAME: &'static str = "prune-amis";
    type Report = Pruned;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    async fn run(self, ctx: Context) -> Result<Pruned> {
        let ec2 = ctx.ec2();
        let amis = list_branch_amis(&ec2, &self.branch, false).await?;
        // Only the older AMIs can be deleted: look up uses only if there are any.
        let in_use = if amis.len() > self.max as usize { common::inuse::find(&ec2, &ctx.autoscaling()).await? } else { InUse::default() };
        let plan = plan(amis, self.max, &in_use);
        let doomed: Vec<Ami> = plan.iter().filter(|d| d.action == Action::Delete).map(|d| d.ami.clone()).collect();
        tracing::info!("branch {}: {} AMIs, deleting {}", self.branch, plan.len(), doomed.len());

        let dry_run = self.dry_run;
        let pacer = ctx.pacer().clone();
        let results: Vec<(String, Result<Deletion>)> = stream::iter(doomed)
            .map(|ami| {
                let ec2 = ec2.clone();
                let pacer = pacer.clone();
                async move {
                    let id = ami.image_id.clone();
                    (id, delete_ami::delete(&ec2, &pacer, Target::Registered(ami), dry_run).await)
                }
            })
            .buffered(usize::from(self.concurrency))
            .collect()
            .await;

        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for (image_id, result) in results {
            match result {
                Ok(d) => deleted.push(d),
                Err(e) => {
                    let error = common::error::render(&e);
                    tracing::error!("{image_id}: {error}");
                    failed.push(Failure { image_id, error });
                }
            }
        }
        Ok(Pruned { branch: self.branch, max: self.max, dry_run, plan, deleted, failed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amis(n: usize) -> Vec<Ami> {
        (0..n)
            .map(|i| Ami {
                image_id: format!("ami-{i:08x}"),
                name: None,
                creation_date: format!("2024-01-01T00:00:{i:02}.000Z"),
                state: "available".into(),
                snapshot_ids: vec![format!("snap-{i:08x}")],
            })
            .collect()
    }

    #[test]
    fn keeps_the_newest_max_and_deletes_the_oldest() {
        let p = plan(amis(5), 2, &InUse::default());
        let actions: Vec<_> = p.iter().map(|d| d.action).collect();
        assert_eq!(actions, [Action::Delete, Action::Delete, Action::Delete, Action::Keep, Action::Keep]);
        assert_eq!(p[0].ami.image_id, "ami-00000000");
    }

    #[test]
    fn fewer_than_max_deletes_nothing() {
        assert!(plan(amis(2), 5, &InUse::default()).iter().all(|d| d.action == Action::Keep));
        assert!(plan(vec![], 1, &InUse::default()).is_empty());
    }

    #[test]
    fn older_amis_in_use_are_kept_with_their_reason() {
        let mut in_use = InUse::default();
        in_use.add("ami-00000001", "instance i-1 (running) runs it");
        let p = plan(amis(4), 1, &in_use);
        let actions: Vec<_> = p.iter().map(|d| d.action).collect();
        assert_eq!(actions, [Action::Delete, Action::Keep, Action::Delete, Action::Keep]);
        assert_eq!(p[1].reason, "in use: instance i-1 (running) runs it");
    }
}
