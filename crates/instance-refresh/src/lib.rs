//! `instance-refresh CONFIG_FILE ASG_NAME`: start an Auto Scaling group instance refresh and
//! follow it until it ends.
//!
//! Replaces the blog post's refresh script. That script polled the group's newest refresh,
//! which may be someone else's, and it started the group named in the file but polled the one
//! named on the command line. This follows the refresh by the ID its start returned, refuses a
//! file that names another group, and treats every status AWS has: only `Successful` is
//! success; `RollbackSuccessful` means the new instances were rolled back.

pub mod config;

use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _, Result};
use aws_sdk_autoscaling::types::{DesiredConfiguration, InstanceRefresh, LaunchTemplateSpecification};
use clap::{Parser, ValueEnum};
use common::cli::positive_secs;
use common::calllog::MaybeActed;
use common::error::{aws_error, error_code, Usage};
use common::inuse::group_launch_template;
use common::{Context, GlobalArgs, Report, Tool};
use serde::Serialize;

use crate::config::RefreshConfig;

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
    #[arg(long, value_name = "SECS", default_value_t = 15.0, value_parser = positive_secs)]
    pub interval: f64,

    /// Give up waiting after this many seconds (the refresh goes on in AWS).
    #[arg(long, value_name = "SECS", default_value_t = 3600.0, value_parser = positive_secs)]
    pub timeout: f64,

    /// Pin the refresh to this launch template version (a number), so that AWS can roll it
    /// back; sets DesiredConfiguration.LaunchTemplate.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub launch_template_version: Option<u64>,

    /// The launch template that --launch-template-version refers to (default: the one in the
    /// config file's DesiredConfiguration, else the group's own).
    #[arg(long, value_name = "ID", requires = "launch_template_version")]
    pub launch_template_id: Option<String>,

    /// What to do when the group already has a refresh in progress.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = IfRunning::Fail)]
    pub if_running: IfRunning,

    /// On Ctrl-C or SIGTERM, cancel the refresh instead of leaving it running.
    #[arg(long)]
    pub cancel_on_exit: bool,

    /// Check the config and the group, print what would be started, start nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub global: GlobalArgs,

    #[arg(skip)]
    pub config: RefreshConfig,
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

/// Where a status leaves us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Succeeded,
    Failed,
}

/// Successful is the only success; RollbackSuccessful means the deploy was undone.
pub fn phase(status: &str) -> Phase {
    match status {
        "Successful" => Phase::Succeeded,
        "Failed" | "Cancelled" | "RollbackSuccessful" | "RollbackFailed" => Phase::Failed,
        // Pending, InProgress, Cancelling, RollbackInProgress, Baking, and any status AWS
        // adds later: not an end.
        _ => Phase::Waiting,
    }
}

/// How the wait ended, when it did not end with a terminal status.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// --dry-run: nothing was started.
    DryRun,
    Finished,
    TimedOut,
    Interrupted,
}

#[derive(Debug, Serialize, Clone)]
pub struct Activity {
    pub start_time: Option<String>,
    pub status_code: Option<String>,
    pub description: Option<String>,
    pub cause: Option<String>,
    pub status_message: Option<String>,
}

/// The refresh as it last stood.
#[derive(Debug, Serialize)]
pub struct Refreshed {
    pub instance_refresh_id: String,
    pub auto_scaling_group_name: String,
    pub status: String,
    pub percentage_complete: Option<i32>,
    pub instances_to_update: Option<i32>,
    pub status_reason: Option<String>,
    pub duration_seconds: f64,
    pub stopped: Stop,
    /// The group's latest scaling activities, when the refresh did not succeed.
    pub activities: Vec<Activity>,
    /// How many times the refresh's status was read.
    pub polls: u32,
}

