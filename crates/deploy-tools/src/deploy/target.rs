//! One target of a deploy: where it stands with this build (read from AWS, so that a second
//! run carries on where the first stopped), then verify, bump and refresh, each the tool of
//! that name run in this process with the arguments `scripts/deploy-regions` gave it.

use std::cell::Cell;
use std::time::Instant;

use anyhow::{anyhow, Result};
use aws_sdk_autoscaling::types::InstanceRefreshStatus;
use common::aws::error::{one_line, render};
use common::deploy::resume::{standing, Standing};
use common::deploy::targets::Target;
use common::groups::launches::{instance_images, list_groups};
use common::groups::refresh::refreshes_of;
use common::groups::templates::version_images;
use common::{Context, GlobalArgs, Plan, Report, Status, Tool};
use instance_refresh::follow::{Follower, Waited};

use super::report::{secs, Action, Runs, TargetRun};
use super::Deploy;

/// Runs tool `T` in this process, as its binary would run with `args`, in `ctx`; its report.
pub(crate) async fn step<T: Tool>(global: &GlobalArgs, ctx: &Context, args: Vec<String>) -> Result<<T::Plan as Plan>::Report> {
    let argv = std::iter::once(T::NAME.to_owned()).chain(args);
    let parsed = T::try_parse_from(argv).map_err(|e| anyhow!("{}: {}", T::NAME, one_line(&e.to_string())))?;
    parsed.prepare(global)?.run(ctx.clone()).await
}

/// The stop and interrupt flags all the targets of a deploy share.
#[derive(Default)]
pub(crate) struct Flags {
    /// A target failed: no other starts.
    pub stopped: Cell<bool>,
    /// Ctrl-C or SIGTERM: each step winds down as its tool does.
    pub interrupted: Cell<bool>,
}

impl Deploy {
    /// Deploys target `n` (from 1) of wave `wave` in `ctx`, its account and Region.
    pub(crate) async fn target(&self, ctx: &Context, flags: &Flags, n: usize, wave: u32, ami: &str) -> TargetRun {
        let t = &self.targets.targets[n - 1];
        let mut run = TargetRun::new(n, wave, t, ami);
        if flags.stopped.get() || flags.interrupted.get() {
            return run;
        }
        let started = Instant::now();
        let span = tracing::info_span!("region", region = %format!("target {n} {} {}", t.place(), t.auto_scaling_group));
        let outcome = tracing::Instrument::instrument(self.steps(ctx, flags, t, &mut run), span).await;
        if let Err(e) = outcome {
            run.fail(&e);
        }
        run.seconds.total = secs(started);
        if !run.succeeded() {
            flags.stopped.set(true);
        }
        run
    }

    async fn steps(&self, ctx: &Context, flags: &Flags, t: &Target, run: &mut TargetRun) -> Result<()> {
        let (lt, group) = (t.launch_template_id.as_str(), t.auto_scaling_group.to_string());
        let ami = run.image_id.clone();
        let (asg, ec2) = (ctx.autoscaling(), ctx.ec2());
        let names = [group.clone()];
        let (groups, versions, refreshes) = futures::join!(list_groups(&asg, &names), version_images(&ec2, lt), refreshes_of(&asg, &group));
        let group_version = groups?.first().and_then(|g| g.main_template()).map(|u| u.version.clone());
        match standing(&refreshes?, &versions?, lt, group_version.as_deref(), &ami) {
            Standing::Done { version, refresh } => {
                tracing::info!("already runs {ami} (version {version}, refresh {refresh} Successful): skipped");
                run.action = Action::AlreadyDeployed;
                (run.version, run.instance_refresh_id, run.refresh_status) = (Some(version), Some(refresh), Some("Successful".into()));
                Ok(())
            }
            Standing::Running { version, refresh } => {
                tracing::info!("refresh {refresh} to version {version} ({ami}) is under way: following it");
                (run.version, run.instance_refresh_id) = (Some(version), Some(refresh.clone()));
                self.follow(&asg, &group, &refresh, run).await
            }
            Standing::ToDo { before, reuse } => {
                run.previous_version = before;
                self.verify_bump_refresh(ctx, flags, t, reuse, run).await
            }
        }
    }

