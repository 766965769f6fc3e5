//! `rollback LAUNCH_TEMPLATE_ID ASG_NAME`: take a group back to its last good build, in one
//! command, during an incident.
//!
//! While a refresh of the group is under way (`Pending`, `InProgress`, `Baking`), it is rolled
//! back (`RollbackInstanceRefresh`: the group goes back to the configuration it had) and
//! followed to its end. Otherwise the group is refreshed to the last good version of its
//! launch template: the newest numbered version below the one the group names whose AMI
//! verify-ami passed and can still launch (`common::groups::rollback`), or `--to-version N`.
//! The deploy loop's scripts had no way back but a person running a bump and a refresh by hand.

mod report;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use aws_sdk_autoscaling::types::{DesiredConfiguration, InstanceRefreshStatus as S, LaunchTemplateSpecification, RefreshPreferences};
use clap::Parser;
use common::aws::error::aws_error;
use common::aws::ids::LaunchTemplateId;
use common::cli::flags::positive_secs;
use common::groups::launches::list_groups;
use common::groups::rollback::last_good;
use common::groups::templates::version_images;
use common::images::ami::describe_many;
use common::{Context, GlobalArgs, Plan, Tool};
use instance_refresh::follow::{Follower, Waited};

pub use crate::report::{How, RolledBack, Stop};

/// Take an Auto Scaling group back to its last good launch template version.
///
/// While a refresh of the group is Pending, InProgress or Baking, it is rolled back
/// (RollbackInstanceRefresh: the group goes back to the launch template version it ran before)
/// and followed until RollbackSuccessful (exit 0) or RollbackFailed (exit 1); a refresh AWS
/// cannot roll back (IrreversibleInstanceRefresh: no desired configuration, or a group on
/// $Latest or $Default) is said so in one line (exit 1).
///
/// Otherwise the group is refreshed to the last good version of LAUNCH_TEMPLATE_ID: the newest
/// numbered version older than the one the group names whose AMI verify-ami passed and can
/// still launch (or --to-version N), matching instances skipped, and the refresh followed to
/// its end like instance-refresh's (exit 0 on Successful). No such version is exit 1 with the
/// reason.
///
/// Example (during an incident):  rollback lt-0123456789abcdef0 web
///
/// Example (to a version named):  rollback --to-version 7 lt-0123456789abcdef0 web
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The group's launch template (lt- followed by hex digits).
    #[arg(value_name = "LAUNCH_TEMPLATE_ID")]
    pub launch_template_id: LaunchTemplateId,

    /// The Auto Scaling group to take back.
    #[arg(value_name = "ASG_NAME")]
    pub asg_name: common::aws::ids::GroupName,

    /// Go back to this version (a number) instead of the last good one.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub to_version: Option<u64>,

    /// Seconds between two looks at the refresh's status.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 15.0, value_parser = positive_secs)]
    pub interval: f64,

    /// Give up waiting after this many seconds (the refresh goes on in AWS).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 3600.0, value_parser = positive_secs)]
    pub timeout: f64,

    /// Say what would be rolled back, or which version the group would go back to; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A rollback to make, from the arguments.
#[derive(Debug)]
pub struct Rollback {
    template: LaunchTemplateId,
    group: String,
    to_version: Option<i64>,
    interval: Duration,
    timeout: Duration,
    dry_run: bool,
    quiet: bool,
}

impl Tool for Args {
    const NAME: &'static str = "rollback";
    type Plan = Rollback;

    fn prepare(self, global: &GlobalArgs) -> Result<Rollback> {
        Ok(Rollback {
            template: self.launch_template_id,
            group: self.asg_name.to_string(),
            to_version: self.to_version.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            interval: Duration::from_secs_f64(self.interval),
            timeout: Duration::from_secs_f64(self.timeout),
            dry_run: self.dry_run,
            quiet: global.out.quiet,
        })
    }
}

impl Plan for Rollback {
    type Report = RolledBack;

    async fn run(self, ctx: Context) -> Result<RolledBack> {
        let started = Instant::now();
        let asg = ctx.autoscaling();
        let mut follower = Follower {
            asg: asg.clone(),
            group: &self.group,
            interval: self.interval,
            deadline: started + self.timeout,
            signal: common::cli::signal::shutdown_signal(),
            polls: 0,
            quiet: self.quiet,
        };
        let mut report = match self.active(&asg).await? {
            Some((id, status)) => self.roll_back(&asg, &mut follower, id, status).await?,
            None => self.refresh_to_last_good(&ctx, &mut follower).await?,
        };
        report.duration_seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        Ok(report)
    }
}