impl Report for Refreshed {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.stopped == Stop::DryRun {
            return writeln!(out, "Would start an instance refresh of {}", self.auto_scaling_group_name);
        }
        writeln!(out, "Instance refresh {}{}", self.status, pct(self.percentage_complete))
    }

    fn failure(&self) -> Option<String> {
        let id = &self.instance_refresh_id;
        let group = &self.auto_scaling_group_name;
        let mut msg = match (self.stopped, phase(&self.status)) {
            (Stop::Finished, Phase::Succeeded) | (Stop::DryRun, _) => return None,
            (Stop::Interrupted, _) if self.status == "Cancelling" || self.status == "Cancelled" => {
                format!("interrupted: refresh {id} of {group} is being cancelled")
            }
            (Stop::Interrupted, _) => format!(
                "interrupted: stopped waiting, but refresh {id} goes on in AWS; follow it with: aws autoscaling describe-instance-refreshes --auto-scaling-group-name {group} --instance-refresh-ids {id}"
            ),
            (Stop::TimedOut, _) => format!(
                "gave up waiting for refresh {id} of {group}: still {} after {:.0}s (it goes on in AWS)",
                self.status, self.duration_seconds
            ),
            _ => format!("refresh {id} of {group} ended {}", self.status),
        };
        if let Some(reason) = &self.status_reason {
            msg.push_str(&format!(": {}", common::error::one_line(reason)));
        }
        for a in &self.activities {
            msg.push_str(&format!(
                "; activity {} {}: {}",
                a.start_time.as_deref().unwrap_or("?"),
                a.status_code.as_deref().unwrap_or("?"),
                common::error::one_line(a.status_message.as_deref().or(a.description.as_deref()).unwrap_or(""))
            ));
        }
        Some(msg)
    }

    fn failure_status(&self) -> u8 {
        if self.stopped == Stop::Interrupted {
            130
        } else {
            1
        }
    }
}

fn pct(p: Option<i32>) -> String {
    p.map(|p| format!(" ({p}%)")).unwrap_or_default()
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed now, not when first polled, so
/// a signal that arrives before the first wait is not lost (and does not kill the process).
fn shutdown_signal() -> Pin<Box<dyn Future<Output = ()>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }),
            _ => Box::pin(async {
                let _ = tokio::signal::ctrl_c().await;
            }),
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Progress on stderr. On a terminal: a live bar with the status, percentage, instances left,
/// elapsed time and AWS's status reason. Elsewhere (CodeBuild, a pipe): one plain line each
/// time the status or the percentage changes, not one per poll, so a log stays readable.
struct Progress {
    last: Option<(String, Option<i32>)>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(100);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{bar:30}] {pos:>3}% {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { last: None, bar }
    }

    fn show(&mut self, r: &InstanceRefresh) {
        let status = r.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        let left = r.instances_to_update().map(|n| format!(", {n} instances to update")).unwrap_or_default();
        let reason = r.status_reason().map(|s| format!(": {}", common::error::one_line(s))).unwrap_or_default();
        if let Some(bar) = &self.bar {
            bar.set_position(r.percentage_complete().unwrap_or(0).clamp(0, 100) as u64);
            bar.set_message(format!("{status}{left}{reason}"));
            if phase(&status) != Phase::Waiting {
                bar.finish();
            }
            return;
        }
        let now = (status.clone(), r.percentage_complete());
        if self.last.as_ref() == Some(&now) {
            return;
        }
        tracing::info!("Instance refresh {status}{}{left}{reason}", pct(r.percentage_complete()));
        self.last = Some(now);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

struct Run<'a> {
    asg: aws_sdk_autoscaling::Client,
    group: &'a str,
    interval: Duration,
    deadline: Instant,
    signal: Pin<Box<dyn Future<Output = ()>>>,
    polls: u32,
    quiet: bool,
}

enum Waited {
    Ended(InstanceRefresh),
    TimedOut(InstanceRefresh),
    Interrupted(InstanceRefresh),
}

/// The refresh with this ID (not the group's newest, which may be someone else's).
async fn describe(asg: &aws_sdk_autoscaling::Client, group: &str, id: &str) -> Result<InstanceRefresh> {
    let out = asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .instance_refresh_ids(id)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing instance refresh {id}"), e))?;
    out.instance_refreshes()
        .iter()
        .find(|r| r.instance_refresh_id() == Some(id))
        .cloned()
        .with_context(|| format!("instance refresh {id} of {group} is not known to AWS"))
}

