//! `deploy-tools deploy TARGETS_FILE`: one build to many targets, in waves.
//!
//! What `scripts/deploy-regions` did, Region by Region, now in waves: prune every Region once,
//! pick this build's AMI in each, then per target verify, bump and refresh (each step the tool
//! of that name, run in this process with the arguments the script gave it). The targets of
//! a wave deploy at the same time (at most `--max-parallel`), waves in ascending order, with a
//! bake time between waves that watches every alarm of every target deployed so far. The
//! first failure stops the deploy: no target starts after it; with `--rollback-on-failure`
//! every target this deploy moved is taken back to the version it ran before.
//!
//! Nothing that matters is kept here: a second run of the same build reads from AWS which
//! targets already run it after a successful refresh (skipped), and which refresh of it is
//! still running (followed, not started again) - see [`target`].

mod notify;
mod report;
mod target;
mod waves;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;
use common::aws::error::Usage;
use common::aws::ids::TargetGroupArn;
use common::cli::flags::positive_secs;
use common::deploy::targets::{Targets, MAX_ALARMS};
use common::{Context, GlobalArgs, Plan, Tool};

pub use report::{Action, Deployed, TargetRun, Wave};

/// Deploy this build to every target of a targets file, in waves.
///
/// Prunes every target Region (and this one) once, picks this build's AMI (tag build=BUILD) in
/// each, then deploys wave by wave: in each target's account and Region, verify-ami boots the
/// AMI from the target's template, bump-launch-template puts it into a new version and
/// instance-refresh moves the group to it, watching the target's alarms and --alarm. The
/// targets of a wave (the file's "wave", ascending) deploy at the same time, at most
/// --max-parallel at once; a file without waves deploys one target at a time, in order.
///
/// The first target that fails stops the deploy: no target starts after it, those running
/// finish. With --rollback-on-failure every target the deploy moved is then refreshed back to
/// the version it ran before. A second run for the same build skips the targets that already
/// run it and follows a refresh of it still running. Each flag can come from the buildspec's
/// variable of the same meaning (shown as [env: ...]).
///
/// Exit status: 0 when every target runs the build; 1 otherwise; 2 for a bad targets file or
/// flags (before any request); 130 when interrupted.
///
/// Example (from buildspec.yml):  deploy-tools deploy "$DEPLOY_TARGETS"
#[derive(Parser, Debug)]
#[command(name = "deploy", version, about, long_about)]
pub struct Args {
    /// The targets file (see `deploy-tools targets --help`), with "wave" and "alarms" per target.
    #[arg(value_name = "TARGETS_FILE")]
    pub file: PathBuf,

    /// The application (the AMIs' tag app).
    #[arg(long, env = "APP", value_name = "NAME")]
    pub app: String,

    /// The branch baked (the AMIs' tag branch).
    #[arg(long, env = "BRANCH", value_name = "BRANCH")]
    pub branch: String,

    /// The build to deploy (the AMIs' tag build, CodeBuild's build ID).
    #[arg(long, env = "CODEBUILD_BUILD_ID", value_name = "ID", value_parser = non_empty)]
    pub build: String,

    /// prune-amis keeps this many of the newest AMIs in each Region.
    #[arg(long, env = "AMIS_TO_KEEP", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub amis_to_keep: u32,

    /// bump-launch-template keeps this many versions of each template (2 or more).
    #[arg(long, env = "VERSIONS_TO_KEEP", value_name = "N", value_parser = clap::value_parser!(u32).range(2..))]
    pub versions_to_keep: u32,

    /// verify-ami's --ssm-command.
    #[arg(long, env = "VERIFY_COMMAND", value_name = "CMD")]
    pub verify_command: Option<String>,

    /// verify-ami's --target-group-arn (a target group is in one Region: every target's).
    #[arg(long, env = "VERIFY_TARGET_GROUP", value_name = "ARN")]
    pub verify_target_group: Option<String>,

    /// verify-ami's --interval.
    #[arg(long, env = "VERIFY_INTERVAL", value_name = "SECS", default_value_t = 10.0, value_parser = positive_secs)]
    pub verify_interval: f64,

    /// verify-ami's --timeout.
    #[arg(long, env = "VERIFY_TIMEOUT", value_name = "SECS", default_value_t = 900.0, value_parser = positive_secs)]
    pub verify_timeout: f64,

