//! What a rollback did: text (the outcome in a line) or JSON, and the exit status (0 when the
//! group is back: RollbackSuccessful, or the refresh to the good version Successful).

use std::io::{self, Write};

use aws_sdk_autoscaling::types::InstanceRefreshStatus as S;
use common::aws::ids::LaunchTemplateId;
use common::{Report, Status};
pub use instance_refresh::report::Stop;
use serde::Serialize;

/// Which way the group went back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// A refresh under way was rolled back (RollbackInstanceRefresh).
    RollbackOfRefresh,
    /// A refresh to an older version (the last good one, or --to-version).
    RefreshToVersion,
}

#[derive(Debug, Serialize)]
pub struct RolledBack {
    pub how: How,
    pub auto_scaling_group_name: String,
    pub launch_template_id: String,
    pub instance_refresh_id: String,
    /// The version the group named before (a refresh to a version).
    pub from_version: Option<String>,
    /// The version it goes back to, and that version's AMI (a refresh to a version).
    pub to_version: Option<i64>,
    pub image_id: Option<String>,
    /// AWS's status of the refresh followed, as AWS spells it.
    #[serde(serialize_with = "as_aws_spells_it")]
    pub status: Option<S>,
    pub status_reason: Option<String>,
    pub stopped: Stop,
    pub duration_seconds: f64,
    pub dry_run: bool,
}

fn as_aws_spells_it<T: serde::Serializer>(status: &Option<S>, to: T) -> Result<T::Ok, T::Error> {
    match status {
        Some(s) => to.serialize_str(s.as_str()),
        None => to.serialize_none(),
    }
}

impl RolledBack {
    pub fn new(how: How, group: &str, template: &LaunchTemplateId, dry_run: bool) -> RolledBack {
        RolledBack {
            how,
            auto_scaling_group_name: group.to_owned(),
            launch_template_id: template.to_string(),
            instance_refresh_id: String::new(),
            from_version: None,
            to_version: None,
            image_id: None,
            status: None,
            status_reason: None,
            stopped: if dry_run { Stop::DryRun } else { Stop::Finished },
            duration_seconds: 0.0,
            dry_run,
        }
    }

    /// Whether the group is back: the rollback, or the refresh to the good version, succeeded.
    fn back(&self) -> bool {
        match self.how {
            How::RollbackOfRefresh => self.status == Some(S::RollbackSuccessful),
            How::RefreshToVersion => self.status == Some(S::Successful),
        }
    }
}

impl Report for RolledBack {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let group = &self.auto_scaling_group_name;
        match (self.how, self.dry_run) {
            (How::RollbackOfRefresh, true) => writeln!(out, "Would roll back refresh {} of {group}", self.instance_refresh_id),
            (How::RefreshToVersion, true) => writeln!(
                out,
                "Would refresh {group} back to version {} of {} ({})",
                self.to_version.unwrap_or_default(),
                self.launch_template_id,
                self.image_id.as_deref().unwrap_or("?")
            ),
            (How::RollbackOfRefresh, false) => {
                writeln!(
                    out,
                    "Rollback of refresh {} of {group}: {}",
                    self.instance_refresh_id,
                    self.status.as_ref().map_or("?", S::as_str)
                )
            }
            (How::RefreshToVersion, false) => writeln!(
                out,
                "Refresh of {group} back to version {} of {}: {}",
                self.to_version.unwrap_or_default(),
                self.launch_template_id,
                self.status.as_ref().map_or("?", S::as_str)
            ),
        }
    }

    fn failure(&self) -> Option<String> {
        if self.dry_run || (self.stopped == Stop::Finished && self.back()) {
            return None;
        }
        let (id, group) = (&self.instance_refresh_id, &self.auto_scaling_group_name);
        let status = self.status.as_ref().map_or("?", S::as_str);
        let reason = self.status_reason.as_deref().map(|r| format!(": {}", common::aws::error::one_line(r))).unwrap_or_default();
        Some(match self.stopped {
            Stop::Interrupted => format!("interrupted: stopped waiting; refresh {id} of {group} goes on in AWS ({status})"),
            Stop::TimedOut => format!("gave up waiting for refresh {id} of {group}: still {status} (it goes on in AWS)"),
            _ => format!("refresh {id} of {group} ended {status}{reason}"),
        })
    }

    fn failure_status(&self) -> Status {
        if self.stopped == Stop::Interrupted {
            Status::Interrupted
        } else {
            Status::Failed
        }
    }
}
