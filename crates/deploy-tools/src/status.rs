//! `deploy-tools status TARGETS_FILE`: what the fleet runs, every target asked at once.
//!
//! Per target: its group, the launch template version the group names, the AMI that version
//! runs with its build, commit and verification, how many instances run which AMI, the last
//! refresh, and drift: instances on another image than the group's version, or a group
//! behind the newest verified build of the branch (with --branch). Exit 0 when every target
//! runs one build and nothing drifts, 1 otherwise, so that a scheduled job can alert on it.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Result;
use clap::Parser;
use common::aws::error::{aws_error, render};
use common::deploy::targets::{Target, Targets};
use common::groups::launches::{instance_images, list_groups};
use common::groups::templates::version_images;
use common::images::ami::{describe_many, list_amis};
use common::images::verdict::deployable;
use common::{Context, GlobalArgs, Plan, Report, Scope, TagFilter, Tool};
use serde::Serialize;

use crate::targets::reach;

/// Show what every target of a targets file runs, and whether the fleet drifts.
///
/// Asks every target at once (through its role): the launch template version its group names,
/// that version's AMI (name, build, commit, verification), how many instances run which AMI,
/// its last instance refresh, and drift: instances on another AMI than the group's version,
/// or (with --branch) a group behind the newest verified build of the branch.
///
/// Exit status: 0 when every target runs one build and nothing drifts; 1 otherwise (or a
/// target could not be read); 2 for a bad targets file.
///
/// Example (a scheduled job):  deploy-tools status --branch main --app web deploy-targets.json
#[derive(Parser, Debug)]
#[command(name = "status", version, about, long_about)]
pub struct Args {
    /// The targets file.
    #[arg(value_name = "TARGETS_FILE")]
    pub file: PathBuf,

    /// Also say when a group is behind the newest verified build of this branch (the AMIs'
    /// tag branch, in the caller's account, in each target's Region).
    #[arg(long, env = "BRANCH", value_name = "BRANCH")]
    pub branch: Option<String>,

    /// With --branch: the application (the AMIs' tag app).
    #[arg(long, env = "APP", value_name = "NAME")]
    pub app: Option<String>,
}

/// The targets to ask, and what builds count as the newest.
#[derive(Debug)]
pub struct Ask {
    targets: Targets,
    scope: Option<Scope>,
}

impl Tool for Args {
    const NAME: &'static str = "deploy-tools status";
    type Plan = Ask;

    fn prepare(self, _: &GlobalArgs) -> Result<Ask> {
        let targets = Targets::read(&self.file)?;
        let tags: Vec<TagFilter> =
            self.app.iter().filter(|a| !a.is_empty()).map(|a| TagFilter { key: "app".into(), value: a.clone() }).collect();
        let scope = match self.branch.filter(|b| !b.is_empty()) {
            Some(branch) => Some(Scope::new(&branch, &tags)?),
            None => None,
        };
        Ok(Ask { targets, scope })
    }
}

/// The AMI a group's version runs.
#[derive(Debug, Serialize, Clone)]
pub struct Image {
    pub image_id: String,
    pub name: Option<String>,
    pub build: Option<String>,
    pub commit: Option<String>,
    pub verification: Option<String>,
}

/// A group's last instance refresh.
#[derive(Debug, Serialize)]
pub struct LastRefresh {
    pub instance_refresh_id: String,
    pub status: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub status_reason: Option<String>,
}

/// One target, as it stands.
#[derive(Debug, Serialize)]
pub struct TargetStatus {
    pub target: usize,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub auto_scaling_group: String,
    pub launch_template_id: String,
    pub group_version: Option<String>,
    pub image: Option<Image>,
    /// Instances by the AMI they run.
    pub instances: BTreeMap<String, usize>,
    pub last_refresh: Option<LastRefresh>,
    /// The newest verified build of the branch in the Region (with --branch).
    pub newest_verified: Option<Image>,
    pub drift: Vec<String>,
    pub error: Option<String>,
}

