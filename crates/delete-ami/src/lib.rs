//! `delete-ami AMI_ID...`: deregister AMIs and delete the EBS snapshots they were made of.
//!
//! Replaces the deploy loop's delete script (the README's table of tools). Deregistering
//! alone leaves the snapshots (and their storage bill) behind; this deletes them too. A delete
//! that was cut short after the deregistration is finished by running the tool again: the AMI
//! is gone, so its snapshots are found by the description EC2 gave them ("... for ami-...").
//!
//! The deleting itself is `common::images::delete`'s, which `prune-amis` uses too; this crate decides
//! whether each AMI may go. Any number of IDs, or `-` for one per line on stdin, all checked
//! before the first request: `prune-amis --dry-run -o json | jq ... | delete-ami -`.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::str::FromStr;

use anyhow::{bail, Result};
use clap::Parser;
use common::aws::error::Usage;
use common::aws::ids::AmiId;
use common::images::ami::describe_one;
use common::images::delete::{delete, leftovers, Batch, Deletion, Target};
use common::images::keep::{why_kept, Keep};
use common::{Context, GlobalArgs, Plan, Report, Tool, Uses};
use futures::stream::{self, StreamExt};
use serde::Serialize;

/// Deregister AMIs and delete their EBS snapshots.
///
/// Each AMI is deregistered with its snapshots in one call (DeregisterImage with
/// DeleteAssociatedSnapshots). Running it again after a partial failure finishes the job.
/// An AMI something still needs (an instance, a launch template or configuration a group
/// launches from, an SSM parameter, an Image Builder recipe, another account) is refused
/// unless --force; one with deregistration protection always.
///
/// Example:  delete-ami ami-0123456789abcdef0 ami-0fedcba9876543210
///
/// Example (a pipeline):  prune-amis main 5 --dry-run -o json | jq -r '.plan[] | select(.action == "delete") | .image_id' | delete-ami -
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The AMIs to delete (ami- followed by hex digits), or - to read them from stdin, one per
    /// line (blank lines and # comments are skipped). Every ID is checked before anything is sent.
    #[arg(value_name = "AMI_ID", required = true, num_args = 1..)]
    pub amis: Vec<AmiArg>,

    /// Print what would be deleted and check the permissions with EC2's DryRun; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete AMIs even if something still uses them (an instance runs one, a launch template
    /// or an SSM parameter names one) or other accounts may launch them. Deregistration
    /// protection is never overridden: turn it off first, on purpose.
    #[arg(long)]
    pub force: bool,

    /// Delete AMIs even if they are shared with other accounts or public (their launches
    /// will fail).
    #[arg(long)]
    pub include_shared: bool,

    /// Count an AMI that no longer exists, with nothing of it left (no snapshot made for it),
    /// as deleted: a re-run of a stored list after a run that was cut short then exits 0.
    /// Without it such an AMI is a failure, as for the script this replaces.
    #[arg(long)]
    pub missing_ok: bool,

    /// How many AMIs to delete at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// What to delete: the IDs the arguments name, in order, each once (stdin read in), and how.
#[derive(Debug)]
pub struct Doomed {
    pub ids: Vec<String>,
    /// One ID was given (not `-`): its failure is the whole run's error.
    pub single: bool,
    pub dry_run: bool,
    pub force: bool,
    pub include_shared: bool,
    pub missing_ok: bool,
    pub concurrency: u16,
}

/// One AMI_ID argument: an ID, or `-` for stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmiArg {
    Id(AmiId),
    Stdin,
}

impl FromStr for AmiArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "-" {
            Ok(AmiArg::Stdin)
        } else {
            s.parse().map(AmiArg::Id)
        }
    }
}

