//! The retirements a prune's plan calls for, `--concurrency` at a time, with the launch
//! permissions read ahead of them, and the report of what they did.

use std::time::SystemTime;

use anyhow::Result;

use common::images::delete::{delete, Batch, Target};
use common::images::inuse::Sharing;
use common::images::keep::Keep;
use common::images::retire::Retirement;
use common::{Ami, Context};
use futures::stream::{self, StreamExt};

use crate::plan::{self, shared_reason, Action, Retire};
use crate::report::Pruned;
use crate::{Pruning, READ_AHEAD};

/// What became of one AMI the plan meant to retire.
pub(crate) enum Outcome {
    /// Its launch permissions name other accounts: kept after all.
    Shared(String),
    Deleted(common::images::delete::Deletion),
    Retired,
    Failed(anyhow::Error),
}

impl Pruning {
    /// Retires the doomed, `--concurrency` at a time. Launch permissions come one AMI a call:
    /// those not read already ([`Pruning::uses`]) are read [`READ_AHEAD`] at a time in a
    /// stream of their own that runs ahead of the retirements, so the reads (20 a second)
    /// overlap the deletes (5) and no delete waits for a read once the first are in.
    /// An AMI shared only with `checked` accounts (whose uses were looked up) is retired.
    pub(crate) async fn retire_all(
        &self,
        ctx: &Context,
        doomed: Vec<(Ami, Action, Option<Result<Sharing>>)>,
        checked: &[String],
        now: SystemTime,
    ) -> Vec<(String, Outcome)> {
        let (dry_run, check_shared) = (self.dry_run, !self.rules.include_shared);
        let ec2 = ctx.ec2();
        let (mut ahead, read) = futures::channel::mpsc::channel(READ_AHEAD);
        let reads = async {
            let mut reads = stream::iter(doomed)
                .map(|(ami, action, read)| {
                    let ec2 = &ec2;
                    async move {
                        let sharing = match read {
                            Some(sharing) => Some(sharing),
                            None if check_shared => Some(common::images::inuse::shared_with(ec2, &ami.image_id).await),
                            None => None,
                        };
                        (ami, action, sharing)
                    }
                })
                .buffered(READ_AHEAD);
            while let Some(item) = reads.next().await {
                if futures::SinkExt::send(&mut ahead, item).await.is_err() {
                    break;
                }
            }
            drop(ahead);
        };
        let retirements = read
            .map(|(ami, action, sharing): (Ami, Action, Option<Result<Sharing>>)| {
                let ec2 = &ec2;
                async move {
                    let id = ami.image_id.clone();
                    match sharing {
                        Some(Ok(sharing)) => {
                            if let Some(who) = sharing.beyond(checked) {
                                return (id, Outcome::Shared(who));
                            }
                        }
                        Some(Err(e)) => return (id, Outcome::Failed(e)),
                        None => {}
                    }
                    let outcome = match action {
                        Action::Delete => delete(ec2, Target::Registered(ami), dry_run).await.map(Outcome::Deleted),
                        Action::Disable => Retirement::Disable.apply(ec2, &id, dry_run, now).await.map(|()| Outcome::Retired),
                        Action::Deprecate => Retirement::Deprecate.apply(ec2, &id, dry_run, now).await.map(|()| Outcome::Retired),
                        Action::Keep => Ok(Outcome::Retired),
                    };
                    (id, outcome.unwrap_or_else(Outcome::Failed))
                }
            })
            .buffered(usize::from(self.concurrency))
            .collect::<Vec<_>>();
        futures::join!(reads, retirements).1
    }

    /// The report of what the retirements did; an AMI found shared goes back into the plan as kept.
    pub(crate) fn tally(&self, results: Vec<(String, Outcome)>, plan: &mut [plan::Decision]) -> Pruned {
        let mut report = Pruned {
            branch: self.scope.branch.clone(),
            tags: self.scope.tags.clone(),
            max: self.rules.max,
            retire: self.rules.retire,
            older_than: self.rules.older_than.map(plan::human),
            unused_for: self.rules.unused_for.map(plan::human),
            dry_run: self.dry_run,
            plan: Vec::new(),
            disabled: Vec::new(),
            deprecated: Vec::new(),
            batch: Batch::default(),
        };
        for (image_id, outcome) in results {
            match outcome {
                Outcome::Shared(who) => {
                    if let Some(d) = plan.iter_mut().find(|d| d.ami.image_id == image_id) {
                        d.action = Action::Keep;
                        d.reason = shared_reason(&Keep::Shared(who));
                    }
                }
                Outcome::Deleted(d) => report.batch.record(image_id, Ok(d)),
                Outcome::Retired if self.rules.retire == Retire::Disable => report.disabled.push(image_id),
                Outcome::Retired => report.deprecated.push(image_id),
                Outcome::Failed(e) => report.batch.fail(image_id, &e),
            }
        }
        report
    }
}
