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
mod retire;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use clap::Parser;
use common::deploy::regions::{check_known, each, list_in_each, OneOrMany};
use common::deploy::targets::{self, Targets};
use common::images::builds::{pick, Picked};
use common::images::inuse::Sharing;
use common::{list_amis, Ami, Context, GlobalArgs, Plan, RegionList, RegionsArgs, Scope, TagArgs, Tool, Uses};

use crate::accounts::Elsewhere;
use crate::plan::{plan, Action, Retire, Rules};
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

    /// With --regions, each Region is pruned by the same rules, at the same time, with its own
    /// in-use lookups and its own pace; one Region that fails does not stop the others.
    #[command(flatten)]
    pub regions: RegionsArgs,
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

impl Tool for Args {
    const NAME: &'static str = "prune-amis";
    const PACED: bool = true;
    type Plan = Pruning;

    /// The scope and the rules, once: --tags that do not make one scope are a usage error
    /// here, before any request, rather than in each Region.
    fn prepare(self, _: &GlobalArgs) -> Result<Pruning> {
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
        Ok(Pruning {
            scope: Scope::new(&self.branch, &self.tags.tags)?,
            rules,
            targets,
            regions: self.regions.regions,
            dry_run: self.dry_run,
            concurrency: self.concurrency,
        })
    }
}

/// A prune to run: the AMIs' scope, the rules, the deploy's targets (--targets), the Regions
/// (--regions), and how to retire.
#[derive(Debug)]
pub struct Pruning {
    scope: Scope,
    rules: Rules,
    targets: Vec<targets::Target>,
    regions: Option<RegionList>,
    dry_run: bool,
    concurrency: u16,
}

impl Plan for Pruning {
    type Report = OneOrMany<Pruned>;

    fn fallback_region(&self) -> Option<&str> {
        self.regions.as_ref().map(RegionList::first)
    }

    async fn run(self, ctx: Context) -> Result<OneOrMany<Pruned>> {
        let Some(regions) = self.regions.clone() else {
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
        tracing::info!("{scope}: {} AMIs, retiring {} ({})", plan.len(), doomed.len(), plan::Retire::verb(self.rules.retire));
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
        if amis.len() <= self.rules.max as usize {
            return Ok((uses, HashMap::new()));
        }
        let candidates = self.retirable(amis, keep.as_ref(), now);
        if let Some((id, why)) = keep {
            uses.in_use.add(id, why);
        }
        let read_first: Vec<String> =
            if self.rules.include_shared { Vec::new() } else { candidates.iter().take(READ_AHEAD).cloned().collect() };
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
