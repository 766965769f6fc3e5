//! `verify-ami LAUNCH_TEMPLATE_ID AMI_ID`: boot the AMI as the launch template would launch it,
//! check the instance, terminate it, and record the verdict on the AMI.
//!
//! The deploy loop's "test the AMI" step (the README's table of tools). The instance comes from
//! the template at the version `bump-launch-template` would copy, with only its image replaced,
//! so what is checked is what would be deployed. It must pass EC2's two status checks, then
//! each check asked for: an SSM Run Command that must exit 0, a target group's health check.
//! Whatever happens (a pass, a failure, a timeout, an AWS error, Ctrl-C or SIGTERM) the
//! instances it launched are terminated; those a killed run left are found by their tags and
//! terminated by the next run for the same AMI. The verdict goes on the AMI as tags
//! ([`common::images::verdict`]), which `latest-ami` and `prune-amis` heed.

pub mod checks;
pub mod launch;
pub mod plan;
pub mod record;
pub mod report;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use common::aws::error::Usage;
use common::aws::ids::{AmiId, InstanceType, LaunchTemplateId, SubnetId, TargetGroupArn, Version as VersionArg};
use common::cli::flags::positive_secs;
use common::images::retire::Retirement;
use common::{Context, GlobalArgs, Plan, Tool};
use futures::FutureExt;

use crate::checks::{Checker, Ended};
use crate::launch::Launcher;
use crate::report::{Ending, Verified};

/// Boot AMI_ID from the launch template, check the instance, record the verdict on the AMI.
///
/// Launches --count instances from LAUNCH_TEMPLATE_ID at the version bump-launch-template would
/// copy (--source-version, default 1) with AMI_ID as their image, and waits until they run
/// and both EC2 status checks are ok; then, if asked, until an SSM command exits 0 on each
/// (--ssm-command) and each is healthy in a target group (--target-group-arn). Impaired
/// status checks, an instance that stops or terminates, a failed command or an unhealthy
/// target fail at once; a check that does not pass within --timeout fails too.
///
/// The instances are always terminated, also on Ctrl-C or SIGTERM (exit 130); instances a
/// killed run left behind are found by their tags and terminated first. The verdict is
/// recorded on the AMI as tags (verification=passed|failed, verification-time,
/// verification-reason): latest-ami never picks a failed AMI, latest-ami --verified only a
/// passed one. An AWS error or an interruption records no verdict.
///
/// Exit status: 0 passed; 1 failed, or could not be verified; 2 usage; 130 interrupted.
///
/// Example (from buildspec.yml):
///   verify-ami --asg "$ASG_NAME" --ssm-command "$VERIFY_COMMAND" "$LAUNCH_TEMPLATE_ID" "$(cat latest_ami_id)"
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Args {
    /// The launch template whose instances the AMI is for (lt- followed by hex digits).
    #[arg(value_name = "LAUNCH_TEMPLATE_ID")]
    pub launch_template_id: LaunchTemplateId,

    /// The AMI to verify.
    #[arg(value_name = "AMI_ID")]
    pub ami_id: AmiId,

    /// The template version to launch (with its image replaced): a number, $Latest or
    /// $Default; as bump-launch-template's --source-version, the version it would copy.
    #[arg(long, value_name = "VERSION", default_value = "1")]
    pub source_version: VersionArg,

    /// How many instances to launch and check (1 to 20).
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub count: u32,

    /// Launch this instance type instead of the template's.
    #[arg(long, value_name = "TYPE")]
    pub instance_type: Option<InstanceType>,

    /// Launch into this subnet instead of the template's.
    #[arg(long, value_name = "ID")]
    pub subnet_id: Option<SubnetId>,

    /// The Auto Scaling group the template is for: its subnets are used when the template
    /// names none (tried in turn when one lacks capacity), and its instance type when the
    /// template names none.
    #[arg(long, value_name = "NAME", value_parser = group_name)]
    pub asg: Option<String>,

    /// A shell command to run on each instance through SSM Run Command (AWS-RunShellScript),
    /// once its SSM agent is online; it must exit 0. The template's instance profile must let
    /// the agent register (AmazonSSMManagedInstanceCore).
    #[arg(long, value_name = "CMD", value_parser = command)]
    pub ssm_command: Option<String>,

    /// Register each instance in this target group and wait until it is healthy; it is
    /// deregistered afterwards.
    #[arg(long, value_name = "ARN")]
    pub target_group_arn: Option<TargetGroupArn>,

    /// Give up after this many seconds (the verdict is then failed).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 900.0, value_parser = positive_secs)]
    pub timeout: f64,

    /// Seconds between two looks at the instances.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 10.0, value_parser = positive_secs)]
    pub interval: f64,

    /// When the AMI fails, also deprecate it (now) or disable it.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub on_failure: Option<Retirement>,

    /// Ask EC2 whether the launch would be allowed (DryRun); launch nothing, record nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A verification to run, made once from the arguments: what to launch and how, the checks,
/// and the time they have.
#[derive(Debug)]
pub struct Verification {
    pub launch_template_id: LaunchTemplateId,
    pub ami_id: AmiId,
    pub source_version: VersionArg,
    pub count: u32,
    pub instance_type: Option<InstanceType>,
    pub subnet_id: Option<SubnetId>,
    pub asg: Option<String>,
    pub ssm_command: Option<String>,
    pub target_group_arn: Option<TargetGroupArn>,
    pub timeout: Duration,
    pub interval: Duration,
    pub on_failure: Option<Retirement>,
    pub dry_run: bool,
}

fn group_name(s: &str) -> Result<String, String> {
    if (1..=255).contains(&s.chars().count()) {
        Ok(s.to_owned())
    } else {
        Err("an Auto Scaling group name is 1 to 255 characters".into())
    }
}

fn command(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("the command is empty".into())
    } else {
        Ok(s.to_owned())
    }
}