impl Run<'_> {
    /// Polls refresh `id` until it ends, the deadline passes, or a signal arrives.
    async fn wait(&mut self, id: &str) -> Result<Waited> {
        let mut progress = Progress::new(self.quiet);
        loop {
            self.polls += 1;
            let r = tokio::select! {
                r = describe(&self.asg, self.group, id) => r?,
                () = &mut self.signal => {
                    self.polls += 1;
                    return describe(&self.asg, self.group, id).await.map(Waited::Interrupted);
                }
            };
            progress.show(&r);
            if phase(r.status().map(|s| s.as_str()).unwrap_or("")) != Phase::Waiting {
                return Ok(Waited::Ended(r));
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Ok(Waited::TimedOut(r));
            }
            let nap = self.interval.min(self.deadline - now);
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                () = &mut self.signal => return Ok(Waited::Interrupted(r)),
            }
        }
    }

    /// The group's refreshes, newest first (AWS's order).
    async fn refreshes(&self) -> Result<Vec<InstanceRefresh>> {
        let out = self
            .asg
            .describe_instance_refreshes()
            .auto_scaling_group_name(self.group)
            .send()
            .await
            .map_err(|e| aws_error(format!("describing the instance refreshes of {}", self.group), e))?;
        Ok(out.instance_refreshes.unwrap_or_default())
    }

    /// The group's refresh that has not ended yet, if any.
    async fn active(&self) -> Result<Option<String>> {
        Ok(self
            .refreshes()
            .await?
            .into_iter()
            .find(|r| phase(r.status().map(|s| s.as_str()).unwrap_or("")) == Phase::Waiting)
            .and_then(|r| r.instance_refresh_id))
    }

    /// The group's newest refresh if it started at or after `since`: the one our own start call
    /// made when its reply was lost (it may have ended already).
    async fn started_since(&self, since: SystemTime) -> Result<Option<String>> {
        let since = aws_smithy_types::DateTime::from(since).secs();
        Ok(self
            .refreshes()
            .await?
            .into_iter()
            .next()
            .filter(|r| r.start_time().is_some_and(|t| t.secs() >= since))
            .and_then(|r| r.instance_refresh_id))
    }

    async fn activities(&self) -> Vec<Activity> {
        let out = self.asg.describe_scaling_activities().auto_scaling_group_name(self.group).max_records(5).send().await;
        match out {
            Ok(out) => out
                .activities()
                .iter()
                .map(|a| Activity {
                    start_time: a.start_time().map(|t| t.to_string()),
                    status_code: a.status_code().map(|s| s.as_str().to_owned()),
                    description: a.description().map(str::to_owned),
                    cause: a.cause().map(str::to_owned),
                    status_message: a.status_message().map(str::to_owned),
                })
                .collect(),
            Err(e) => {
                tracing::warn!("could not read the scaling activities of {}: {}", self.group, common::AwsError::from_sdk("describing scaling activities", &e));
                Vec::new()
            }
        }
    }
}

impl Args {
    /// The DesiredConfiguration to send: the file's, with the version pinned if asked.
    async fn desired(&self, asg: &aws_sdk_autoscaling::Client, from_file: Option<DesiredConfiguration>) -> Result<Option<DesiredConfiguration>> {
        let Some(version) = self.launch_template_version else { return Ok(from_file) };
        let file_lt = from_file.as_ref().and_then(|d| d.launch_template()).cloned();
        let mut spec = LaunchTemplateSpecification::builder().version(version.to_string());
        if let Some(id) = &self.launch_template_id {
            spec = spec.launch_template_id(id);
        } else if let Some(lt) = file_lt.as_ref().filter(|lt| lt.launch_template_id().is_some() || lt.launch_template_name().is_some()) {
            spec = spec.set_launch_template_id(lt.launch_template_id().map(str::to_owned)).set_launch_template_name(lt.launch_template_name().map(str::to_owned));
        } else {
            let group = describe_group(asg, &self.asg_name).await?;
            let lt = group_launch_template(&group).with_context(|| format!("group {} has no launch template to pin a version of", self.asg_name))?;
            spec = match lt.launch_template_id() {
                Some(id) => spec.launch_template_id(id),
                None => spec.set_launch_template_name(lt.launch_template_name().map(str::to_owned)),
            };
        }
        let mixed = from_file.and_then(|d| d.mixed_instances_policy);
        let mut desired = DesiredConfiguration::builder();
        desired = match mixed {
            // AWS takes one or the other: a pinned version goes inside the mixed policy.
            Some(m) => desired.mixed_instances_policy(pin_mixed(m, spec.build())),
            None => desired.launch_template(spec.build()),
        };
        Ok(Some(desired.build()))
    }
}

