//! Following a refresh by its ID (never the group's newest, which may be someone else's).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use aws_sdk_autoscaling::types::InstanceRefresh;
use common::aws::error::aws_error;

use crate::progress::Progress;
use common::groups::refresh::{phase, Phase};

use crate::report::Activity;

/// Follows a group's refreshes: polls one by ID until it ends, the deadline passes or a signal
/// arrives, and reads the group's refreshes and activities.
pub struct Follower<'a> {
    pub asg: aws_sdk_autoscaling::Client,
    pub group: &'a str,
    pub interval: Duration,
    pub deadline: Instant,
    pub signal: Pin<Box<dyn Future<Output = ()>>>,
    /// How many times a refresh's status was read.
    pub polls: u32,
    pub quiet: bool,
}

/// How a wait ended, with the refresh as it last stood.
pub enum Waited {
    Ended(InstanceRefresh),
    TimedOut(InstanceRefresh),
    Interrupted(InstanceRefresh),
}

/// The refresh with this ID (not the group's newest, which may be someone else's).
async fn describe(asg: &aws_sdk_autoscaling::Client, group: &str, id: &str) -> Result<InstanceRefresh> {
    let out = asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .instance_refresh_ids(id)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing instance refresh {id}"), e))?;
    out.instance_refreshes()
        .iter()
        .find(|r| r.instance_refresh_id() == Some(id))
        .cloned()
        .with_context(|| format!("instance refresh {id} of {group} is not known to AWS"))
}

impl Follower<'_> {
    /// Polls refresh `id` until it ends, the deadline passes, or a signal arrives.
    pub async fn wait(&mut self, id: &str) -> Result<Waited> {
        let mut progress = Progress::new(self.quiet);
        loop {
            self.polls += 1;
            let r = tokio::select! {
                r = describe(&self.asg, self.group, id) => r?,
                () = &mut self.signal => {
                    self.polls += 1;
                    return describe(&self.asg, self.group, id).await.map(Waited::Interrupted);
                }
            };
            progress.show(&r);
            if r.status().map_or(Phase::Waiting, phase) != Phase::Waiting {
                return Ok(Waited::Ended(r));
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Ok(Waited::TimedOut(r));
            }
            let nap = self.interval.min(self.deadline - now);
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                () = &mut self.signal => return Ok(Waited::Interrupted(r)),
            }
        }
    }

    /// The group's refreshes, newest first (AWS's order).
    async fn refreshes(&self) -> Result<Vec<InstanceRefresh>> {
        common::groups::refresh::refreshes_of(&self.asg, self.group).await
    }

    /// The group's refresh that has not ended yet, if any.
    pub async fn active(&self) -> Result<Option<String>> {
        Ok(self
            .refreshes()
            .await?
            .into_iter()
            .find(|r| r.status().map_or(Phase::Waiting, phase) == Phase::Waiting)
            .and_then(|r| r.instance_refresh_id))
    }

    /// The group's newest refresh if it started at or after `since`: the one our own start call
    /// made when its reply was lost (it may have ended already).
    pub async fn started_since(&self, since: SystemTime) -> Result<Option<String>> {
        let since = aws_smithy_types::DateTime::from(since).secs();
        Ok(self
            .refreshes()
            .await?
            .into_iter()
            .next()
            .filter(|r| r.start_time().is_some_and(|t| t.secs() >= since))
            .and_then(|r| r.instance_refresh_id))
    }

    pub async fn activities(&self) -> Vec<Activity> {
        let out = self.asg.describe_scaling_activities().auto_scaling_group_name(self.group).max_records(5).send().await;
        match out {
            Ok(out) => out
                .activities()
                .iter()
                .map(|a| Activity {
                    start_time: a.start_time().map(|t| t.to_string()),
                    status_code: a.status_code().map(|s| s.as_str().to_owned()),
                    description: a.description().map(str::to_owned),
                    cause: a.cause().map(str::to_owned),
                    status_message: a.status_message().map(str::to_owned),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(
                    "could not read the scaling activities of {}: {}",
                    self.group,
                    common::AwsError::from_sdk("describing scaling activities", &e)
                );
                Vec::new()
            }
        }
    }
}