/// The fleet.
#[derive(Debug, Serialize)]
pub struct Fleet {
    pub targets: Vec<TargetStatus>,
    /// The builds the targets' groups run (by the AMIs' build tag, else their name).
    pub builds: Vec<String>,
}

impl Plan for Ask {
    type Report = Fleet;

    fn fallback_region(&self) -> Option<&str> {
        self.targets.targets.first().map(|t| t.region.as_str())
    }

    async fn run(self, ctx: Context) -> Result<Fleet> {
        let ctx = &ctx;
        let scope = self.scope.as_ref();
        let asks = self.targets.targets.iter().enumerate().map(|(i, t)| async move {
            let mut status = TargetStatus::new(i + 1, t);
            if let Err(e) = status.ask(ctx, t, scope).await {
                tracing::error!("{}: {}", t.describe(i + 1), render(&e));
                status.error = Some(render(&e));
            }
            status
        });
        let targets = futures::future::join_all(asks).await;
        let mut builds: Vec<String> = Vec::new();
        for t in &targets {
            let b = t.image.as_ref().map(build_of).unwrap_or_else(|| "unknown".into());
            if !builds.contains(&b) {
                builds.push(b);
            }
        }
        Ok(Fleet { targets, builds })
    }
}

fn build_of(i: &Image) -> String {
    i.build.clone().or_else(|| i.name.clone()).unwrap_or_else(|| i.image_id.clone())
}

fn image(ami: &common::Ami) -> Image {
    Image {
        image_id: ami.image_id.clone(),
        name: ami.name.clone(),
        build: ami.tags.get("build").cloned(),
        commit: ami.tags.get("commit").cloned(),
        verification: ami.tags.get("verification").cloned(),
    }
}

impl TargetStatus {
    fn new(n: usize, t: &Target) -> TargetStatus {
        TargetStatus {
            target: n,
            region: t.region.to_string(),
            account: t.role_arn.as_ref().map(|r| r.account().to_owned()),
            auto_scaling_group: t.auto_scaling_group.to_string(),
            launch_template_id: t.launch_template_id.to_string(),
            group_version: None,
            image: None,
            instances: BTreeMap::new(),
            last_refresh: None,
            newest_verified: None,
            drift: Vec::new(),
            error: None,
        }
    }

    async fn ask(&mut self, home: &Context, t: &Target, scope: Option<&Scope>) -> Result<()> {
        let ctx = reach(home, "deploy-tools-status", self.target, t).await?;
        let (asg, ec2) = (ctx.autoscaling(), ctx.ec2());
        let names = [t.auto_scaling_group.to_string()];
        let (groups, versions, refreshes, newest) = futures::join!(
            list_groups(&asg, &names),
            version_images(&ec2, t.launch_template_id.as_str()),
            asg.describe_instance_refreshes().auto_scaling_group_name(t.auto_scaling_group.as_str()).max_records(1).send(),
            newest_verified(home, t, scope)
        );
        let (groups, versions) = (groups?, versions?);
        let Some(group) = groups.first() else {
            anyhow::bail!("Auto Scaling group {} does not exist in {}", t.auto_scaling_group, t.region);
        };
        let refreshes = refreshes.map_err(|e| aws_error(format!("describing the instance refreshes of {}", t.auto_scaling_group), e))?;
        self.last_refresh = refreshes.instance_refreshes().first().map(|r| LastRefresh {
            instance_refresh_id: r.instance_refresh_id().unwrap_or_default().to_owned(),
            status: r.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            start_time: r.start_time().map(|t| t.to_string()),
            end_time: r.end_time().map(|t| t.to_string()),
            status_reason: r.status_reason().map(str::to_owned),
        });
        self.group_version = group.main_template().map(|u| u.version.clone());
        let version_ami = self.group_version.as_deref().and_then(|v| versions.resolve(v)).and_then(|v| versions.images.get(&v)).cloned();
        let running = instance_images(&ec2, &group.instances).await?;
        for ami in running.values() {
            *self.instances.entry(ami.clone()).or_default() += 1;
        }
        let mut wanted: Vec<String> = self.instances.keys().cloned().collect();
        wanted.extend(version_ami.clone());
        let amis = describe_many(&ec2, &wanted).await?;
        self.image = version_ami.as_ref().map(|id| {
            amis.get(id).map(image).unwrap_or(Image { image_id: id.clone(), name: None, build: None, commit: None, verification: None })
        });
        match &version_ami {
            None => self.drift.push(format!("the group's version {} names no AMI", self.group_version.as_deref().unwrap_or("?"))),
            Some(ami) => {
                for (other, n) in self.instances.iter().filter(|(a, _)| *a != ami) {
                    self.drift.push(format!("{n} instances run {other}, not the group's {ami}"));
                }
            }
        }
        let newest = newest?;
        self.newest_verified = newest.as_ref().map(image);
        if let (Some(newest), Some(now)) = (&newest, &self.image) {
            let now_created = amis.get(&now.image_id).map(|a| a.creation_date.as_str()).unwrap_or_default();
            if build_of(&image(newest)) != build_of(now) && newest.creation_date.as_str() > now_created {
                self.drift.push(format!("behind the newest verified build {} ({})", build_of(&image(newest)), newest.image_id));
            }
        }
        Ok(())
    }
}

