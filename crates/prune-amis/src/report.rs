//! What a prune did, as text (one line per AMI touched, then a summary) or JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};

use common::images::delete::Batch;
use common::{Report, Scope};
use serde::Serialize;

use crate::plan::{Action, Decision, Retire};

/// The result of a prune.
#[derive(Debug, Serialize)]
pub struct Pruned {
    pub branch: String,
    /// The other tags the AMIs had to carry (--tag).
    pub tags: BTreeMap<String, String>,
    pub max: u32,
    pub retire: Retire,
    /// --older-than and --unused-for, as given.
    pub older_than: Option<String>,
    pub unused_for: Option<String>,
    pub dry_run: bool,
    /// Every AMI of the branch, oldest first, with its decision.
    pub plan: Vec<Decision>,
    pub disabled: Vec<String>,
    pub deprecated: Vec<String>,
    /// The AMIs deleted (`deleted`, `deleted_gib`) and those that could not be retired (`failed`).
    #[serde(flatten)]
    pub batch: Batch,
}

impl Pruned {
    fn retired(&self) -> usize {
        self.batch.deleted.len() + self.disabled.len() + self.deprecated.len()
    }
}

impl Report for Pruned {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.dry_run {
            for d in &self.plan {
                writeln!(out, "{} {} {} ({})", d.action.verb(), d.ami.image_id, d.ami.creation_date, d.reason)?;
            }
        }
        let would = |verb: &str| if self.dry_run { format!("would {verb}") } else { format!("{verb}d") };
        for d in &self.batch.deleted {
            let snaps = if d.deleted_snapshots.is_empty() { "no snapshots".to_owned() } else { d.deleted_snapshots.join(", ") };
            writeln!(out, "{} {} ({snaps})", would("delete"), d.image_id)?;
        }
        for id in &self.disabled {
            writeln!(out, "{} {id}", would("disable"))?;
        }
        for id in &self.deprecated {
            writeln!(out, "{} {id}", would("deprecate"))?;
        }
        for f in &self.batch.failed {
            writeln!(out, "failed {}: {}", f.image_id, f.error)?;
        }
        let kept = self.plan.iter().filter(|d| d.action == Action::Keep).count();
        let verb = match (self.retire, self.dry_run) {
            (Retire::Delete, false) => "Deleted",
            (Retire::Delete, true) => "Would delete",
            (Retire::Disable, false) => "Disabled",
            (Retire::Disable, true) => "Would disable",
            (Retire::Deprecate, false) => "Deprecated",
            (Retire::Deprecate, true) => "Would deprecate",
        };
        let scope = Scope { branch: self.branch.clone(), tags: self.tags.clone() };
        write!(out, "{verb} {} of {} AMIs of {scope}", self.retired(), self.plan.len())?;
        if self.retire == Retire::Delete {
            write!(out, " ({} snapshots, {} GiB)", self.batch.snapshots(), self.batch.deleted_gib())?;
        }
        writeln!(out, ", kept {kept}, {} failed", self.batch.failed.len())
    }

    fn failure(&self) -> Option<String> {
        self.batch.failure(self.plan.iter().filter(|d| d.action != Action::Keep).count(), "could not be retired")
    }
}
