//! A deploy's report: per wave and target what was done, the AMI and version, the refresh and
//! its outcome, how long each step took, the way back if taken, what each target runs at the
//! end; the whole deploy's outcome last. Text, or JSON with `-o json`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Instant;

use common::deploy::targets::Target;
use common::deploy::waves::Worst;
use common::groups::launches::Group;
use common::groups::templates::VersionImages;
use common::{Report, Status};
use serde::Serialize;

/// Seconds since `t`, to a tenth.
pub(crate) fn secs(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 10.0).round() / 10.0
}

/// What the deploy did with a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Verified, bumped and refreshed: it runs the build.
    Deployed,
    /// A run before this one deployed it (a successful refresh to the build's version).
    AlreadyDeployed,
    /// A run before this one started its refresh; this run followed it to success.
    Followed,
    Failed,
    Interrupted,
    /// The deploy stopped before this target's turn.
    NotStarted,
}

/// How long each step took, in seconds.
#[derive(Debug, Default, Serialize)]
pub struct Seconds {
    pub verify: Option<f64>,
    pub bump: Option<f64>,
    pub refresh: Option<f64>,
    pub total: f64,
}

/// The way back, with --rollback-on-failure.
#[derive(Debug, Serialize)]
pub struct RollbackRun {
    /// The version it went back to.
    pub version: Option<i64>,
    pub instance_refresh_id: Option<String>,
    pub status: Option<String>,
    pub error: Option<String>,
    pub seconds: f64,
}

/// What a target runs at the end: `new` (every instance on the build), `previous` (none),
/// `split`, or `unknown` (it could not be read).
#[derive(Debug, Serialize)]
pub struct Runs {
    pub build: &'static str,
    /// Instances by the AMI each runs.
    pub instances: BTreeMap<String, usize>,
    /// The version the group names.
    pub group_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Runs {
    /// From the group, its template's versions and each instance's AMI (`running`).
    pub(crate) fn of(g: &Group, versions: &VersionImages, running: &BTreeMap<String, String>, ami: &str) -> Runs {
        let mut instances: BTreeMap<String, usize> = BTreeMap::new();
        for id in &g.instances {
            let image = running.get(id).cloned().unwrap_or_else(|| "unknown".into());
            *instances.entry(image).or_default() += 1;
        }
        let group_version = g.main_template().map(|u| u.version.clone());
        let on_new = instances.get(ami).copied().unwrap_or(0);
        let group_on_new =
            group_version.as_deref().and_then(|v| versions.resolve(v)).and_then(|v| versions.images.get(&v)).is_some_and(|i| i == ami);
        let build = match (on_new, instances.values().sum::<usize>()) {
            (0, 0) if group_on_new => "new",
            (0, _) if !group_on_new => "previous",
            (n, all) if n == all && group_on_new => "new",
            _ => "split",
        };
        Runs { build, instances, group_version, error: None }
    }

    pub(crate) fn unknown(error: String) -> Runs {
        Runs { build: "unknown", instances: BTreeMap::new(), group_version: None, error: Some(error) }
    }
}

/// One target's part in the deploy.
#[derive(Debug, Serialize)]
pub struct TargetRun {
    /// Its place in the targets file, from 1.
    pub target: usize,
    pub wave: u32,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub auto_scaling_group: String,
    pub launch_template_id: String,
    pub action: Action,
    pub image_id: String,
    /// The launch template version of the build.
    pub version: Option<i64>,
    /// The version the group named before this deploy moved it.
    pub previous_version: Option<i64>,
    pub instance_refresh_id: Option<String>,
    pub refresh_status: Option<String>,
    pub error: Option<String>,
    pub seconds: Seconds,
    pub rollback: Option<RollbackRun>,
    pub runs: Option<Runs>,
}

impl TargetRun {
    pub(crate) fn new(n: usize, wave: u32, t: &Target, ami: &str) -> TargetRun {
        TargetRun {
            target: n,
            wave,
            region: t.region.to_string(),
            account: t.role_arn.as_ref().map(|r| r.account().to_owned()),
            auto_scaling_group: t.auto_scaling_group.to_string(),
            launch_template_id: t.launch_template_id.to_string(),
            action: Action::NotStarted,
            image_id: ami.to_owned(),
            version: None,
            previous_version: None,
            instance_refresh_id: None,
            refresh_status: None,
            error: None,
            seconds: Seconds::default(),
            rollback: None,
            runs: None,
        }
    }

