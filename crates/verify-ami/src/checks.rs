//! The checks, in order: EC2's status checks, then an SSM command, then a target group's
//! health check. Each looks at all the instances at once, every `--interval`, with a fixed
//! number of calls a look (one for the status checks, the agents and the target health; one
//! per instance still running the command), so a verdict comes within one interval of AWS's
//! answer. A check that AWS answers with a failure fails at once; one that has no answer by
//! the deadline fails as timed out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_ec2::types::{InstanceStateName, SummaryStatus};
use common::aws::error::{aws_error, Code};
use common::Context;

use crate::report::{Check, Outcome};
use crate::Verification;

mod ssm;
mod target;

pub use target::deregister;

/// How the checks ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Passed,
    /// The AMI failed: the reason, short.
    Failed(String),
    Interrupted,
}

/// What one phase found: nothing wrong, or why the AMI fails.
type Found = Option<String>;

pub struct Checker<'a> {
    ctx: &'a Context,
    args: &'a Verification,
    ids: &'a [String],
    deadline: Instant,
    interval: Duration,
    /// The instances registered in the target group (deregistered when they are terminated).
    registered: Vec<String>,
    /// Looks at the instances so far.
    pub looks: u32,
}

impl<'a> Checker<'a> {
    pub fn new(ctx: &'a Context, args: &'a Verification, ids: &'a [String], deadline: Instant) -> Self {
        Checker { ctx, args, ids, deadline, interval: args.interval, registered: Vec::new(), looks: 0 }
    }

    /// The target group and the instances in it, for the cleanup.
    pub fn registered(&self) -> Option<(&str, &[String])> {
        self.args.target_group_arn.as_ref().map(|tg| (tg.as_str(), self.registered.as_slice()))
    }

    /// Runs every check asked for, in order, until one fails.
    pub async fn run(&mut self, checks: &mut Vec<Check>) -> Result<Ended> {
        if let Some(why) = self.status_checks(checks).await? {
            return Ok(Ended::Failed(why));
        }
        if let Some(command) = self.args.ssm_command.clone() {
            if let Some(why) = self.ssm_command(&command, checks).await? {
                return Ok(Ended::Failed(why));
            }
        }
        if let Some(tg) = self.args.target_group_arn.clone() {
            if let Some(why) = self.target_health(tg.as_str(), checks).await? {
                return Ok(Ended::Failed(why));
            }
        }
        Ok(Ended::Passed)
    }

    /// Waits one interval (less, near the deadline); false once the deadline has passed.
    async fn pause(&self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.interval.min(self.deadline - now)).await;
        true
    }

    fn timed_out(&self, what: &str) -> String {
        format!("timed out after {} s waiting for {what}", self.args.timeout.as_secs_f64())
    }

    /// Both EC2 status checks `ok` on every instance.
    async fn status_checks(&mut self, checks: &mut Vec<Check>) -> Result<Found> {
        let started = Instant::now();
        let mut passed: BTreeMap<String, f64> = BTreeMap::new();
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        loop {
            self.looks += 1;
            let seen = self.describe_status().await?;
            for id in self.ids {
                let Some(status) = seen.get(id).filter(|_| !passed.contains_key(id)) else { continue };
                last.insert(id.clone(), status.describe());
                if let Some(why) = status.failure() {
                    let why = match status.state {
                        InstanceStateName::Running => format!("{id}: {why}"),
                        _ => format!("{id}: {}", self.state_reason(id, &status.state).await?),
                    };
                    checks.push(Check::new("status-checks", Some(id), Outcome::Failed, started, why.clone()));
                    return Ok(Some(why));
                }
                if status.passed() {
                    passed.insert(id.clone(), started.elapsed().as_secs_f64());
                }
            }
            if passed.len() == self.ids.len() {
                for (id, secs) in passed {
                    checks.push(Check::at("status-checks", Some(&id), Outcome::Passed, secs, "instance and system status ok".into()));
                }
                return Ok(None);
            }
            if !self.pause().await {
                let waiting: Vec<String> = self
                    .ids
                    .iter()
                    .filter(|id| !passed.contains_key(*id))
                    .map(|id| format!("{id} ({})", last.get(id).map_or("not listed yet", String::as_str)))
                    .collect();
                let why = self.timed_out(&format!("the status checks of {}", waiting.join(", ")));
                checks.push(Check::new("status-checks", None, Outcome::TimedOut, started, why.clone()));
                return Ok(Some(why));
            }
        }
    }

    async fn describe_status(&self) -> Result<BTreeMap<String, Status>> {
        let ec2 = self.ctx.ec2();
        let mut pages =
            ec2.describe_instance_status().set_instance_ids(Some(self.ids.to_vec())).include_all_instances(true).into_paginator().send();
        let mut seen = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                // Just launched: EC2 may not know the instances yet (eventual consistency).
                Err(e) if Code::of(&e) == Some(Code::InstanceNotFound) => return Ok(seen),
                other => other.map_err(|e| aws_error("describing the instances' status", e))?,
            };
            for s in page.instance_statuses() {
                let summary = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
                    let details = s.map(|s| {
                        s.details()
                            .iter()
                            .map(|d| format!("{} {}", d.name().map_or("?", |n| n.as_str()), d.status().map_or("?", |v| v.as_str())))
                            .collect::<Vec<_>>()
                            .join(", ")
                    });
                    (s.and_then(|s| s.status()).cloned(), details.unwrap_or_default())
                };
                let status = Status {
                    state: s.instance_state().and_then(|st| st.name()).cloned().unwrap_or(InstanceStateName::Pending),
                    instance: summary(s.instance_status()),
                    system: summary(s.system_status()),
                };
                seen.insert(s.instance_id().unwrap_or_default().to_owned(), status);
            }
        }
        Ok(seen)
    }

    /// Why an instance is no longer running, in AWS's words.
    async fn state_reason(&self, id: &str, state: &InstanceStateName) -> Result<String> {
        let out =
            self.ctx.ec2().describe_instances().instance_ids(id).send().await.map_err(|e| aws_error(format!("describing {id}"), e))?;
        let instance = out.reservations().iter().flat_map(|r| r.instances()).next();
        let reason = instance.and_then(|i| i.state_reason()).map(|r| format!("{}: {}", r.code().unwrap_or("?"), r.message().unwrap_or("")));
        let transition = instance.and_then(|i| i.state_transition_reason()).filter(|t| !t.is_empty());
        Ok(match (reason, transition) {
            (Some(r), _) => format!("the instance is {} ({r})", state.as_str()),
            (None, Some(t)) => format!("the instance is {} ({t})", state.as_str()),
            (None, None) => format!("the instance is {}", state.as_str()),
        })
    }
}

