//! `prune-amis BRANCH MAX`: keep the newest MAX AMIs of a branch, retire the rest that nothing
//! needs: delete them with their EBS snapshots (or disable, or deprecate them).
//!
//! Replaces the deploy loop's prune script (the README's table of tools), which could not run
//! at all. The rules are [`plan`]'s (count, age, last launch, in use, shared); each deletion is
//! `common::images::delete`'s, as `delete-ami`'s is, one DeregisterImage per AMI that deletes its
//! snapshots too. One AMI that fails does not stop the others: every failure is reported and
//! the exit status is 1.

pub mod accounts;
pub mod plan;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use clap::Parser;
use common::cli::flags::PaceArgs;
use common::deploy::regions::{check_known, each, list_in_each, OneOrMany};
use common::deploy::targets::{self, Targets};
use common::images::builds::{pick, Picked};
use common::images::delete::{delete, Batch, Target};
use common::images::inuse::Sharing;
use common::images::keep::Keep;
use common::images::retire::Retirement;
use common::{list_amis, Ami, Context, GlobalArgs, Plan, Prepared, RegionsArgs, Scope, TagArgs, Tool, Uses};
use futures::stream::{self, StreamExt};

use crate::accounts::Elsewhere;
use crate::plan::{plan, shared_reason, Action, Retire, Rules};
use crate::report::Pruned;

/// Keep the newest MAX AMIs of a branch; retire (delete, disable or deprecate) the rest.
///
/// AMIs are this account's images tagged branch=BRANCH (and every --tag), disabled and
/// deprecated ones included, ordered by CreationDate (ties by ImageId). The newest MAX are
/// always kept. An older AMI is kept too when: an instance runs it (pending, running,
/// stopping, stopped); a launch template's default or latest version names it; any version of
/// a template an Auto Scaling group launches from names it (the group's own, its mixed
/// instances policy's, or an override's; directly or through resolve:ssm:); a launch
/// configuration names it; an SSM parameter names it or an EC2 Image Builder recipe builds on
/// it; it has deregistration protection; it is younger than --older-than; it
/// was launched within --unused-for; it is shared with another account or public (unless
/// --include-shared). The rest are retired, oldest first.
///
/// Example (from buildspec.yml):  prune-amis --tag app="$APP" "$BRANCH" "$AMIS_TO_KEEP"
///
/// Example (an age floor and a launch window):  prune-amis main 5 --older-than 30d --unused-for 14d
///
/// Example (staged retirement):  prune-amis main 5 --retire disable && prune-amis main 10
///
/// Example (every Region a build was copied to, at once):  prune-amis --regions us-east-1,eu-west-1 main 5
///
/// Example (AMIs shared with the deploy's accounts):  prune-amis --targets deploy-targets.json main 5
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The value of the AMIs' `branch` tag.
    #[arg(value_name = "BRANCH")]
    pub branch: String,

    /// How many of the newest AMIs to keep: 1 or more (0 would retire the image in service).
    #[arg(value_name = "MAX", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max: u32,

    #[command(flatten)]
    pub tags: TagArgs,

    /// Retire an AMI only when it is also older than this (30d, 12h, 90m, 45s, 1w 2d).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = positive_duration)]
    pub older_than: Option<Duration>,

    /// Keep an AMI launched within this long (EC2's LastLaunchedTime, which EC2 records up to
    /// about a day late).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = positive_duration)]
    pub unused_for: Option<Duration>,

    /// What happens to the AMIs the rules select.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = Retire::Delete)]
    pub retire: Retire,

    /// Retire AMIs that are shared with other accounts or public too (their launches will
    /// fail). Without it they are kept.
    #[arg(long)]
    pub include_shared: bool,

    /// The deploy's targets file: also look up, through each target's role, what its account
    /// launches in its Region (instances, templates and their versions, groups, launch
    /// configurations, SSM parameters), all at once, and keep every AMI any of them uses. An
    /// AMI shared only with accounts looked up so is retired by the usual rules; one shared
    /// with any other account, an organization, an OU or the public is kept unless
    /// --include-shared. A role that cannot be assumed, or a lookup that fails, stops the prune
    /// before anything is retired.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Print the plan (each AMI, keep or retire, and why) and check permissions with EC2's
    /// DryRun; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How many AMIs to retire at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    #[command(flatten, next_help_heading = "Pacing")]
    pub pace: PaceArgs,

    /// With --regions, each Region is pruned by the same rules, at the same time, with its own
    /// in-use lookups and its own pace; one Region that fails does not stop the others.
    #[command(flatten)]
    pub regions: RegionsArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Parses a duration (humantime's forms: 30d, 12h, 90m, 45s, 1w 2d) that must be more than 0.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("the duration must be more than 0, got {s:?}")),
        Err(e) => Err(format!("expected a duration such as 30d, 12h, 90m or 45s, got {s:?} ({e})")),
    }
}