impl Rollback {
    /// The group's refresh that has not ended, with its status, if any.
    async fn active(&self, asg: &aws_sdk_autoscaling::Client) -> Result<Option<(String, S)>> {
        let refreshes = common::groups::refresh::refreshes_of(asg, &self.group).await?;
        Ok(refreshes.iter().find_map(|r| {
            let status = r.status()?.clone();
            matches!(status, S::Pending | S::InProgress | S::Baking | S::RollbackInProgress | S::Cancelling)
                .then(|| (r.instance_refresh_id().unwrap_or_default().to_owned(), status))
        }))
    }

    /// Rolls back the refresh under way (or follows one already rolling back) to its end.
    async fn roll_back(&self, asg: &aws_sdk_autoscaling::Client, follower: &mut Follower<'_>, id: String, status: S) -> Result<RolledBack> {
        let group = &self.group;
        let mut report = RolledBack::new(How::RollbackOfRefresh, group, &self.template, self.dry_run);
        report.instance_refresh_id = id.clone();
        if status == S::Cancelling {
            bail!("refresh {id} of {group} is being cancelled: there is nothing to roll back");
        }
        if self.dry_run {
            tracing::info!("would roll back refresh {id} of {group} ({})", status.as_str());
            return Ok(report);
        }
        if status != S::RollbackInProgress {
            match asg.rollback_instance_refresh().auto_scaling_group_name(group).send().await {
                Ok(_) => tracing::info!("rolling back refresh {id} of {group}"),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_irreversible_instance_refresh_fault()) => {
                    let why = e.as_service_error().and_then(|s| s.meta().message()).unwrap_or("AWS gives no reason").to_owned();
                    bail!("refresh {id} of {group} cannot be rolled back (IrreversibleInstanceRefresh: {why})");
                }
                Err(e) => return Err(aws_error(format!("rolling back refresh {id} of {group}"), e)),
            }
        }
        report.follow(follower, &id).await?;
        Ok(report)
    }

    /// Refreshes the group to the last good version (or --to-version), and follows it.
    async fn refresh_to_last_good(&self, ctx: &Context, follower: &mut Follower<'_>) -> Result<RolledBack> {
        let (group, lt) = (&self.group, self.template.as_str());
        let (ec2, asg) = (ctx.ec2(), ctx.autoscaling());
        let (groups, listed) = tokio::join!(list_groups(&asg, std::slice::from_ref(&self.group)), version_images(&ec2, lt));
        let (groups, listed) = (groups?, listed?);
        let Some(on) = groups.first().and_then(|g| g.main_template()).map(|u| u.version.clone()) else {
            bail!("group {group} does not launch from launch template {lt}");
        };
        let current = listed.resolve(&on).unwrap_or(0);
        let images = listed.images;
        let mut report = RolledBack::new(How::RefreshToVersion, group, &self.template, self.dry_run);
        report.from_version = Some(on.clone());
        let (to, image) = match self.to_version {
            Some(n) => match images.get(&n) {
                Some(image) => (n, image.clone()),
                None => bail!("launch template {lt} has no version {n} that names an AMI"),
            },
            None => {
                let ids: Vec<String> = images.range(..current).map(|(_, id)| id.clone()).collect();
                let amis = describe_many(&ec2, &ids).await?;
                match last_good(&images, &amis, current) {
                    Some(found) => found,
                    None => bail!(
                        "group {group} is on version {on} of {lt}, and no older version runs an AMI that passed verification and can still launch: nothing to go back to (name one with --to-version)"
                    ),
                }
            }
        };
        report.to_version = Some(to);
        report.image_id = Some(image.clone());
        if self.dry_run {
            tracing::info!("would refresh {group} from version {on} to version {to} of {lt} ({image})");
            return Ok(report);
        }
        let desired = DesiredConfiguration::builder()
            .launch_template(LaunchTemplateSpecification::builder().launch_template_id(lt).version(to.to_string()).build())
            .build();
        let request = instance_refresh::start::Request {
            group,
            strategy: None,
            desired: Some(desired),
            // Instances already on the version stay; a rollback keeps capacity up.
            preferences: Some(RefreshPreferences::builder().skip_matching(true).build()),
            if_running: instance_refresh::IfRunning::Fail,
        };
        let id = instance_refresh::start::start(&asg, request, follower).await?;
        tracing::info!("started instance refresh {id} of {group}: back to version {to} of {lt} ({image})");
        report.instance_refresh_id = id.clone();
        report.follow(follower, &id).await?;
        Ok(report)
    }
}

impl RolledBack {
    /// Follows refresh `id` to its end (or the deadline, or a signal), as instance-refresh does.
    async fn follow(&mut self, follower: &mut Follower<'_>, id: &str) -> Result<()> {
        let (last, stopped) = match follower.wait(id).await? {
            Waited::Ended(r) => (r, Stop::Finished),
            Waited::TimedOut(r) => (r, Stop::TimedOut),
            Waited::Interrupted(r) => (r, Stop::Interrupted),
        };
        self.status = last.status().cloned();
        self.status_reason = last.status_reason().map(str::to_owned);
        self.stopped = stopped;
        Ok(())
    }
}