/// One instance's status, as one look saw it.
#[derive(Debug)]
struct Status {
    state: InstanceStateName,
    instance: (Option<SummaryStatus>, String),
    system: (Option<SummaryStatus>, String),
}

impl Status {
    fn passed(&self) -> bool {
        self.state == InstanceStateName::Running && self.instance.0 == Some(SummaryStatus::Ok) && self.system.0 == Some(SummaryStatus::Ok)
    }

    /// Why this look fails the instance, if it does: a check impaired, or no longer running.
    fn failure(&self) -> Option<String> {
        match self.state {
            InstanceStateName::Pending => None,
            InstanceStateName::Running => [("instance", &self.instance), ("system", &self.system)]
                .iter()
                .find(|(_, (s, _))| *s == Some(SummaryStatus::Impaired))
                .map(|(which, (_, details))| format!("{which} status check impaired ({details})")),
            _ => Some(self.state.as_str().to_owned()),
        }
    }

    fn describe(&self) -> String {
        let word = |s: &Option<SummaryStatus>| s.as_ref().map_or("unknown", |s| s.as_str()).to_owned();
        format!("{}, instance status {}, system status {}", self.state.as_str(), word(&self.instance.0), word(&self.system.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: InstanceStateName, instance: SummaryStatus, system: SummaryStatus) -> Status {
        Status { state, instance: (Some(instance), "reachability x".into()), system: (Some(system), String::new()) }
    }

    #[test]
    fn only_both_checks_ok_on_a_running_instance_pass() {
        use InstanceStateName as S;
        use SummaryStatus as C;
        assert!(status(S::Running, C::Ok, C::Ok).passed());
        assert!(!status(S::Running, C::Initializing, C::Ok).passed());
        assert!(!status(S::Running, C::Ok, C::InsufficientData).passed());
        assert_eq!(status(S::Running, C::Initializing, C::Ok).failure(), None);
        assert_eq!(status(S::Pending, C::NotApplicable, C::NotApplicable).failure(), None);
        assert_eq!(status(S::Running, C::Impaired, C::Ok).failure().as_deref(), Some("instance status check impaired (reachability x)"));
        assert!(status(S::Running, C::Ok, C::Impaired).failure().unwrap().starts_with("system status check impaired"));
        for gone in [S::Stopping, S::Stopped, S::ShuttingDown, S::Terminated] {
            assert!(status(gone.clone(), C::NotApplicable, C::NotApplicable).failure().is_some(), "{gone:?}");
        }
    }
}