/// How many of the AMIs to retire have their launch permissions read beside the in-use
/// lookups: a prune of a few AMIs then waits for no read of its own, and at most this many
/// reads are spent on AMIs a lookup then keeps.
const READ_AHEAD: usize = 8;

/// What became of one AMI the plan meant to retire.
enum Outcome {
    /// Its launch permissions name other accounts: kept after all.
    Shared(String),
    Deleted(common::images::delete::Deletion),
    Retired,
    Failed(anyhow::Error),
}

impl Tool for Args {
    const NAME: &'static str = "prune-amis";
    type Plan = Pruning;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    /// The scope and the rules, once: --tags that do not make one scope are a usage error
    /// here, before any request, rather than in each Region.
    fn prepare(self) -> Result<Prepared<Pruning>> {
        let scope = Scope::new(&self.branch, &self.tags.tags)?;
        let rules = Rules {
            max: self.max,
            older_than: self.older_than,
            unused_for: self.unused_for,
            retire: self.retire,
            include_shared: self.include_shared,
        };
        let targets = match &self.targets {
            Some(path) => Targets::read(path)?.targets,
            None => Vec::new(),
        };
        let (rate, first) = (self.pace.rate, self.regions.regions.as_ref().map(|r| r.names()[0].clone()));
        Ok(Prepared::new(Pruning { args: self, scope, rules, targets }).rate(rate).fallback_region(first))
    }
}

/// A prune to run: the arguments, the AMIs' scope and the rules made of them, and the
/// deploy's targets (--targets).
pub struct Pruning {
    args: Args,
    scope: Scope,
    rules: Rules,
    targets: Vec<targets::Target>,
}

impl std::ops::Deref for Pruning {
    type Target = Args;

    fn deref(&self) -> &Args {
        &self.args
    }
}

impl Plan for Pruning {
    type Report = OneOrMany<Pruned>;