    /// instance-refresh's CONFIG_FILE.
    #[arg(long, env = "REFRESH_CONFIG", value_name = "FILE")]
    pub refresh_config: PathBuf,

    /// instance-refresh's --interval; also how often the wave bake reads the alarms.
    #[arg(long, env = "REFRESH_INTERVAL", value_name = "SECS", default_value_t = 15.0, value_parser = positive_secs)]
    pub refresh_interval: f64,

    /// instance-refresh's --timeout (its bake time included).
    #[arg(long, env = "REFRESH_TIMEOUT", value_name = "SECS", default_value_t = 3600.0, value_parser = positive_secs)]
    pub refresh_timeout: f64,

    /// An alarm every target's refresh watches, besides the target's own (repeatable, or
    /// comma-separated in REFRESH_ALARMS), in each target's account and Region.
    #[arg(long = "alarm", env = "REFRESH_ALARMS", value_name = "NAME", value_delimiter = ',')]
    pub alarms: Vec<String>,

    /// instance-refresh's --bake-time.
    #[arg(long, env = "REFRESH_BAKE_TIME", value_name = "DURATION", value_parser = instance_refresh::bake_time)]
    pub bake_time: Option<Duration>,

    /// After a wave has succeeded, wait this long before the next, watching every alarm of
    /// every target deployed so far: one in ALARM fails the wave (90s, 15m, 1h; 0: none).
    #[arg(long, env = "DEPLOY_WAVE_BAKE", value_name = "DURATION", value_parser = instance_refresh::bake_time, default_value = "0")]
    pub wave_bake: Duration,

    /// Deploy at most this many targets of a wave at once.
    #[arg(long, env = "DEPLOY_MAX_PARALLEL", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: u32,

    /// When the deploy fails, take every target it moved back to the version it ran before,
    /// so that the fleet ends on one build.
    #[arg(long, env = "DEPLOY_ROLLBACK_ON_FAILURE")]
    pub rollback_on_failure: bool,

    /// Publish the deploy's outcome to this SNS topic.
    #[arg(long, env = "DEPLOY_NOTIFY_TOPIC", value_name = "ARN")]
    pub notify_topic: Option<String>,

    /// Print the waves and each wave's worst case (verify and refresh timeouts, bake times),
    /// to size CodeBuild's timeout; no request is made.
    #[arg(long)]
    pub dry_run: bool,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

/// An SNS topic's ARN: arn:PARTITION:sns:REGION:ACCOUNT:NAME.
fn topic_arn(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && common::deploy::regions::check_region_name(parts[3]).is_ok()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"))
    }
}

/// The alarms target `t` is watched by: `alarms` (--alarm), then its own not among them.
fn watched_by(alarms: &[String], t: &common::deploy::targets::Target) -> Vec<String> {
    let mut all = alarms.to_vec();
    all.extend(t.alarms.iter().filter(|a| !alarms.contains(a)).cloned());
    all
}

/// How a step waits, and what it watches.
#[derive(Debug, Clone)]
pub struct Timing {
    pub verify_interval: f64,
    pub verify_timeout: f64,
    pub refresh_interval: f64,
    pub refresh_timeout: f64,
}

/// A deploy, checked: the targets and their waves, and every setting of its steps.
#[derive(Debug)]
pub struct Deploy {
    file: PathBuf,
    targets: Targets,
    app: String,
    branch: String,
    build: String,
    amis_to_keep: u32,
    versions_to_keep: u32,
    verify_command: Option<String>,
    verify_target_group: Option<TargetGroupArn>,
    timing: Timing,
    refresh_config: PathBuf,
    alarms: Vec<String>,
    bake_time: Option<Duration>,
    wave_bake: Duration,
    max_parallel: usize,
    rollback_on_failure: bool,
    notify_topic: Option<String>,
    dry_run: bool,
    global: GlobalArgs,
}

impl Tool for Args {
    const NAME: &'static str = "deploy-tools deploy";
    const PACED: bool = true;
    type Plan = Deploy;

