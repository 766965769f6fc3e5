//! `prune-amis BRANCH MAX`: keep the newest MAX AMIs of a branch, delete the rest together with
//! their EBS snapshots.
//!
//! Replaces the deploy loop's prune script (the README's table of tools), which could not run
//! at all. Each deletion is `common::delete`'s, as `delete-ami`'s is; the snapshot IDs come
//! from the one listing, so no AMI is described twice. One AMI that fails to delete does
//! not stop the others: every failure is reported and the exit status is 1.

use std::io::{self, Write};

use anyhow::Result;
use clap::Parser;
use common::cli::PaceArgs;
use common::delete::{delete, Deletion, Target};
use common::{list_amis, Ami, Context, GlobalArgs, Report, Scope, TagArgs, Tool, Uses};
use futures::stream::{self, StreamExt};
use serde::Serialize;

/// Keep the newest MAX AMIs of a branch; deregister the rest and delete their snapshots.
///
/// AMIs are this account's images tagged branch=BRANCH (and every --tag), disabled and
/// deprecated ones included, ordered by CreationDate (ties by ImageId). The oldest are deleted
/// first. An older AMI is kept when: an instance runs it (pending, running, stopping,
/// stopped); a launch template's default or latest version names it; any version of a
/// template an Auto Scaling group uses names it (directly or through resolve:ssm:); an SSM
/// parameter names it; it has deregistration protection; it is shared with another account
/// or public (unless --include-shared).
///
/// Example (from buildspec.yml):  prune-amis "$BRANCH" "$AMIS_TO_KEEP"
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The value of the AMIs' `branch` tag.
    #[arg(value_name = "BRANCH")]
    pub branch: String,

    /// How many of the newest AMIs to keep: 1 or more (0 would delete the image in service).
    #[arg(value_name = "MAX", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max: u32,

    #[command(flatten)]
    pub tags: TagArgs,

    /// Delete AMIs that are shared with other accounts or public too (their launches will
    /// fail). Without it they are kept.
    #[arg(long)]
    pub include_shared: bool,

    /// Print the plan (each AMI, keep or delete, and why) and check permissions with EC2's
    /// DryRun; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How many AMIs to delete at the same time.
    #[arg(long, value_name = "N", allow_negative_numbers = true, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    #[command(flatten, next_help_heading = "Pacing")]
    pub pace: PaceArgs,

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

/// Decides, oldest first, which AMIs go: all but the newest `max`, and but those something
/// still needs (`uses`), that EC2 protects, or that other accounts may launch.
pub fn plan(amis: Vec<Ami>, max: u32, uses: &Uses, include_shared: bool) -> Vec<Decision> {
    let keep_from = amis.len().saturating_sub(max as usize);
    amis.into_iter()
        .enumerate()
        .map(|(i, ami)| {
            let keep = |reason: String| (Action::Keep, reason);
            let (action, reason) = if i >= keep_from {
                keep(format!("among the newest {max}"))
            } else if ami.is_protected() {
                let how = ami.deregistration_protection.as_deref().unwrap_or_default();
                keep(format!("protected: deregistration protection is {how}"))
            } else if let Some(why) = uses.in_use.reason(&ami.image_id) {
                keep(format!("in use: {why}"))
            } else if ami.public && !include_shared {
                keep("shared: public (--include-shared deletes it)".into())
            } else if let Some(who) = uses.shared.get(&ami.image_id).filter(|_| !include_shared) {
                keep(shared_reason(who))
            } else {
                (Action::Delete, format!("older than the newest {max}, and not in use"))
            };
            Decision { ami, action, reason }
        })
        .collect()
}

fn shared_reason(who: &str) -> String {
    format!("shared: {who} (--include-shared deletes it)")
}

/// What became of one AMI the plan meant to delete.
enum Outcome {
    /// Its launch permissions name other accounts: kept after all.
    Shared(String),
    Done(Result<Deletion>),
}