    async fn verify_bump_refresh(&self, ctx: &Context, flags: &Flags, t: &Target, reuse: Option<i64>, run: &mut TargetRun) -> Result<()> {
        let (lt, group, ami) = (t.launch_template_id.to_string(), t.auto_scaling_group.to_string(), run.image_id.clone());
        let timing = &self.timing;
        let mut args = vec!["--asg".into(), group.clone(), "--interval".into(), timing.verify_interval.to_string()];
        args.extend(["--timeout".into(), timing.verify_timeout.to_string()]);
        if let Some(cmd) = &self.verify_command {
            args.extend(["--ssm-command".into(), cmd.clone()]);
        }
        if let Some(arn) = &self.verify_target_group {
            args.extend(["--target-group-arn".into(), arn.to_string()]);
        }
        args.extend([lt.clone(), ami.clone()]);
        tracing::info!("verify {ami}, put it into launch template {lt}, then a refresh of {group}");
        let began = Instant::now();
        let verified = step::<verify_ami::Args>(&self.global, ctx, args).await;
        run.seconds.verify = Some(secs(began));
        if !passed(verified, flags, run) {
            return Ok(());
        }

        let began = Instant::now();
        let version = match reuse {
            Some(v) => {
                tracing::info!("version {v} of {lt} already launches {ami} (a run before this one made it): using it");
                v
            }
            None => {
                let args = vec![lt.clone(), ami.clone(), self.versions_to_keep.to_string()];
                let bumped = step::<bump_launch_template::Args>(&self.global, ctx, args).await?;
                if let Some(why) = bumped.failure() {
                    tracing::warn!("bump-launch-template: {why}");
                }
                bumped.version
            }
        };
        run.seconds.bump = Some(secs(began));
        run.version = Some(version);
        if flags.interrupted.get() {
            run.action = Action::Interrupted;
            return Ok(());
        }

        let mut args = vec!["--if-running".into(), "wait".into(), "--launch-template-id".into(), lt, "--launch-template-version".into()];
        args.extend([version.to_string(), "--interval".into(), timing.refresh_interval.to_string()]);
        args.extend(["--timeout".into(), timing.refresh_timeout.to_string()]);
        if let Some(bake) = self.bake_time {
            args.extend(["--bake-time".into(), format!("{}s", bake.as_secs())]);
        }
        for alarm in self.alarms_of(t) {
            args.extend(["--alarm".into(), alarm]);
        }
        args.extend([self.refresh_config.to_string_lossy().into_owned(), group]);
        let began = Instant::now();
        let refreshed = step::<instance_refresh::Args>(&self.global, ctx, args).await?;
        run.seconds.refresh = Some(secs(began));
        if !refreshed.instance_refresh_id.is_empty() {
            run.instance_refresh_id = Some(refreshed.instance_refresh_id.clone());
        }
        run.refresh_status = Some(refreshed.status_text().to_owned());
        match refreshed.failure() {
            None => run.action = Action::Deployed,
            Some(why) if refreshed.failure_status() == Status::Interrupted => {
                run.action = Action::Interrupted;
                run.error = Some(why);
            }
            Some(why) => {
                run.action = Action::Failed;
                run.error = Some(format!("refresh: {why}"));
            }
        }
        Ok(())
    }

    /// Follows a refresh a run before this one started, to its end.
    async fn follow(&self, asg: &aws_sdk_autoscaling::Client, group: &str, id: &str, run: &mut TargetRun) -> Result<()> {
        let began = Instant::now();
        let mut follower = Follower {
            asg: asg.clone(),
            group,
            interval: std::time::Duration::from_secs_f64(self.timing.refresh_interval),
            deadline: began + std::time::Duration::from_secs_f64(self.timing.refresh_timeout),
            signal: common::cli::signal::shutdown_signal(),
            polls: 0,
            quiet: self.global.out.quiet,
        };
        let waited = follower.wait(id).await?;
        run.seconds.refresh = Some(secs(began));
        let (r, how) = match waited {
            Waited::Ended(r) => (r, None),
            Waited::TimedOut(r) => (r, Some("gave up waiting for it")),
            Waited::Interrupted(r) => (r, Some("interrupted")),
        };
        let status = r.status().map_or("?", InstanceRefreshStatus::as_str).to_owned();
        run.refresh_status = Some(status.clone());
        let reason = r.status_reason().map(|s| format!(": {}", one_line(s))).unwrap_or_default();
        run.action = match (how, r.status()) {
            (None, Some(InstanceRefreshStatus::Successful)) => Action::Followed,
            (Some("interrupted"), _) => Action::Interrupted,
            _ => {
                run.error = Some(format!(
                    "refresh {id} (started by an earlier run, followed): {}{status}{reason}",
                    how.map(|h| format!("{h}: ")).unwrap_or_default()
                ));
                Action::Failed
            }
        };
        Ok(())
    }

    /// What target `t` runs now, from its group's instances and their versions.
    pub(crate) async fn runs(&self, ctx: &Context, t: &Target, ami: &str) -> Runs {
        let (asg, ec2) = (ctx.autoscaling(), ctx.ec2());
        let names = [t.auto_scaling_group.to_string()];
        let (groups, versions) = futures::join!(list_groups(&asg, &names), version_images(&ec2, t.launch_template_id.as_str()));
        let (group, versions) = match (groups, versions) {
            (Ok(groups), Ok(versions)) => match groups.into_iter().next() {
                Some(g) => (g, versions),
                None => return Runs::unknown(format!("group {} not found", t.auto_scaling_group)),
            },
            (Err(e), _) | (_, Err(e)) => return Runs::unknown(render(&e)),
        };
        match instance_images(&ec2, &group.instances).await {
            Ok(running) => Runs::of(&group, &versions, &running, ami),
            Err(e) => Runs::unknown(render(&e)),
        }
    }
}

/// Records a verification's outcome on `run`: true when the target goes on to the bump.
fn passed(outcome: Result<verify_ami::report::Verified>, flags: &Flags, run: &mut TargetRun) -> bool {
    let (action, error) = match outcome {
        Err(e) => (Action::Failed, format!("verification: {}", render(&e))),
        Ok(report) => match report.failure() {
            None if flags.interrupted.get() => (Action::Interrupted, "interrupted after the verification".into()),
            None => return true,
            Some(why) if report.failure_status() == Status::Interrupted => (Action::Interrupted, why),
            Some(why) => (Action::Failed, format!("verification: {why}")),
        },
    };
    run.action = action;
    run.error = Some(error);
    false
}