    async fn run(self, ctx: Context) -> Result<OneOrMany<Pruned>> {
        let Some(regions) = self.regions.regions.clone() else {
            if self.targets.is_empty() {
                return Ok(OneOrMany::One(self.prune(ctx, None, None, Elsewhere::default()).await?));
            }
            // With --targets, the other accounts' lookups and this one's run beside the listing.
            let region = ctx.region().to_owned();
            let (ec2, asg) = (ctx.ec2(), ctx.autoscaling());
            let (amis, reached, here) = futures::try_join!(
                list_amis(&ec2, &self.scope, false),
                accounts::reach(&ctx, accounts::to_check(&self.targets, std::slice::from_ref(&region))),
                common::images::inuse::find(&ec2, &asg)
            )?;
            let older = BTreeMap::from([(region.clone(), self.retirable(&amis, None, SystemTime::now()))]);
            let mut elsewhere = accounts::look(reached, &older).await?.remove(&region).unwrap_or_default();
            elsewhere.here = Some(here);
            return Ok(OneOrMany::One(self.prune(ctx, Some(amis), None, elsewhere).await?));
        };
        check_known(&ctx.ec2(), &regions).await?;
        // Every Region's AMIs first: only all of them together tell which build a deploy to
        // these Regions picks (the newest available in every one), and its copies must stay
        // in every Region, even where newer builds would push them past MAX. The other
        // accounts' lookups run beside the listing; any that fails stops the prune here.
        let (listings, reached) = futures::join!(
            list_in_each(&ctx, &regions, &self.scope),
            accounts::reach(&ctx, accounts::to_check(&self.targets, regions.names()))
        );
        let (mut listed, mut failed) = (Vec::new(), Vec::new());
        for (region, listing) in listings {
            match listing {
                Ok(amis) => listed.push((region, amis)),
                Err(e) => failed.push((region, Err(e))),
            }
        }
        let older: BTreeMap<String, Vec<String>> =
            listed.iter().map(|(r, amis)| (r.clone(), self.retirable(amis, None, SystemTime::now()))).collect();
        let mut elsewhere = accounts::look(reached?, &older).await?;
        let deployable = deployable(&listed);
        let mut listings: HashMap<String, Result<Vec<Ami>>> = listed.into_iter().map(|(r, amis)| (r, Ok(amis))).chain(failed).collect();
        let this = &self;
        let per_region = each(&ctx, &regions, |ctx| {
            let listing = listings.remove(ctx.region());
            let keep = deployable.get(ctx.region()).cloned();
            let there = elsewhere.remove(ctx.region()).unwrap_or_default();
            async move {
                let amis = listing.expect("every Region was listed")?;
                this.prune(ctx, Some(amis), keep, there).await
            }
        })
        .await;
        Ok(OneOrMany::Many(per_region))
    }
}

/// Which AMI each Region must keep for the build a deploy to all of them picks (the newest
/// available in every listed Region), and why.
fn deployable(listed: &[(String, Vec<Ami>)]) -> HashMap<String, (String, String)> {
    let listed_regions: Vec<String> = listed.iter().map(|(r, _)| r.clone()).collect();
    match pick(&listed_regions, listed, SystemTime::now(), false) {
        Picked::Build { name, images, .. } => {
            let why = format!("build {name} is the newest available in every Region, the one a deploy to them picks");
            images.into_iter().map(|(region, id)| (region, (id, why.clone()))).collect()
        }
        Picked::None { .. } => HashMap::new(),
    }
}

impl Pruning {
    /// Prunes the branch's AMIs in the context's Region: `listed`, if they were listed already,
    /// keeping `keep` (an AMI ID and why) besides what the rules keep.
    /// `elsewhere` is what the other accounts use in this Region (--targets).
    async fn prune(&self, ctx: Context, listed: Option<Vec<Ami>>, keep: Option<(String, String)>, elsewhere: Elsewhere) -> Result<Pruned> {
        let (scope, rules, now) = (&self.scope, &self.rules, SystemTime::now());
        let amis = match listed {
            Some(amis) => amis,
            None => list_amis(&ctx.ec2(), scope, false).await?,
        };
        let (uses, mut read) = self.uses(&ctx, &amis, keep, elsewhere.here, elsewhere.in_use, now).await?;
        let mut plan = plan(amis, rules, &uses, now);
        let doomed: Vec<(Ami, Action, Option<Result<Sharing>>)> =
            plan.iter().filter(|d| d.action != Action::Keep).map(|d| (d.ami.clone(), d.action, read.remove(&d.ami.image_id))).collect();
        tracing::info!("{scope}: {} AMIs, retiring {} ({})", plan.len(), doomed.len(), plan::Retire::verb(self.retire));
        let results = self.retire_all(&ctx, doomed, &elsewhere.checked, now).await;
        let mut report = self.tally(results, &mut plan);
        report.plan = plan;
        Ok(report)
    }

    /// The AMIs the rules would retire were nothing in use (besides `keep`, an AMI ID and why):
    /// a superset of those they will retire, as a use only ever keeps more. A failed newest
    /// build is among them, which is why this is the plan's own answer and not "all but the
    /// newest MAX".
    fn retirable(&self, amis: &[Ami], keep: Option<&(String, String)>, now: SystemTime) -> Vec<String> {
        let mut uses = Uses::default();
        if let Some((id, why)) = keep {
            uses.in_use.add(id.clone(), why.clone());
        }
        plan(amis.to_vec(), &self.rules, &uses, now).into_iter().filter(|d| d.action != Action::Keep).map(|d| d.ami.image_id).collect()
    }