fn doomed(plan: &[Decision]) -> impl Iterator<Item = &Ami> {
    plan.iter().filter(|d| d.action == Action::Delete).map(|d| &d.ami)
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
    /// The other tags the AMIs had to carry (--tag).
    pub tags: std::collections::BTreeMap<String, String>,
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
            "{} {} of {} AMIs of {} ({} snapshots), kept {}, {} failed",
            if self.dry_run { "Would delete" } else { "Deleted" },
            self.deleted.len(),
            self.plan.len(),
            Scope { branch: self.branch.clone(), tags: self.tags.clone() },
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

    fn rate(&self) -> Option<f64> {
        self.pace.rate
    }

    async fn run(self, ctx: Context) -> Result<Pruned> {
        let ec2 = ctx.ec2();
        let scope = Scope::new(&self.branch, &self.tags.tags)?;
        let amis = list_amis(&ec2, &scope, false).await?;
        let concurrency = usize::from(self.concurrency);
        // Only the older AMIs can be deleted: look up uses only if there are any, and the
        // lookups that cost calls per AMI only for those the cheaper ones left to delete.
        let mut uses = Uses::default();
        if amis.len() > self.max as usize {
            uses.in_use = common::inuse::find(&ec2, &ctx.autoscaling()).await?;
            let first = plan(amis.clone(), self.max, &uses, self.include_shared);
            let candidates: Vec<String> = doomed(&first).map(|a| a.image_id.clone()).collect();
            common::inuse::ssm_references(&ec2, &candidates, &mut uses.in_use).await?;
        }
        let mut plan = plan(amis, self.max, &uses, self.include_shared);
        let doomed: Vec<Ami> = doomed(&plan).cloned().collect();
        tracing::info!("{scope}: {} AMIs, deleting {}", plan.len(), doomed.len());

        // Launch permissions come one AMI a call, so each is read just before that AMI's
        // delete, in the same paced stream: the reads (20 a second) overlap the deletes (5).
        let dry_run = self.dry_run;
        let check_shared = !self.include_shared;
        let pacer = ctx.pacer().clone();
        let results: Vec<(String, Outcome)> = stream::iter(doomed)
            .map(|ami| {
                let ec2 = ec2.clone();
                let pacer = pacer.clone();
                async move {
                    let id = ami.image_id.clone();
                    if check_shared {
                        pacer.wait("DescribeImageAttribute").await;
                        match common::inuse::shared_with(&ec2, &id).await {
                            Ok(Some(who)) => return (id, Outcome::Shared(who)),
                            Ok(None) => {}
                            Err(e) => return (id, Outcome::Done(Err(e))),
                        }
                    }
                    (id, Outcome::Done(delete(&ec2, &pacer, Target::Registered(ami), dry_run).await))
                }
            })
            .buffered(concurrency)
            .collect()
            .await;

        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for (image_id, outcome) in results {
            match outcome {
                Outcome::Shared(who) => {
                    if let Some(d) = plan.iter_mut().find(|d| d.ami.image_id == image_id) {
                        d.action = Action::Keep;
                        d.reason = shared_reason(&who);
                    }
                }
                Outcome::Done(Ok(d)) => deleted.push(d),
                Outcome::Done(Err(e)) => {
                    let error = common::error::render(&e);
                    tracing::error!("{image_id}: {error}");
                    failed.push(Failure { image_id, error });
                }
            }
        }
        Ok(Pruned { branch: self.branch, tags: scope.tags, max: self.max, dry_run, plan, deleted, failed })
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
                public: false,
                deregistration_protection: None,
                deprecation_time: None,
            })
            .collect()
    }

    fn actions(p: &[Decision]) -> Vec<Action> {
        p.iter().map(|d| d.action).collect()
    }

    use Action::{Delete as D, Keep as K};

    #[test]
    fn keeps_the_newest_max_and_deletes_the_oldest() {
        let p = plan(amis(5), 2, &Uses::default(), false);
        assert_eq!(actions(&p), [D, D, D, K, K]);
        assert_eq!(p[0].ami.image_id, "ami-00000000");
    }

    #[test]
    fn fewer_than_max_deletes_nothing() {
        assert!(plan(amis(2), 5, &Uses::default(), false).iter().all(|d| d.action == K));
        assert!(plan(vec![], 1, &Uses::default(), false).is_empty());
    }

    /// Each rule that keeps an older AMI, with the reason the plan gives, as a table: the
    /// AMI at index 1 of 4 (MAX 1) is set up by `setup`, and kept or not as `kept` says.
    #[test]
    fn rules_that_keep_an_older_ami() {
        type Setup = fn(&mut Ami, &mut Uses);
        let cases: [(&str, Setup, Option<&str>); 8] = [
            ("nothing", |_, _| {}, None),
            ("instance", |_, u| u.in_use.add("ami-00000001", "instance i-1 (running) runs it"), Some("in use: instance i-1 (running) runs it")),
            ("ssm", |_, u| u.in_use.add("ami-00000001", "SSM parameter arn:p names it"), Some("in use: SSM parameter arn:p names it")),
            ("protected", |a, _| a.deregistration_protection = Some("enabled-without-cooldown".into()), Some("protected: deregistration protection is enabled-without-cooldown")),
            ("protection off", |a, _| a.deregistration_protection = Some("disabled".into()), None),
            ("public", |a, _| a.public = true, Some("shared: public (--include-shared deletes it)")),
            ("shared", |_, u| { u.shared.insert("ami-00000001".into(), "shared with account 111122223333".into()); }, Some("shared: shared with account 111122223333 (--include-shared deletes it)")),
            ("disabled image", |a, _| a.state = "disabled".into(), None),
        ];
        for (name, setup, reason) in cases {
            for include_shared in [false, true] {
                let mut list = amis(4);
                let mut uses = Uses::default();
                setup(&mut list[1], &mut uses);
                let p = plan(list, 1, &uses, include_shared);
                let shared_rule = reason.is_some_and(|r| r.starts_with("shared"));
                let kept = reason.is_some() && !(shared_rule && include_shared);
                assert_eq!(p[1].action, if kept { K } else { D }, "{name}, include_shared={include_shared}");
                if kept {
                    assert_eq!(Some(p[1].reason.as_str()), reason, "{name}");
                }
                assert_eq!(actions(&p)[..1], [D], "{name}: the oldest still goes");
            }
        }
    }

    #[test]
    fn the_newest_max_are_kept_even_when_protected_or_shared() {
        let mut list = amis(3);
        list[2].public = true;
        let p = plan(list, 1, &Uses::default(), true);
        assert_eq!(actions(&p), [D, D, K]);
        assert_eq!(p[2].reason, "among the newest 1");
    }
}