/// A run's own ID, on its instances' tags and as their launch's client token: when it began
/// and which process it is.
fn run_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("{millis:x}-{:x}", std::process::id())
}

impl Tool for Args {
    const NAME: &'static str = "verify-ami";
    const PACED: bool = true;
    type Plan = Verification;

    fn prepare(self, _: &GlobalArgs) -> Result<Verification> {
        if self.interval > self.timeout {
            bail!(Usage(format!("--interval ({} s) is longer than --timeout ({} s)", self.interval, self.timeout)));
        }
        Ok(Verification {
            launch_template_id: self.launch_template_id,
            ami_id: self.ami_id,
            source_version: self.source_version,
            count: self.count,
            instance_type: self.instance_type,
            subnet_id: self.subnet_id,
            asg: self.asg,
            ssm_command: self.ssm_command,
            target_group_arn: self.target_group_arn,
            timeout: Duration::from_secs_f64(self.timeout),
            interval: Duration::from_secs_f64(self.interval),
            on_failure: self.on_failure,
            dry_run: self.dry_run,
        })
    }
}

impl Plan for Verification {
    type Report = Verified;

    async fn run(self, ctx: Context) -> Result<Verified> {
        let started = Instant::now();
        // Installed now, so a signal at any point from here on is seen, not fatal.
        let mut signal = common::cli::signal::shutdown_signal();
        let run = run_id();
        let launcher = Launcher::new(&ctx, &self, &run);
        if self.dry_run {
            let prepared = launcher.prepare().await?;
            let mut report = Verified::new(&self, &run, &prepared);
            launcher.dry_run(&prepared).await?;
            report.verdict = Ending::DryRun;
            return Ok(report.finish(started));
        }
        // What to launch, and what an earlier run left, looked up at the same time.
        let (prepared, earlier) = futures::join!(launcher.prepare(), launcher.earlier());
        let prepared = prepared?;
        let mut report = Verified::new(&self, &run, &prepared);
        if (&mut signal).now_or_never().is_some() {
            report.interrupted();
            return Ok(report.finish(started));
        }
        report.left_over = launcher.clean_up(earlier?).await?;
        // The launch runs to its end even when a signal comes meanwhile: what it made is then
        // known, and terminated.
        let instances = launcher.launch(&prepared).await?;
        report.instances = instances.clone();
        let ids: Vec<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
        let mut checker = Checker::new(&ctx, &self, &ids, started + self.timeout);
        let ended = if (&mut signal).now_or_never().is_some() {
            Ok(Ended::Interrupted)
        } else {
            tokio::select! {
                ended = checker.run(&mut report.checks) => ended,
                _ = &mut signal => Ok(Ended::Interrupted),
            }
        };
        // Whatever ended the checks, what was launched goes.
        let cleaned = launcher.terminate(&ids, checker.registered()).await;
        report.looks = checker.looks;
        match &cleaned {
            Ok(()) => report.instances.iter_mut().for_each(|i| i.terminated = true),
            Err(e) => tracing::error!("{}", common::aws::error::render(e)),
        }
        match ended? {
            Ended::Passed => report.verdict = Ending::Passed,
            Ended::Failed(reason) => report.failed(reason),
            Ended::Interrupted => report.interrupted(),
        }
        if matches!(report.verdict, Ending::Passed | Ending::Failed) {
            report.retired = record::record(&ctx, &self, &prepared.image, &report).await?;
            report.recorded = true;
        }
        cleaned?;
        Ok(report.finish(started))
    }
}
