//! `instance-refresh CONFIG_FILE ASG_NAME`: start an Auto Scaling group instance refresh and
//! follow it until it ends.
//!
//! Replaces the deploy loop's refresh script (the README's table of tools). That script
//! polled the group's newest refresh, which may be someone else's, and it started the group
//! named in the file but polled the one named on the command line. This follows the refresh by the ID its start returned, refuses a
//! file that names another group, and treats every status AWS has: only `Successful` is
//! success; `RollbackSuccessful` means the new instances were rolled back.

pub mod alarms;
pub mod config;
pub mod follow;
pub mod progress;
pub mod report;
pub mod start;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use common::aws::error::Usage;
use common::aws::ids::LaunchTemplateId;
use common::cli::flags::positive_secs;
use common::groups::launches::list_groups;
use common::groups::refresh::{phase, Phase};
use common::{Context, GlobalArgs, Plan, Tool};

use crate::config::RefreshConfig;
use crate::follow::{Follower, Waited};
use crate::report::{Activity, Refreshed, Stop};

/// Start an instance refresh of an Auto Scaling group and wait until it ends.
///
/// CONFIG_FILE is the JSON that `aws autoscaling start-instance-refresh --cli-input-json`
/// takes (Strategy, DesiredConfiguration, Preferences). Progress goes to stderr; the final
/// status to stdout. Exit status: 0 when the refresh is Successful; 1 when it Failed, was
/// Cancelled, was rolled back, or did not end within --timeout; 130 when interrupted.
///
/// Example (from buildspec.yml):
///   instance-refresh --launch-template-id "$LAUNCH_TEMPLATE_ID" \
///     --launch-template-version "$(cat launch_template_version)" "$REFRESH_CONFIG" "$ASG_NAME"
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The refresh config (JSON, AWS's field names). Its AutoScalingGroupName, if any, must be ASG_NAME.
    #[arg(value_name = "CONFIG_FILE")]
    pub config_file: PathBuf,

    /// The Auto Scaling group to refresh.
    #[arg(value_name = "ASG_NAME")]
    pub asg_name: String,

    /// Seconds between two looks at the refresh's status.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 15.0, value_parser = positive_secs)]
    pub interval: f64,

    /// Give up waiting after this many seconds (the refresh goes on in AWS).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 3600.0, value_parser = positive_secs)]
    pub timeout: f64,

    /// Pin the refresh to this launch template version (a number), so that AWS can roll it
    /// back; sets DesiredConfiguration.LaunchTemplate.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub launch_template_version: Option<u64>,

    /// The launch template that --launch-template-version refers to (default: the one in the
    /// config file's DesiredConfiguration, else the group's own).
    #[arg(long, value_name = "ID", requires = "launch_template_version")]
    pub launch_template_id: Option<LaunchTemplateId>,

    /// What to do when the group already has a refresh in progress.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = IfRunning::Fail)]
    pub if_running: IfRunning,

    /// On Ctrl-C or SIGTERM, cancel the refresh instead of leaving it running.
    #[arg(long)]
    pub cancel_on_exit: bool,

    /// Watch this CloudWatch alarm through the refresh and its bake time (repeatable; at most
    /// 10 with the config file's AlarmSpecification): one in ALARM fails the refresh, or rolls
    /// it back with AutoRollback. Each must exist in the group's account and Region, and none
    /// be in ALARM, before anything starts.
    #[arg(long = "alarm", value_name = "NAME", value_parser = alarm_name)]
    pub alarms: Vec<String>,

    /// After the last replacement, wait this long (status Baking), the alarms still watched,
    /// before the refresh counts as done: 90s, 15m, 1h; 0 to 48 hours, whole seconds.
    #[arg(long, value_name = "DURATION", value_parser = bake_time)]
    pub bake_time: Option<Duration>,

    /// Check the config and the group, print what would be started, start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// An alarm's name as Auto Scaling takes it (`common::deploy::targets::check_alarm_name`).
fn alarm_name(s: &str) -> Result<String, String> {
    common::deploy::targets::check_alarm_name(s).map(|()| s.to_owned())
}

/// A bake time: a duration (90s, 15m, 1h) of whole seconds, 0 to 48 hours (AWS's 172800 s).
pub fn bake_time(s: &str) -> Result<Duration, String> {
    let d = match s.trim() {
        "0" => Duration::ZERO,
        t => humantime::parse_duration(t).map_err(|e| format!("expected a duration such as 90s, 15m or 1h, got {s:?} ({e})"))?,
    };
    if d.subsec_nanos() != 0 {
        return Err(format!("the bake time is whole seconds, got {s:?}"));
    }
    if d > Duration::from_secs(172_800) {
        return Err(format!("the bake time is at most 48 hours, got {s:?}"));
    }
    Ok(d)
}

/// A refresh to start and follow: the group, the config file read and checked, the version to
/// pin it to, and how to wait.
#[derive(Debug)]
pub struct Refresh {
    pub asg_name: String,
    pub config: RefreshConfig,
    /// The launch template version to pin the refresh to, and the template (else the config's
    /// or the group's).
    pub launch_template_version: Option<u64>,
    pub launch_template_id: Option<LaunchTemplateId>,
    pub interval: Duration,
    pub timeout: Duration,
    pub if_running: IfRunning,
    pub cancel_on_exit: bool,
    pub dry_run: bool,
    /// --quiet: no progress on stderr.
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfRunning {
    /// Exit 1 with AWS's reason.
    Fail,
    /// Wait for the running refresh to end, then start ours.
    Wait,
    /// Cancel the running refresh, wait until it is cancelled, then start ours.
    Cancel,
}

impl Tool for Args {
    const NAME: &'static str = "instance-refresh";
    type Plan = Refresh;

    /// The config file, read and checked, with --alarm and --bake-time added to its preferences.
    fn prepare(self, global: &GlobalArgs) -> Result<Refresh> {
        let mut config = config::load(&self.config_file).map_err(|e| Usage(common::aws::error::render(&e)))?;
        config::watch(&mut config, &self.alarms, self.bake_time).map_err(Usage)?;
        if let Some(name) = &config.auto_scaling_group_name {
            if name != &self.asg_name {
                bail!(Usage(format!(
                    "refresh config {} names group {name:?}, but the group to refresh is {:?}",
                    self.config_file.display(),
                    self.asg_name
                )));
            }
        }
        Ok(Refresh {
            asg_name: self.asg_name,
            config,
            launch_template_version: self.launch_template_version,
            launch_template_id: self.launch_template_id,
            interval: Duration::from_secs_f64(self.interval),
            timeout: Duration::from_secs_f64(self.timeout),
            if_running: self.if_running,
            cancel_on_exit: self.cancel_on_exit,
            dry_run: self.dry_run,
            quiet: global.out.quiet,
        })
    }
}

impl Refresh {
    /// Why a refresh ended failed or rolled back, at the same time: the group's latest scaling
    /// activities, the watched alarms in ALARM, and what the group launches from now.
    async fn why_failed(
        &self,
        follower: &Follower<'_>,
        cw: &aws_sdk_cloudwatch::Client,
        watched: &[String],
    ) -> (Vec<Activity>, Vec<alarms::Seen>, Option<String>) {
        let (activities, fired, groups) = futures::join!(
            follower.activities(),
            alarms::firing(cw, watched),
            list_groups(&follower.asg, std::slice::from_ref(&self.asg_name))
        );
        let runs = groups.ok().and_then(|g| {
            g.first().and_then(|g| g.main_template().map(|u| format!("launch template {} version {}", u.template, u.version)))
        });
        (activities, fired.unwrap_or_default(), runs)
    }
}

impl Plan for Refresh {
    type Report = Refreshed;

    async fn run(self, ctx: Context) -> Result<Refreshed> {
        let started_at = Instant::now();
        let signal = common::cli::signal::shutdown_signal();
        let asg = ctx.autoscaling();
        let (desired, preferences) = config::to_sdk(&self.config);
        let template = self.launch_template_id.as_ref().map(LaunchTemplateId::as_str);
        // What to start, and the alarms it will watch, read at the same time: a missing alarm,
        // or one in ALARM already, stops it here.
        let (cw, watched) = (ctx.cloudwatch(), self.config.alarms());
        let (desired, ()) = futures::try_join!(
            start::desired(&asg, &self.asg_name, desired, self.launch_template_version, template),
            alarms::check_before(&cw, &watched, ctx.region())
        )?;
        if self.dry_run {
            // Auto Scaling has no DryRun: the closest proof is that the group can be read.
            start::describe_group(&asg, &self.asg_name).await?;
            tracing::info!("would start: {desired:?} {preferences:?}");
            return Ok(Refreshed::dry_run(&self.asg_name));
        }
        let mut follower = Follower {
            asg: asg.clone(),
            group: &self.asg_name,
            interval: self.interval,
            deadline: started_at + self.timeout,
            signal,
            polls: 0,
            quiet: self.quiet,
        };
        let request = start::Request {
            group: &self.asg_name,
            strategy: self.config.strategy.as_deref(),
            desired,
            preferences,
            if_running: self.if_running,
        };
        let id = start::start(&asg, request, &mut follower).await?;
        tracing::info!("started instance refresh {id} of {}", self.asg_name);

        let (last, stopped) = match follower.wait(&id).await? {
            Waited::Ended(r) => (r, Stop::Finished),
            Waited::TimedOut(r) => (r, Stop::TimedOut),
            Waited::Interrupted(r) if self.cancel_on_exit => {
                start::cancel(&asg, &self.asg_name).await?;
                let mut r = r;
                r.status = Some(aws_sdk_autoscaling::types::InstanceRefreshStatus::Cancelling);
                (r, Stop::Interrupted)
            }
            Waited::Interrupted(r) => (r, Stop::Interrupted),
        };
        let status = last.status().cloned();
        let failed = stopped == Stop::Finished && status.as_ref().map(phase) == Some(Phase::Failed);
        let (activities, fired, group_runs) = if failed { self.why_failed(&follower, &cw, &watched).await } else { Default::default() };
        Ok(Refreshed {
            instance_refresh_id: id,
            auto_scaling_group_name: self.asg_name.clone(),
            status,
            percentage_complete: last.percentage_complete(),
            instances_to_update: last.instances_to_update(),
            status_reason: last.status_reason().map(str::to_owned),
            duration_seconds: (started_at.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            stopped,
            activities,
            polls: follower.polls,
            alarms: fired,
            group_runs,
        })
    }
}
