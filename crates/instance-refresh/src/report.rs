//! The report: what the tool prints (text or JSON) and exits with, from where the refresh's
//! status leaves the deploy (`common::groups::refresh`).

use std::io::{self, Write};

use aws_sdk_autoscaling::types::InstanceRefreshStatus;
use common::groups::refresh::{phase, Phase};
use common::{Report, Status};
use serde::Serialize;

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
    /// AWS's status, as AWS spells it in JSON; none for a dry run ("DryRun").
    #[serde(serialize_with = "status_as_aws_spells_it")]
    pub status: Option<InstanceRefreshStatus>,
    pub percentage_complete: Option<i32>,
    pub instances_to_update: Option<i32>,
    pub status_reason: Option<String>,
    pub duration_seconds: f64,
    pub stopped: Stop,
    /// The group's latest scaling activities, when the refresh did not succeed.
    pub activities: Vec<Activity>,
    /// How many times the refresh's status was read.
    pub polls: u32,
    /// The watched alarms in ALARM when the refresh ended failed or rolled back.
    pub alarms: Vec<crate::alarms::Seen>,
    /// What the group launches from when the refresh ended failed or rolled back.
    pub group_runs: Option<String>,
}

impl Refreshed {
    /// A dry run's report: nothing started.
    pub fn dry_run(group: &str) -> Refreshed {
        Refreshed {
            instance_refresh_id: String::new(),
            auto_scaling_group_name: group.to_owned(),
            status: None,
            percentage_complete: None,
            instances_to_update: None,
            status_reason: None,
            duration_seconds: 0.0,
            stopped: Stop::DryRun,
            activities: Vec::new(),
            polls: 0,
            alarms: Vec::new(),
            group_runs: None,
        }
    }

    /// The status as AWS spells it, or "DryRun".
    pub fn status_text(&self) -> &str {
        self.status.as_ref().map_or("DryRun", InstanceRefreshStatus::as_str)
    }
}

fn status_as_aws_spells_it<S: serde::Serializer>(status: &Option<InstanceRefreshStatus>, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(status.as_ref().map_or("DryRun", InstanceRefreshStatus::as_str))
}

impl Report for Refreshed {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.stopped == Stop::DryRun {
            return writeln!(out, "Would start an instance refresh of {}", self.auto_scaling_group_name);
        }
        writeln!(out, "Instance refresh {}{}", self.status_text(), pct(self.percentage_complete))
    }

    fn failure(&self) -> Option<String> {
        let id = &self.instance_refresh_id;
        let group = &self.auto_scaling_group_name;
        let status = self.status_text();
        let mut msg = match (self.stopped, self.status.as_ref().map(phase)) {
            (Stop::Finished, Some(Phase::Succeeded)) | (Stop::DryRun, _) => return None,
            (Stop::Interrupted, _)
                if matches!(self.status, Some(InstanceRefreshStatus::Cancelling | InstanceRefreshStatus::Cancelled)) =>
            {
                format!("interrupted: refresh {id} of {group} is being cancelled")
            }
            (Stop::Interrupted, _) => format!(
                "interrupted: stopped waiting, but refresh {id} goes on in AWS; follow it with: aws autoscaling describe-instance-refreshes --auto-scaling-group-name {group} --instance-refresh-ids {id}"
            ),
            (Stop::TimedOut, _) => format!(
                "gave up waiting for refresh {id} of {group}: still {status} after {:.0}s (it goes on in AWS)",
                self.duration_seconds
            ),
            _ => format!("refresh {id} of {group} ended {status}"),
        };
        if let Some(reason) = &self.status_reason {
            msg.push_str(&format!(": {}", common::aws::error::one_line(reason)));
        }
        for a in &self.alarms {
            msg.push_str(&format!("; alarm {} is in {}: {}", a.name, a.state, common::aws::error::one_line(&a.reason)));
        }
        if let Some(runs) = &self.group_runs {
            msg.push_str(&format!("; the group runs {runs}"));
        }
        for a in &self.activities {
            msg.push_str(&format!(
                "; activity {} {}: {}",
                a.start_time.as_deref().unwrap_or("?"),
                a.status_code.as_deref().unwrap_or("?"),
                common::aws::error::one_line(a.status_message.as_deref().or(a.description.as_deref()).unwrap_or(""))
            ));
        }
        Some(msg)
    }

    fn failure_status(&self) -> Status {
        if self.stopped == Stop::Interrupted {
            Status::Interrupted
        } else {
            Status::Failed
        }
    }
}

pub(crate) fn pct(p: Option<i32>) -> String {
    p.map(|p| format!(" ({p}%)")).unwrap_or_default()
}