    pub(crate) fn fail(&mut self, e: &anyhow::Error) {
        self.action = Action::Failed;
        self.error = Some(common::aws::error::render(e));
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.action, Action::Deployed | Action::AlreadyDeployed | Action::Followed)
    }

    /// "target 2 (eu-west-1, account 2222...) group web".
    pub fn name(&self) -> String {
        match &self.account {
            Some(a) => format!("target {} ({}, account {a}) group {}", self.target, self.region, self.auto_scaling_group),
            None => format!("target {} ({}) group {}", self.target, self.region, self.auto_scaling_group),
        }
    }

    fn line(&self) -> String {
        let what = match self.action {
            Action::Deployed => "deployed",
            Action::AlreadyDeployed => "already deployed (skipped)",
            Action::Followed => "deployed (followed the refresh an earlier run started)",
            Action::Failed => "FAILED",
            Action::Interrupted => "interrupted",
            Action::NotStarted => "not started",
        };
        let mut line = format!("{}: {what}", self.name());
        if self.action != Action::NotStarted {
            line.push_str(&format!(", {}", self.image_id));
        }
        if let Some(v) = self.version {
            line.push_str(&format!(" as version {v}"));
        }
        if let (Some(id), Some(status)) = (&self.instance_refresh_id, &self.refresh_status) {
            line.push_str(&format!(", refresh {id} {status}"));
        }
        let s = &self.seconds;
        let steps: Vec<String> = [("verify", s.verify), ("bump", s.bump), ("refresh", s.refresh)]
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {v:.1}s")))
            .collect();
        if self.action != Action::NotStarted {
            line.push_str(&format!(" ({}{:.1}s)", steps.iter().map(|s| format!("{s}, ")).collect::<String>(), s.total));
        }
        if let Some(e) = &self.error {
            line.push_str(&format!(": {e}"));
        }
        line
    }
}

/// The bake after a wave.
#[derive(Debug, Serialize)]
pub struct Bake {
    pub seconds: f64,
    /// Alarms in ALARM when it ended ("alarm (Region, account)": reason).
    pub alarms: Vec<String>,
    pub error: Option<String>,
}

/// One wave.
#[derive(Debug, Serialize)]
pub struct Wave {
    pub wave: u32,
    pub targets: Vec<TargetRun>,
    pub seconds: f64,
    /// The wave's worst case (a dry run), in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake: Option<Bake>,
}

/// How the whole deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Interrupted,
    DryRun,
}

/// The deploy's report.
#[derive(Debug, Serialize)]
pub struct Deployed {
    pub build: String,
    pub branch: String,
    pub app: String,
    /// The build's AMI in each Region.
    pub images: BTreeMap<String, String>,
    pub waves: Vec<Wave>,
    pub rolled_back: bool,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case: Option<Worst>,
}

impl Deployed {
    /// A dry run: the waves and their worst cases.
    pub(crate) fn planned(d: &super::Deploy, waves: &[(u32, Vec<usize>)], worst: &Worst) -> Deployed {
        let waves = waves
            .iter()
            .zip(&worst.waves)
            .map(|((n, members), w)| Wave {
                wave: *n,
                targets: members.iter().map(|&i| TargetRun::new(i + 1, *n, &d.targets.targets[i], "")).collect(),
                seconds: 0.0,
                worst_case_seconds: Some(*w),
                bake: None,
            })
            .collect();
        Deployed {
            build: d.build.clone(),
            branch: d.branch.clone(),
            app: d.app.clone(),
            images: BTreeMap::new(),
            waves,
            rolled_back: false,
            outcome: Outcome::DryRun,
            reason: None,
            seconds: 0.0,
            worst_case: Some(worst.clone()),
        }
    }