/// The IDs in `lines` (stdin's), skipping blank lines and `#` comments; the first malformed
/// one is an error naming its line.
pub fn ids_from_lines(lines: impl IntoIterator<Item = String>) -> Result<Vec<String>, Usage> {
    let mut ids = Vec::new();
    for (n, line) in lines.into_iter().enumerate() {
        let text = line.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        let id: AmiId = text.parse().map_err(|e| Usage(format!("stdin line {}: {text:?}: {e}", n + 1)))?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// What became of each AMI when more than one was asked for (or `-`).
#[derive(Debug, Serialize)]
pub struct Deletions {
    #[serde(flatten)]
    pub batch: Batch,
    pub dry_run: bool,
}

/// One AMI_ID keeps the single AMI's report (as before); several, or `-`, report a batch.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Deleted {
    One(Deletion),
    Many(Deletions),
}

impl Report for Deleted {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Deleted::One(d) => d.write_text(out),
            Deleted::Many(Deletions { batch, dry_run }) => {
                for d in &batch.deleted {
                    d.write_text(out)?;
                }
                for f in &batch.failed {
                    writeln!(out, "Failed {}: {}", f.image_id, f.error)?;
                }
                let verb = if *dry_run { "Would delete" } else { "Deleted" };
                let (amis, snapshots, gib, failed) = (batch.deleted.len(), batch.snapshots(), batch.deleted_gib(), batch.failed.len());
                writeln!(out, "{verb} {amis} AMIs ({snapshots} snapshots, {gib} GiB), {failed} failed")
            }
        }
    }

    fn failure(&self) -> Option<String> {
        match self {
            Deleted::One(d) => d.failure(),
            // An AMI whose snapshots were left is among both the deleted and the failed.
            Deleted::Many(Deletions { batch, .. }) => {
                let attempted: BTreeSet<&str> =
                    batch.deleted.iter().map(|d| d.image_id.as_str()).chain(batch.failed.iter().map(|f| f.image_id.as_str())).collect();
                batch.failure(attempted.len(), "were not deleted")
            }
        }
    }
}

impl Tool for Args {
    const NAME: &'static str = "delete-ami";
    const PACED: bool = true;
    type Plan = Doomed;

    /// Reads stdin for `-`: every ID is known, and well-formed, before the first request.
    fn prepare(self, _: &GlobalArgs) -> Result<Doomed> {
        if self.amis.iter().filter(|a| **a == AmiArg::Stdin).count() > 1 {
            bail!(Usage("- (stdin) may be given once".into()));
        }
        let mut seen = BTreeSet::new();
        let mut all = Vec::new();
        for arg in &self.amis {
            let ids = match arg {
                AmiArg::Id(id) => vec![id.to_string()],
                AmiArg::Stdin => {
                    let lines = io::stdin()
                        .lock()
                        .lines()
                        .collect::<io::Result<Vec<String>>>()
                        .map_err(|e| Usage(format!("reading stdin: {e}")))?;
                    let ids = ids_from_lines(lines)?;
                    if ids.is_empty() {
                        bail!(Usage("no AMI ID on stdin".into()));
                    }
                    ids
                }
            };
            all.extend(ids.into_iter().filter(|id| seen.insert(id.clone())));
        }
        Ok(Doomed {
            ids: all,
            single: self.amis.len() == 1 && self.amis[0] != AmiArg::Stdin,
            dry_run: self.dry_run,
            force: self.force,
            include_shared: self.include_shared,
            missing_ok: self.missing_ok,
            concurrency: self.concurrency,
        })
    }
}

impl Plan for Doomed {
    type Report = Deleted;

