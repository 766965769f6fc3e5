//! The deploy's course: the targets checked, every Region pruned, the build picked, then the
//! waves (a wave's targets at once, at most --max-parallel), the bake between waves, the way
//! back with --rollback-on-failure, and what every target runs at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use common::aws::error::one_line;
use common::deploy::regions::check_known;
use common::{Context, Report};
use futures::StreamExt;

use super::report::{secs, Action, Bake, Deployed, Outcome, RollbackRun, TargetRun, Wave};
use super::target::{step, Flags};
use super::Deploy;
use crate::targets::{check_target, reach};

/// A deploy under way.
pub(crate) struct Deploying<'a> {
    d: &'a Deploy,
    ctx: &'a Context,
    flags: Flags,
    started: Instant,
}

impl<'a> Deploying<'a> {
    pub(crate) fn new(d: &'a Deploy, ctx: &'a Context) -> Self {
        Deploying { d, ctx, flags: Flags::default(), started: Instant::now() }
    }

    /// The whole deploy. Ctrl-C or SIGTERM starts nothing new; what runs winds down as its
    /// tool does (verify-ami terminates its instances; a refresh goes on in AWS, and a second
    /// run follows it).
    pub(crate) async fn run(self) -> Result<Deployed> {
        let signal = common::cli::signal::shutdown_signal();
        let work = self.deploy();
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => out,
            () = signal => {
                tracing::warn!("interrupted: no target starts now; those running wind down");
                self.flags.interrupted.set(true);
                self.flags.stopped.set(true);
                work.await
            }
        }
    }

    async fn deploy(&self) -> Result<Deployed> {
        let d = self.d;
        let contexts = self.check().await?;
        let images = self.prune_and_pick().await?;
        let mut waves = Vec::new();
        let plan = d.targets.waves();
        for (k, (n, members)) in plan.iter().enumerate() {
            let began = Instant::now();
            let runs = futures::stream::iter(members.iter().copied())
                .map(|i| {
                    let ami = images.get(d.targets.targets[i].region.as_str()).cloned().unwrap_or_default();
                    let (ctx, flags) = (&contexts[i], &self.flags);
                    async move { d.target(ctx, flags, i + 1, *n, &ami).await }
                })
                .buffer_unordered(d.max_parallel)
                .collect::<Vec<TargetRun>>()
                .await;
            let mut targets = runs;
            targets.sort_by_key(|t| t.target);
            let ok = targets.iter().all(TargetRun::succeeded);
            let mut wave = Wave { wave: *n, targets, seconds: 0.0, worst_case_seconds: None, bake: None };
            if ok && k + 1 < plan.len() && !d.wave_bake.is_zero() && !self.flags.interrupted.get() {
                let so_far: Vec<usize> = plan[..=k].iter().flat_map(|(_, m)| m.iter().copied()).collect();
                let bake = self.bake(&contexts, &so_far).await;
                if !bake.alarms.is_empty() || bake.error.is_some() {
                    self.flags.stopped.set(true);
                }
                wave.bake = Some(bake);
            }
            wave.seconds = secs(began);
            waves.push(wave);
        }
        let mut report = Deployed {
            build: d.build.clone(),
            branch: d.branch.clone(),
            app: d.app.clone(),
            images,
            waves,
            rolled_back: false,
            outcome: Outcome::Succeeded,
            reason: None,
            seconds: 0.0,
            worst_case: None,
        };
        self.conclude(&contexts, &mut report).await;
        Ok(report)
    }

    /// Before anything changes: the Regions known, each target reached (its role assumed) and
    /// checked (template, group, its alarms in its account and Region).
    async fn check(&self) -> Result<Vec<Context>> {
        let d = self.d;
        check_known(&self.ctx.ec2(), &d.targets.regions()).await?;
        let checks = d.targets.targets.iter().enumerate().map(|(i, t)| async move {
            let ctx = reach(self.ctx, "deploy-tools-deploy", i + 1, t).await?;
            check_target(&ctx, i + 1, t).await?;
            instance_refresh::alarms::check_before(&ctx.cloudwatch(), &d.alarms_of(t), t.region.as_str())
                .await
                .map_err(|e| e.context(t.describe(i + 1)))?;
            Ok::<Context, anyhow::Error>(ctx)
        });
        futures::future::try_join_all(checks).await
    }

    /// prune-amis in every target Region and this one, once; then latest-ami picks this build
    /// in every target Region (writing `latest_ami_id`): Region -> AMI.
    async fn prune_and_pick(&self) -> Result<BTreeMap<String, String>> {
        let d = self.d;
        let regions = d.targets.regions();
        let mut prune = regions.names().to_vec();
        if !prune.iter().any(|r| r == self.ctx.region()) {
            prune.insert(0, self.ctx.region().to_owned());
        }
        let app = format!("app={}", d.app);
        let args = vec![
            "--regions".into(),
            prune.join(","),
            "--targets".into(),
            d.file.to_string_lossy().into_owned(),
            "--tag".into(),
            app.clone(),
            d.branch.clone(),
            d.amis_to_keep.to_string(),
        ];
        let pruned = step::<prune_amis::Args>(&d.global, self.ctx, args).await?;
        if let Some(why) = pruned.failure() {
            bail!("prune-amis: {why}");
        }
        let args =
            vec!["--regions".into(), regions.joined(), "--tag".into(), app, "--tag".into(), format!("build={}", d.build), d.branch.clone()];
        match step::<latest_ami::Args>(&d.global, self.ctx, args).await? {
            latest_ami::Found::Many(build) => {
                tracing::info!("build {} is {} in every target Region", d.build, build.name);
                Ok(build.images)
            }
            latest_ami::Found::One(one) => Ok(BTreeMap::from([(regions.first().to_owned(), one.image_id)])),
        }
    }

    /// Waits --wave-bake, reading every alarm of the targets `so_far` each --refresh-interval:
    /// one in ALARM ends it at once.
    async fn bake(&self, contexts: &[Context], so_far: &[usize]) -> Bake {
        let d = self.d;
        let began = Instant::now();
        let until = began + d.wave_bake;
        tracing::info!("wave bake: {}s, watching the alarms of {} targets", d.wave_bake.as_secs(), so_far.len());
        loop {
            let reads = so_far.iter().map(|&i| {
                let t = &d.targets.targets[i];
                let names = d.alarms_of(t);
                let cw = contexts[i].cloudwatch();
                async move { (t, instance_refresh::alarms::firing(&cw, &names).await) }
            });
            let mut fired = Vec::new();
            for (t, read) in futures::future::join_all(reads).await {
                match read {
                    Ok(seen) => fired
                        .extend(seen.into_iter().map(|a| format!("alarm {} ({}) is in ALARM: {}", a.name, t.place(), one_line(&a.reason)))),
                    Err(e) => return Bake { seconds: secs(began), alarms: Vec::new(), error: Some(common::aws::error::render(&e)) },
                }
            }
            if !fired.is_empty() {
                tracing::error!("wave bake: {}", fired.join("; "));
                return Bake { seconds: secs(began), alarms: fired, error: None };
            }
            let now = Instant::now();
            if now >= until || self.flags.interrupted.get() {
                let error = self.flags.interrupted.get().then(|| "interrupted".to_owned());
                return Bake { seconds: secs(began), alarms: Vec::new(), error };
            }
            let nap = Duration::from_secs_f64(d.timing.refresh_interval).min(until - now);
            let step_nap = nap.min(Duration::from_millis(500));
            let mut slept = Duration::ZERO;
            while slept < nap && !self.flags.interrupted.get() {
                tokio::time::sleep(step_nap).await;
                slept += step_nap;
            }
        }
    }

    /// The deploy's outcome; with --rollback-on-failure the way back; what each target runs.
    async fn conclude(&self, contexts: &[Context], report: &mut Deployed) {
        let d = self.d;
        let failed: Vec<String> = report
            .targets()
            .iter()
            .filter(|t| !t.succeeded() && t.action != Action::NotStarted)
            .map(|t| format!("{}: {}", t.name(), t.error.as_deref().unwrap_or("failed")))
            .collect();
        let bake_failed: Vec<String> = report
            .waves
            .iter()
            .filter_map(|w| {
                w.bake
                    .as_ref()
                    .filter(|b| !b.alarms.is_empty() || b.error.is_some())
                    .map(|b| format!("the bake after wave {}: {}", w.wave, b.error.clone().unwrap_or_else(|| b.alarms.join("; "))))
            })
            .collect();
        let ok = failed.is_empty() && bake_failed.is_empty() && report.targets().iter().all(|t| t.succeeded());
        if ok {
            report.outcome = Outcome::Succeeded;
        } else {
            report.outcome = if self.flags.interrupted.get() { Outcome::Interrupted } else { Outcome::Failed };
            let not_started: Vec<String> =
                report.targets().iter().filter(|t| t.action == Action::NotStarted).map(|t| t.target.to_string()).collect();
            let mut reason: Vec<String> = failed.into_iter().chain(bake_failed).collect();
            if !not_started.is_empty() {
                reason.push(format!("not started: targets {}", not_started.join(", ")));
            }
            report.reason = Some(reason.join("; "));
            if d.rollback_on_failure && !self.flags.interrupted.get() {
                self.roll_back(contexts, report).await;
            }
        }
        let runs = report
            .targets()
            .iter()
            .map(|t| {
                let i = t.target - 1;
                let (ctx, target, ami) = (&contexts[i], &d.targets.targets[i], t.image_id.clone());
                async move { (i, d.runs(ctx, target, &ami).await) }
            })
            .collect::<Vec<_>>();
        let runs: BTreeMap<usize, _> = futures::future::join_all(runs).await.into_iter().collect();
        let mut runs = runs;
        for w in &mut report.waves {
            for t in &mut w.targets {
                t.runs = runs.remove(&(t.target - 1));
            }
        }
        if !ok {
            let by: Vec<String> = ["new", "previous", "split", "unknown"]
                .iter()
                .filter_map(|b| {
                    let ts: Vec<String> = report
                        .targets()
                        .iter()
                        .filter(|t| t.runs.as_ref().is_some_and(|r| r.build == *b))
                        .map(|t| t.target.to_string())
                        .collect();
                    (!ts.is_empty()).then(|| format!("{b} build: targets {}", ts.join(", ")))
                })
                .collect();
            if let Some(reason) = &mut report.reason {
                reason.push_str(&format!("; the fleet: {}", by.join("; ")));
            }
        }
        report.seconds = secs(self.started);
    }

    /// Takes every target the deploy moved (or whose failed refresh may have moved some of
    /// its instances) back to the version it ran before, at most --max-parallel at once.
    async fn roll_back(&self, contexts: &[Context], report: &mut Deployed) {
        let d = self.d;
        let moved: Vec<(usize, Option<i64>)> = report
            .targets()
            .iter()
            .filter(|t| {
                t.succeeded()
                    || (t.action == Action::Failed
                        && t.instance_refresh_id.is_some()
                        && t.refresh_status.as_deref() != Some("RollbackSuccessful"))
            })
            .map(|t| (t.target - 1, t.previous_version))
            .collect();
        report.rolled_back = !moved.is_empty();
        tracing::info!("rolling back {} targets to the version each ran before", moved.len());
        let back = futures::stream::iter(moved)
            .map(|(i, previous)| {
                let t = &d.targets.targets[i];
                let ctx = &contexts[i];
                let mut args = vec![
                    "--interval".into(),
                    d.timing.refresh_interval.to_string(),
                    "--timeout".into(),
                    d.timing.refresh_timeout.to_string(),
                ];
                if let Some(v) = previous {
                    args.extend(["--to-version".into(), v.to_string()]);
                }
                args.extend([t.launch_template_id.to_string(), t.auto_scaling_group.to_string()]);
                async move {
                    let began = Instant::now();
                    let run = match step::<rollback::Args>(&d.global, ctx, args).await {
                        Ok(r) => RollbackRun {
                            version: r.to_version.or(previous),
                            instance_refresh_id: Some(r.instance_refresh_id.clone()).filter(|s| !s.is_empty()),
                            status: r.status.as_ref().map(|s| s.as_str().to_owned()),
                            error: r.failure(),
                            seconds: secs(began),
                        },
                        Err(e) => RollbackRun {
                            version: previous,
                            instance_refresh_id: None,
                            status: None,
                            error: Some(common::aws::error::render(&e)),
                            seconds: secs(began),
                        },
                    };
                    (i, run)
                }
            })
            .buffer_unordered(d.max_parallel)
            .collect::<Vec<_>>()
            .await;
        let mut back: BTreeMap<usize, RollbackRun> = back.into_iter().collect();
        for w in &mut report.waves {
            for t in &mut w.targets {
                t.rollback = back.remove(&(t.target - 1));
            }
        }
    }
}