    /// The targets, in the file's order.
    pub fn targets(&self) -> Vec<&TargetRun> {
        let mut all: Vec<&TargetRun> = self.waves.iter().flat_map(|w| &w.targets).collect();
        all.sort_by_key(|t| t.target);
        all
    }

    fn write_dry_run(&self, out: &mut dyn Write, worst: &Worst) -> io::Result<()> {
        let waves = if self.waves.len() == 1 { "1 wave".to_owned() } else { format!("{} waves", self.waves.len()) };
        writeln!(out, "Deploy of build {} (branch {}) would go in {waves}:", self.build, self.branch)?;
        for w in &self.waves {
            let worst = w.worst_case_seconds.unwrap_or(0);
            writeln!(out, "wave {}: {}, at worst {} ({worst}s)", w.wave, count(w.targets.len()), minutes(worst))?;
            for t in &w.targets {
                writeln!(out, "  {}", t.name())?;
            }
        }
        writeln!(out, "bake times between waves: {} ({}s)", minutes(worst.bakes), worst.bakes)?;
        if let Some(r) = worst.rollback {
            writeln!(out, "rollback of every target: {} ({r}s)", minutes(r))?;
        }
        let total = worst.total;
        writeln!(
            out,
            "worst case in all: {} ({total}s): CodeBuild's timeout must allow it, with the bake by Packer (at most 2160 minutes)",
            minutes(total)
        )
    }
}

/// "1 target", "3 targets".
fn count(n: usize) -> String {
    if n == 1 {
        "1 target".into()
    } else {
        format!("{n} targets")
    }
}

/// Whole minutes, rounded up: "25 minutes".
fn minutes(secs: u64) -> String {
    format!("{} minutes", secs.div_ceil(60))
}

impl Report for Deployed {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(worst) = &self.worst_case {
            return self.write_dry_run(out, worst);
        }
        for w in &self.waves {
            writeln!(out, "wave {} ({}, {:.1}s):", w.wave, count(w.targets.len()), w.seconds)?;
            for t in &w.targets {
                writeln!(out, "  {}", t.line())?;
            }
            if let Some(b) = &w.bake {
                let alarms = if b.alarms.is_empty() { String::new() } else { format!(": {}", b.alarms.join("; ")) };
                let error = b.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                writeln!(out, "  bake {:.1}s{alarms}{error}", b.seconds)?;
            }
        }
        for t in self.targets() {
            if let Some(r) = &t.rollback {
                let to = r.version.map(|v| format!(" to version {v}")).unwrap_or_default();
                let refresh = r.instance_refresh_id.as_deref().map(|id| format!(", refresh {id}")).unwrap_or_default();
                let status = r.status.as_deref().map(|s| format!(" {s}")).unwrap_or_default();
                let error = r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                writeln!(out, "rolled back {}{to}{refresh}{status} ({:.1}s){error}", t.name(), r.seconds)?;
            }
        }
        for t in self.targets() {
            if let Some(r) = &t.runs {
                let counts: Vec<String> = r.instances.iter().map(|(ami, n)| format!("{n} on {ami}")).collect();
                let version = r.group_version.as_deref().map(|v| format!(", group on version {v}")).unwrap_or_default();
                writeln!(out, "{} runs the {} build ({}{version})", t.name(), r.build, counts.join(", "))?;
            }
        }
        let outcome = match self.outcome {
            Outcome::Succeeded => "SUCCEEDED",
            Outcome::Failed => "FAILED",
            Outcome::Interrupted => "INTERRUPTED",
            Outcome::DryRun => "DRY RUN",
        };
        let reason = self.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        writeln!(out, "Deploy of build {} to {}: {outcome} in {:.1}s{reason}", self.build, count(self.targets().len()), self.seconds)
    }

    fn failure(&self) -> Option<String> {
        match self.outcome {
            Outcome::Succeeded | Outcome::DryRun => None,
            _ => Some(self.reason.clone().unwrap_or_else(|| "the deploy did not succeed".into())),
        }
    }

    fn failure_status(&self) -> Status {
        if self.outcome == Outcome::Interrupted {
            Status::Interrupted
        } else {
            Status::Failed
        }
    }
}