fn pin_mixed(
    m: aws_sdk_autoscaling::types::MixedInstancesPolicy,
    spec: LaunchTemplateSpecification,
) -> aws_sdk_autoscaling::types::MixedInstancesPolicy {
    let lt = m.launch_template.clone().unwrap_or_else(|| aws_sdk_autoscaling::types::LaunchTemplate::builder().build());
    let lt = aws_sdk_autoscaling::types::LaunchTemplate::builder()
        .launch_template_specification(spec)
        .set_overrides(lt.overrides)
        .build();
    aws_sdk_autoscaling::types::MixedInstancesPolicy::builder()
        .launch_template(lt)
        .set_instances_distribution(m.instances_distribution)
        .build()
}

impl Tool for Args {
    const NAME: &'static str = "instance-refresh";
    type Report = Refreshed;

    fn global(&self) -> &GlobalArgs {
        &self.global
    }

    fn validate(&mut self) -> Result<()> {
        let config = config::load(&self.config_file).map_err(|e| Usage(common::error::render(&e)))?;
        if let Some(name) = &config.auto_scaling_group_name {
            if name != &self.asg_name {
                bail!(Usage(format!(
                    "refresh config {} names group {name:?}, but the group to refresh is {:?}",
                    self.config_file.display(),
                    self.asg_name
                )));
            }
        }
        self.config = config;
        Ok(())
    }