    /// Everything is checked here, before any request: the targets file, each target's
    /// alarms with --alarm and the refresh config's (at most 10 a refresh), the target group's
    /// Region.
    fn prepare(self, global: &GlobalArgs) -> Result<Deploy> {
        let targets = Targets::read(&self.file)?;
        let alarms: Vec<String> = self.alarms.iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
        for name in &alarms {
            common::deploy::targets::check_alarm_name(name).map_err(|why| Usage(format!("--alarm: {why}")))?;
        }
        let config = instance_refresh::config::load(&self.refresh_config).map_err(|e| Usage(common::aws::error::render(&e)))?;
        for (i, t) in targets.targets.iter().enumerate() {
            let watched = watched_by(&alarms, t);
            let mut config = config.clone();
            instance_refresh::config::watch(&mut config, &watched, self.bake_time).map_err(|why| {
                Usage(format!("{}: {why} (its alarms, --alarm and the refresh config's: at most {MAX_ALARMS})", t.describe(i + 1)))
            })?;
        }
        // The buildspec sets every variable; an empty one is not given.
        let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let verify_target_group = match given(self.verify_target_group) {
            Some(arn) => Some(arn.parse::<TargetGroupArn>().map_err(|why| Usage(format!("--verify-target-group: {why}")))?),
            None => None,
        };
        let notify_topic = match given(self.notify_topic) {
            Some(arn) => Some(topic_arn(&arn).map_err(|why| Usage(format!("--notify-topic: {why}")))?),
            None => None,
        };
        if let Some(arn) = &verify_target_group {
            let region = arn.as_str().split(':').nth(3).unwrap_or_default();
            if let Some((i, t)) = targets.targets.iter().enumerate().find(|(_, t)| t.region.as_str() != region) {
                bail!(Usage(format!(
                    "--verify-target-group is in {region}, but {} is in {}: a target group serves one Region",
                    t.describe(i + 1),
                    t.region
                )));
            }
        }
        Ok(Deploy {
            file: self.file,
            targets,
            app: self.app,
            branch: self.branch,
            build: self.build,
            amis_to_keep: self.amis_to_keep,
            versions_to_keep: self.versions_to_keep,
            verify_command: given(self.verify_command),
            verify_target_group,
            timing: Timing {
                verify_interval: self.verify_interval,
                verify_timeout: self.verify_timeout,
                refresh_interval: self.refresh_interval,
                refresh_timeout: self.refresh_timeout,
            },
            refresh_config: self.refresh_config,
            alarms,
            bake_time: self.bake_time,
            wave_bake: self.wave_bake,
            max_parallel: usize::try_from(self.max_parallel).unwrap_or(usize::MAX),
            rollback_on_failure: self.rollback_on_failure,
            notify_topic,
            dry_run: self.dry_run,
            global: global.clone(),
        })
    }
}

impl Plan for Deploy {
    type Report = Deployed;

    fn fallback_region(&self) -> Option<&str> {
        self.targets.targets.first().map(|t| t.region.as_str())
    }

    async fn run(self, ctx: Context) -> Result<Deployed> {
        let report = if self.dry_run { Ok(self.worst_case()) } else { waves::Deploying::new(&self, &ctx).run().await };
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                // An error before the waves (a target that does not check out, the build not
                // found): the deploy failed as a whole, and says so where it notifies.
                notify::publish_error(&self, &ctx, &e).await;
                return Err(e);
            }
        };
        if !self.dry_run {
            notify::publish(&self, &ctx, &report).await;
        }
        Ok(report)
    }
}

impl Deploy {
    /// The alarms target `t`'s refresh and the wave bake watch: --alarm, then its own.
    fn alarms_of(&self, t: &common::deploy::targets::Target) -> Vec<String> {
        watched_by(&self.alarms, t)
    }

    /// The dry run's report: the waves and their worst cases, nothing asked of AWS.
    fn worst_case(&self) -> Deployed {
        let per_target = Duration::from_secs_f64(self.timing.verify_timeout + self.timing.refresh_timeout);
        let rollback = self.rollback_on_failure.then(|| Duration::from_secs_f64(self.timing.refresh_timeout));
        let waves = self.targets.waves();
        let sizes: Vec<usize> = waves.iter().map(|(_, members)| members.len()).collect();
        let worst = common::deploy::waves::worst_case(&sizes, self.max_parallel, per_target, self.wave_bake, rollback);
        Deployed::planned(self, &waves, &worst)
    }
}