/// The newest AMI of the branch that verify-ami passed and that can launch, in the caller's
/// account in the target's Region.
async fn newest_verified(home: &Context, t: &Target, scope: Option<&Scope>) -> Result<Option<common::Ami>> {
    let Some(scope) = scope else { return Ok(None) };
    let ec2 = home.in_region(t.region.as_str()).ec2();
    let amis = list_amis(&ec2, scope, true).await?;
    let now = SystemTime::now();
    Ok(amis.into_iter().rev().find(|a| deployable(a, now, true).is_ok()))
}

impl Report for Fleet {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for t in &self.targets {
            let account = t.account.as_deref().map(|a| format!(", account {a}")).unwrap_or_default();
            writeln!(out, "target {} ({}{account}) group {}:", t.target, t.region, t.auto_scaling_group)?;
            if let Some(e) = &t.error {
                writeln!(out, "  error: {e}")?;
                continue;
            }
            let version = t.group_version.as_deref().unwrap_or("none");
            writeln!(out, "  launch template {} version {version}", t.launch_template_id)?;
            if let Some(i) = &t.image {
                let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "  runs {} ({}): build {}, commit {}, verification {}",
                    i.image_id,
                    field(&i.name),
                    field(&i.build),
                    field(&i.commit),
                    field(&i.verification)
                )?;
            }
            let counts: Vec<String> = t.instances.iter().map(|(ami, n)| format!("{n} on {ami}")).collect();
            writeln!(out, "  instances: {}", if counts.is_empty() { "none".into() } else { counts.join(", ") })?;
            if let Some(r) = &t.last_refresh {
                let when = r.end_time.as_deref().or(r.start_time.as_deref()).unwrap_or("?");
                let reason = r.status_reason.as_deref().map(|s| format!(": {}", common::aws::error::one_line(s))).unwrap_or_default();
                writeln!(out, "  last refresh {} {} at {when}{reason}", r.instance_refresh_id, r.status)?;
            }
            for d in &t.drift {
                writeln!(out, "  DRIFT: {d}")?;
            }
        }
        let verdict = if self.failure().is_none() { "one build, no drift" } else { "NOT one build, or drifting" };
        writeln!(out, "fleet: {} targets on {} ({})", self.targets.len(), self.builds.join(", "), verdict)
    }

    fn failure(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.builds.len() > 1 {
            why.push(format!("the targets run {} builds: {}", self.builds.len(), self.builds.join(", ")));
        }
        for t in &self.targets {
            if let Some(e) = &t.error {
                why.push(format!("target {}: {e}", t.target));
            }
            if !t.drift.is_empty() {
                why.push(format!("target {} drifts: {}", t.target, t.drift.join("; ")));
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}
