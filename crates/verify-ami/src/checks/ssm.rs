//! The SSM check: every instance's agent online, then the command run on them all, exiting 0.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use aws_sdk_ssm::types::{CommandInvocationStatus, InstanceInformationStringFilter, PingStatus};
use common::aws::error::aws_error;

use super::{Checker, Found};
use crate::report::{tail, Check, CommandOutput, Outcome};

impl Checker<'_> {
    /// The SSM agent online on every instance, then the command run on them all, exiting 0.
    pub(super) async fn ssm_command(&mut self, command: &str, checks: &mut Vec<Check>) -> Result<Found> {
        let started = Instant::now();
        if let Some(why) = self.agents_online(started, checks).await? {
            return Ok(Some(why));
        }
        let Some(command_id) = self.send(command, started, checks).await? else {
            return Ok(Some(checks.last().map(|c| c.detail.clone()).unwrap_or_default()));
        };
        let ssm = self.ctx.ssm();
        let mut done: BTreeMap<String, f64> = BTreeMap::new();
        loop {
            self.looks += 1;
            for id in self.ids.iter().filter(|id| !done.contains_key(*id)).cloned().collect::<Vec<_>>() {
                let out = match ssm.get_command_invocation().command_id(&command_id).instance_id(&id).send().await {
                    // AWS may not know the invocation yet, right after the send.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_invocation_does_not_exist()) => continue,
                    other => other.map_err(|e| aws_error(format!("asking how the command on {id} went"), e))?,
                };
                let status = out.status().cloned().unwrap_or(CommandInvocationStatus::Pending);
                match status {
                    CommandInvocationStatus::Pending | CommandInvocationStatus::InProgress | CommandInvocationStatus::Delayed => {}
                    CommandInvocationStatus::Success => {
                        done.insert(id.clone(), started.elapsed().as_secs_f64());
                    }
                    other => {
                        let code = out.response_code();
                        let why = format!(
                            "{id}: the SSM command {} with exit code {code}",
                            if other == CommandInvocationStatus::Failed {
                                "failed".to_owned()
                            } else {
                                format!("ended {}", other.as_str())
                            }
                        );
                        let mut check = Check::new("ssm-command", Some(&id), Outcome::Failed, started, why.clone());
                        check.output = Some(CommandOutput {
                            exit_code: code,
                            stdout: tail(out.standard_output_content().unwrap_or_default()),
                            stderr: tail(out.standard_error_content().unwrap_or_default()),
                        });
                        checks.push(check);
                        return Ok(Some(why));
                    }
                }
            }
            if done.len() == self.ids.len() {
                for (id, secs) in done {
                    checks.push(Check::at("ssm-command", Some(&id), Outcome::Passed, secs, "exit code 0".into()));
                }
                return Ok(None);
            }
            if !self.pause().await {
                let why = self.timed_out("the SSM command to end");
                checks.push(Check::new("ssm-command", None, Outcome::TimedOut, started, why.clone()));
                return Ok(Some(why));
            }
        }
    }

    async fn agents_online(&mut self, started: Instant, checks: &mut Vec<Check>) -> Result<Found> {
        let ssm = self.ctx.ssm();
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(self.ids.to_vec()))
            .build()
            .map_err(anyhow::Error::new)?;
        loop {
            self.looks += 1;
            let mut pages = ssm.describe_instance_information().filters(filter.clone()).max_results(50).into_paginator().send();
            let mut online = 0;
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("asking whether the instances' SSM agents are online", e))?;
                online += page.instance_information_list().iter().filter(|i| i.ping_status() == Some(&PingStatus::Online)).count();
            }
            if online >= self.ids.len() {
                return Ok(None);
            }
            if !self.pause().await {
                let why = self.timed_out("the SSM agent to come online (the instance profile's role needs AmazonSSMManagedInstanceCore, and the instance a way to reach SSM)");
                checks.push(Check::new("ssm-command", None, Outcome::TimedOut, started, why.clone()));
                return Ok(Some(why));
            }
        }
    }

    /// Sends the command; an agent that has just come online may still be refused
    /// (InvalidInstanceId), so that is asked again at the next look.
    async fn send(&mut self, command: &str, started: Instant, checks: &mut Vec<Check>) -> Result<Option<String>> {
        let ssm = self.ctx.ssm();
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now()).as_secs().max(1);
            let sent = ssm
                .send_command()
                .document_name("AWS-RunShellScript")
                .set_instance_ids(Some(self.ids.to_vec()))
                .parameters("commands", vec![command.to_owned()])
                .parameters("executionTimeout", vec![left.to_string()])
                .comment(format!("verify-ami {}", self.args.ami_id))
                .send()
                .await;
            match sent {
                Ok(out) => return Ok(out.command().and_then(|c| c.command_id()).map(str::to_owned)),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_instance_id()) => {}
                Err(e) => return Err(aws_error("sending the SSM command", e)),
            }
            if !self.pause().await {
                let why = self.timed_out("SSM to accept the command");
                checks.push(Check::new("ssm-command", None, Outcome::TimedOut, started, why));
                return Ok(None);
            }
        }
    }
}