    /// What the plan must not retire, and the launch permissions of the first AMIs it may
    /// retire. Only the older AMIs can be retired: nothing is looked up unless there are any.
    /// Then the lookups run at the same time: this account's uses (unless `here` has them
    /// already), the references to the AMIs the rules would retire were nothing in use (a
    /// superset of those they will retire: a use only ever keeps more), and the launch
    /// permissions of the first [`READ_AHEAD`] of those; the rest are read as they are
    /// retired. `elsewhere` is the other accounts' uses.
    async fn uses(
        &self,
        ctx: &Context,
        amis: &[Ami],
        keep: Option<(String, String)>,
        here: Option<common::InUse>,
        elsewhere: common::InUse,
        now: SystemTime,
    ) -> Result<(Uses, HashMap<String, Result<Sharing>>)> {
        let mut uses = Uses::default();
        if amis.len() <= self.max as usize {
            return Ok((uses, HashMap::new()));
        }
        let candidates = self.retirable(amis, keep.as_ref(), now);
        if let Some((id, why)) = keep {
            uses.in_use.add(id, why);
        }
        let read_first: Vec<String> = if self.include_shared { Vec::new() } else { candidates.iter().take(READ_AHEAD).cloned().collect() };
        let ec2 = ctx.ec2();
        let found = async {
            match here {
                Some(found) => Ok(found),
                None => common::images::inuse::find(&ec2, &ctx.autoscaling()).await,
            }
        };
        let referenced = async {
            let mut referenced = common::InUse::default();
            common::images::inuse::references(&ec2, &candidates, &mut referenced).await?;
            Ok::<_, anyhow::Error>(referenced)
        };
        let reads = futures::future::join_all(read_first.into_iter().map(|id| {
            let ec2 = &ec2;
            async move {
                let sharing = common::images::inuse::shared_with(ec2, &id).await;
                (id, sharing)
            }
        }));
        let (found, referenced, read) = futures::join!(found, referenced, reads);
        uses.in_use.merge(found?);
        uses.in_use.merge(elsewhere);
        uses.in_use.merge(referenced?);
        Ok((uses, read.into_iter().collect()))
    }

    /// Retires the doomed, `--concurrency` at a time. Launch permissions come one AMI a call:
    /// those not read already ([`Pruning::uses`]) are read [`READ_AHEAD`] at a time in a
    /// stream of their own that runs ahead of the retirements, so the reads (20 a second)
    /// overlap the deletes (5) and no delete waits for a read once the first are in.
    /// An AMI shared only with `checked` accounts (whose uses were looked up) is retired.
    async fn retire_all(
        &self,
        ctx: &Context,
        doomed: Vec<(Ami, Action, Option<Result<Sharing>>)>,
        checked: &[String],
        now: SystemTime,
    ) -> Vec<(String, Outcome)> {
        let (dry_run, check_shared) = (self.dry_run, !self.include_shared);
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
    fn tally(&self, results: Vec<(String, Outcome)>, plan: &mut [plan::Decision]) -> Pruned {
        let mut report = Pruned {
            branch: self.branch.clone(),
            tags: self.scope.tags.clone(),
            max: self.max,
            retire: self.retire,
            older_than: self.older_than.map(plan::human),
            unused_for: self.unused_for.map(plan::human),
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
                Outcome::Retired if self.retire == Retire::Disable => report.disabled.push(image_id),
                Outcome::Retired => report.deprecated.push(image_id),
                Outcome::Failed(e) => report.batch.fail(image_id, &e),
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(positive_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(positive_duration("1w 2d"), Ok(Duration::from_secs(9 * 86_400)));
        assert_eq!(positive_duration("90m"), Ok(Duration::from_secs(5400)));
        for bad in ["0s", "-5d", "30", "soon", ""] {
            assert!(positive_duration(bad).is_err(), "{bad}");
        }
    }
}