    async fn run(self, ctx: Context) -> Result<Deleted> {
        let ec2 = ctx.ec2();
        let single = self.single;
        let concurrency = usize::from(self.concurrency);

        // Each AMI as it stands (one DescribeImages each: a batch would fail whole on one
        // unknown ID), then what keeps any of them, at the same time: the in-use lookups once,
        // SSM references 10 AMIs a call, launch permissions one AMI a call.
        let missing_ok = self.missing_ok;
        let found: Vec<(String, Result<Target>)> = stream::iter(self.ids.clone())
            .map(|id| {
                let ec2 = ec2.clone();
                async move {
                    let target = find_target(&ec2, &id, missing_ok).await;
                    (id, target)
                }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let registered: Vec<String> =
            found.iter().filter(|(_, t)| matches!(t, Ok(Target::Registered(_)))).map(|(id, _)| id.clone()).collect();
        let mut uses = Uses::default();
        if !self.force && !registered.is_empty() {
            let asg = ctx.autoscaling();
            let (found, screened) = futures::try_join!(
                common::images::inuse::find(&ec2, &asg),
                common::images::inuse::screen(&ec2, &registered, self.include_shared)
            )?;
            uses = screened;
            uses.in_use.merge(found);
        }

        let (force, include_shared, dry_run) = (self.force, self.include_shared, self.dry_run);
        let results: Vec<(String, Result<Deletion>)> = stream::iter(found)
            .map(|(id, target)| {
                let (ec2, uses) = (ec2.clone(), &uses);
                async move {
                    let outcome = match target {
                        Ok(target) => match refusal(&target, uses, force, include_shared) {
                            Some(why) => Err(anyhow::anyhow!(why)),
                            None => delete(&ec2, target, dry_run).await,
                        },
                        Err(e) => Err(e),
                    };
                    (id, outcome)
                }
            })
            .buffered(concurrency)
            .collect()
            .await;

        if single {
            let (_, outcome) = results.into_iter().next().expect("one AMI");
            return outcome.map(Deleted::One);
        }
        let mut batch = Batch::default();
        for (image_id, outcome) in results {
            batch.record(image_id, outcome);
        }
        Ok(Deleted::Many(Deletions { batch, dry_run }))
    }
}

/// The AMI as EC2 knows it, or what it left behind if it is already deregistered (with
/// `missing_ok`, nothing at all counts as an AMI already deleted).
async fn find_target(ec2: &aws_sdk_ec2::Client, id: &str, missing_ok: bool) -> Result<Target> {
    if let Some(ami) = describe_one(ec2, id).await? {
        return Ok(Target::Registered(ami));
    }
    match leftovers(ec2, id).await? {
        Some(left) => {
            tracing::info!("AMI {id} is already deregistered; deleting the {} snapshot(s) left behind", left.snapshots.len());
            Ok(Target::Gone(left))
        }
        None if missing_ok => {
            tracing::info!("AMI {id} no longer exists and no snapshot made for it remains: already deleted (--missing-ok)");
            Ok(Target::Gone(common::Ami {
                image_id: id.to_owned(),
                state: aws_sdk_ec2::types::ImageState::Deregistered,
                ..common::Ami::default()
            }))
        }
        None => {
            bail!("AMI {id} does not exist (InvalidAMIID.NotFound), and no snapshot made for it remains (--missing-ok counts that as done)")
        }
    }
}

/// Why this AMI must not be deleted (see [`common::images::keep`]), with what would override it.
fn refusal(target: &Target, uses: &Uses, force: bool, include_shared: bool) -> Option<String> {
    let Target::Registered(ami) = target else { return None };
    let keep = why_kept(ami, uses, force, include_shared)?;
    let hint = match keep {
        Keep::Protected(_) => "DisableImageDeregistrationProtection turns it off; this tool never does",
        Keep::InUse(_) => "--force deletes it anyway",
        Keep::Shared(_) => "--include-shared deletes it anyway",
    };
    Some(format!("refusing to delete {}: {keep} ({hint})", ami.image_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_skip_blanks_and_comments_and_name_a_bad_line() {
        let lines = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let ids = ids_from_lines(lines(&["ami-0123abcd", "", "  # a comment", "ami-0123456789abcdef0  # old build"])).unwrap();
        assert_eq!(ids, ["ami-0123abcd", "ami-0123456789abcdef0"]);
        let err = ids_from_lines(lines(&["ami-0123abcd", "", "ami-XYZ"])).unwrap_err();
        assert!(err.0.starts_with("stdin line 3: \"ami-XYZ\""), "{}", err.0);
    }

    #[test]
    fn an_argument_is_an_id_or_stdin() {
        assert_eq!("-".parse::<AmiArg>(), Ok(AmiArg::Stdin));
        assert!(matches!("ami-0123abcd".parse::<AmiArg>(), Ok(AmiArg::Id(_))));
        assert!("ami-".parse::<AmiArg>().is_err());
    }
}