    async fn run(self, ctx: Context) -> Result<Refreshed> {
        let started_at = Instant::now();
        let signal = shutdown_signal();
        let asg = ctx.autoscaling();
        let (desired, preferences) = config::to_sdk(&self.config).map_err(|e| Usage(common::error::render(&e)))?;
        let desired = self.desired(&asg, desired).await?;
        if self.dry_run {
            // Auto Scaling has no DryRun: the closest proof is that the group can be read.
            describe_group(&asg, &self.asg_name).await?;
            tracing::info!("would start: {desired:?} {preferences:?}");
            return Ok(Refreshed {
                instance_refresh_id: String::new(),
                auto_scaling_group_name: self.asg_name.clone(),
                status: "DryRun".into(),
                percentage_complete: None,
                instances_to_update: None,
                status_reason: None,
                duration_seconds: 0.0,
                stopped: Stop::DryRun,
                activities: Vec::new(),
                polls: 0,
            });
        }
        let mut run = Run {
            asg: asg.clone(),
            group: &self.asg_name,
            interval: Duration::from_secs_f64(self.interval),
            deadline: started_at + Duration::from_secs_f64(self.timeout),
            signal,
            polls: 0,
            quiet: self.global.quiet,
        };

        let mut preferences = preferences;
        let id = loop {
            // StartInstanceRefresh has no idempotency token: if an attempt's reply is lost and
            // the SDK retries, the retry meets the refresh the first attempt started.
            let acted = MaybeActed::default();
            let sent_at = SystemTime::now();
            let start = asg
                .start_instance_refresh()
                .auto_scaling_group_name(&self.asg_name)
                .set_strategy(self.config.strategy.as_deref().map(Into::into))
                .set_desired_configuration(desired.clone())
                .set_preferences(preferences.clone())
                .customize()
                .interceptor(acted.clone())
                .send()
                .await;
            match start {
                Ok(out) => break out.instance_refresh_id().unwrap_or_default().to_owned(),
                Err(e) if error_code(&e) == Some("InstanceRefreshInProgress") => {
                    if acted.maybe() {
                        if let Some(ours) = run.started_since(sent_at - CLOCK_SKEW).await? {
                            tracing::warn!("the reply to starting the refresh was lost; refresh {ours} of {}, started then, is ours", self.asg_name);
                            break ours;
                        }
                    }
                    if self.if_running == IfRunning::Fail {
                        return Err(aws_error(format!("starting an instance refresh of {}", self.asg_name), e));
                    }
                    let Some(other) = run.active().await? else { continue };
                    if self.if_running == IfRunning::Cancel {
                        tracing::info!("cancelling refresh {other} of {} that was in progress", self.asg_name);
                        cancel(&asg, &self.asg_name).await?;
                    } else {
                        tracing::info!("waiting for refresh {other} of {} to end", self.asg_name);
                    }
                    match run.wait(&other).await? {
                        Waited::Ended(_) => continue,
                        Waited::TimedOut(r) | Waited::Interrupted(r) => {
                            bail!("refresh {other} of {} was still {} when we stopped waiting; ours was not started", self.asg_name, r.status().map(|s| s.as_str()).unwrap_or("?"));
                        }
                    }
                }
                Err(e)
                    if error_code(&e) == Some("ValidationError")
                        && preferences.as_ref().and_then(|p| p.auto_rollback) == Some(true)
                        && group_on_symbolic_version(&asg, &self.asg_name).await? =>
                {
                    // AWS rolls back only from a numbered version. Once this refresh succeeds
                    // the group is on the pinned version, and later refreshes can roll back.
                    tracing::warn!(
                        "group {} uses $Latest or $Default, from which AWS cannot roll back: starting this refresh without AutoRollback",
                        self.asg_name
                    );
                    if let Some(p) = preferences.as_mut() {
                        p.auto_rollback = Some(false);
                    }
                }
                Err(e) => return Err(aws_error(format!("starting an instance refresh of {}", self.asg_name), e)),
            }
        };
        tracing::info!("started instance refresh {id} of {}", self.asg_name);

        let (last, stopped) = match run.wait(&id).await? {
            Waited::Ended(r) => (r, Stop::Finished),
            Waited::TimedOut(r) => (r, Stop::TimedOut),
            Waited::Interrupted(r) if self.cancel_on_exit => {
                cancel(&asg, &self.asg_name).await?;
                let mut r = r;
                r.status = Some(aws_sdk_autoscaling::types::InstanceRefreshStatus::Cancelling);
                (r, Stop::Interrupted)
            }
            Waited::Interrupted(r) => (r, Stop::Interrupted),
        };
        let status = last.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        let activities = if stopped == Stop::Finished && phase(&status) == Phase::Failed { run.activities().await } else { Vec::new() };
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
            polls: run.polls,
        })
    }
}

/// How far AWS's clock may be behind ours when we judge whether a refresh started after our
/// own start call was sent.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// True when the group names its launch template version as `$Latest` or `$Default` (or not
/// at all, which means `$Default`).
async fn group_on_symbolic_version(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<bool> {
    let group = describe_group(asg, group).await?;
    Ok(group_launch_template(&group).is_some_and(|s| !s.version().is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))))
}

/// The group, or an error naming it if there is none.
async fn describe_group(asg: &aws_sdk_autoscaling::Client, name: &str) -> Result<aws_sdk_autoscaling::types::AutoScalingGroup> {
    let out = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing group {name}"), e))?;
    out.auto_scaling_groups().first().cloned().with_context(|| format!("no Auto Scaling group named {name:?}"))
}

/// Cancels the group's active refresh; none being active is not an error.
async fn cancel(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<()> {
    match asg.cancel_instance_refresh().auto_scaling_group_name(group).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("ActiveInstanceRefreshNotFound") => Ok(()),
        Err(e) => Err(aws_error(format!("cancelling the instance refresh of {group}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successful_succeeds() {
        assert_eq!(phase("Successful"), Phase::Succeeded);
        for s in ["Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"] {
            assert_eq!(phase(s), Phase::Failed, "{s}");
        }
        for s in ["Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking", "SomethingNew"] {
            assert_eq!(phase(s), Phase::Waiting, "{s}");
        }
    }
}
