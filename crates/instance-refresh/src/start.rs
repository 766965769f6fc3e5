//! Starting the refresh, and recovering when the start is refused: a refresh already running
//! (fail, wait or cancel, as --if-running says), our own start whose reply was lost, and
//! AutoRollback asked of a group on `$Latest` or `$Default`, from which AWS cannot roll back.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, DesiredConfiguration, LaunchTemplate, LaunchTemplateSpecification, MixedInstancesPolicy, RefreshPreferences,
};
use common::aws::calllog::MaybeActed;
use common::aws::consistency::CatchUp;
use common::aws::error::{aws_error, unknown_version, Code};
use common::groups::launches::Group;
use common::groups::templates::TemplateRef;

use crate::follow::{Follower, Waited};
use crate::IfRunning;

/// How far AWS's clock may be behind ours when we judge whether a refresh started after our
/// own start call was sent.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// What to start.
pub struct Request<'a> {
    pub group: &'a str,
    pub strategy: Option<&'a str>,
    pub desired: Option<DesiredConfiguration>,
    pub preferences: Option<RefreshPreferences>,
    pub if_running: IfRunning,
}

/// Starts the refresh and returns its ID. StartInstanceRefresh has no idempotency token: if an
/// attempt's reply is lost and the SDK retries, the retry meets the refresh the first attempt
/// started, and that one is ours.
pub async fn start(asg: &aws_sdk_autoscaling::Client, mut req: Request<'_>, follower: &mut Follower<'_>) -> Result<String> {
    let group = req.group;
    // A version pinned right after bump-launch-template made it may not be known yet.
    let pinned = req.desired.as_ref().and_then(|d| d.launch_template()).and_then(|t| t.version()).map(str::to_owned);
    let mut catch_up = CatchUp::default();
    loop {
        let acted = MaybeActed::default();
        let sent_at = SystemTime::now();
        let start = asg
            .start_instance_refresh()
            .auto_scaling_group_name(group)
            .set_strategy(req.strategy.map(Into::into))
            .set_desired_configuration(req.desired.clone())
            .set_preferences(req.preferences.clone())
            .customize()
            .interceptor(acted.clone())
            .send()
            .await;
        match start {
            Ok(out) => return Ok(out.instance_refresh_id().unwrap_or_default().to_owned()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_instance_refresh_in_progress_fault()) => {
                if acted.maybe() {
                    if let Some(ours) = follower.started_since(sent_at - CLOCK_SKEW).await? {
                        tracing::warn!("the reply to starting the refresh was lost; refresh {ours} of {group}, started then, is ours");
                        return Ok(ours);
                    }
                }
                if req.if_running == IfRunning::Fail {
                    return Err(aws_error(format!("starting an instance refresh of {group}"), e));
                }
                let Some(other) = follower.active().await? else { continue };
                if req.if_running == IfRunning::Cancel {
                    tracing::info!("cancelling refresh {other} of {group} that was in progress");
                    cancel(asg, group).await?;
                } else {
                    tracing::info!("waiting for refresh {other} of {group} to end");
                }
                match follower.wait(&other).await? {
                    Waited::Ended(_) => continue,
                    Waited::TimedOut(r) | Waited::Interrupted(r) => {
                        bail!(
                            "refresh {other} of {group} was still {} when we stopped waiting; ours was not started",
                            r.status().map(|s| s.as_str()).unwrap_or("?")
                        );
                    }
                }
            }
            Err(e)
                if pinned.as_deref().is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))
                    && unknown_version(&e)
                    && catch_up
                        .again(&format!("launch template version {}", pinned.as_deref().unwrap_or("?")), "ValidationError")
                        .await => {}
            Err(e)
                if Code::of(&e) == Some(Code::Validation)
                    && req.preferences.as_ref().and_then(|p| p.auto_rollback) == Some(true)
                    && group_on_symbolic_version(asg, group).await? =>
            {
                // AWS rolls back only from a numbered version. Once this refresh succeeds the
                // group is on the pinned version, and later refreshes can roll back.
                tracing::warn!(
                    "group {group} uses $Latest or $Default, from which AWS cannot roll back: starting this refresh without AutoRollback"
                );
                if let Some(p) = req.preferences.as_mut() {
                    p.auto_rollback = Some(false);
                }
            }
            Err(e) => return Err(aws_error(format!("starting an instance refresh of {group}"), e)),
        }
    }
}

/// The DesiredConfiguration to send: the file's, with `version` pinned if asked, in the
/// template given (`template`), else the file's, else the group's own.
pub async fn desired(
    asg: &aws_sdk_autoscaling::Client,
    group: &str,
    from_file: Option<DesiredConfiguration>,
    version: Option<u64>,
    template: Option<&str>,
) -> Result<Option<DesiredConfiguration>> {
    let Some(version) = version else { return Ok(from_file) };
    let file_lt = from_file.as_ref().and_then(|d| d.launch_template()).cloned();
    let mut spec = LaunchTemplateSpecification::builder().version(version.to_string());
    if let Some(id) = template {
        spec = spec.launch_template_id(id);
    } else if let Some(lt) = file_lt.as_ref().filter(|lt| lt.launch_template_id().is_some() || lt.launch_template_name().is_some()) {
        spec = spec
            .set_launch_template_id(lt.launch_template_id().map(str::to_owned))
            .set_launch_template_name(lt.launch_template_name().map(str::to_owned));
    } else {
        let g = Group::from_sdk(&describe_group(asg, group).await?);
        let main = g.main_template().with_context(|| format!("group {group} has no launch template to pin a version of"))?;
        spec = match &main.template {
            TemplateRef::Id(id) => spec.launch_template_id(id),
            TemplateRef::Name(name) => spec.launch_template_name(name),
        };
    }
    let mixed = from_file.and_then(|d| d.mixed_instances_policy);
    let desired = match mixed {
        // AWS takes one or the other: a pinned version goes inside the mixed policy.
        Some(m) => DesiredConfiguration::builder().mixed_instances_policy(pin_mixed(m, spec.build())),
        None => DesiredConfiguration::builder().launch_template(spec.build()),
    };
    Ok(Some(desired.build()))
}

fn pin_mixed(m: MixedInstancesPolicy, spec: LaunchTemplateSpecification) -> MixedInstancesPolicy {
    let lt = m.launch_template.clone().unwrap_or_else(|| LaunchTemplate::builder().build());
    let lt = LaunchTemplate::builder().launch_template_specification(spec).set_overrides(lt.overrides).build();
    MixedInstancesPolicy::builder().launch_template(lt).set_instances_distribution(m.instances_distribution).build()
}

/// True when the group names its launch template version as `$Latest` or `$Default` (or not
/// at all, which means `$Default`).
async fn group_on_symbolic_version(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<bool> {
    let group = Group::from_sdk(&describe_group(asg, group).await?);
    Ok(group.main_template().is_some_and(|u| u.version_number().is_none()))
}

/// The group, or an error naming it if there is none.
pub async fn describe_group(asg: &aws_sdk_autoscaling::Client, name: &str) -> Result<AutoScalingGroup> {
    let out = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing group {name}"), e))?;
    out.auto_scaling_groups().first().cloned().with_context(|| format!("no Auto Scaling group named {name:?}"))
}

/// Cancels the group's active refresh; none being active is not an error.
pub async fn cancel(asg: &aws_sdk_autoscaling::Client, group: &str) -> Result<()> {
    match asg.cancel_instance_refresh().auto_scaling_group_name(group).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_active_instance_refresh_not_found_fault()) => Ok(()),
        Err(e) => Err(aws_error(format!("cancelling the instance refresh of {group}"), e)),
    }
}

/// The SDK edge cases of starting a refresh, against mocked replies: what a real AWS cannot be
/// made to do on cue (lose exactly one reply, refuse AutoRollback for a symbolic version).
#[cfg(test)]
mod tests {
    use std::time::Instant;

    use aws_sdk_autoscaling::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
    use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
    use aws_sdk_autoscaling::operation::start_instance_refresh::{StartInstanceRefreshError, StartInstanceRefreshOutput};
    use aws_sdk_autoscaling::types::error::InstanceRefreshInProgressFault;
    use aws_sdk_autoscaling::types::{InstanceRefresh, InstanceRefreshStatus};
    use aws_sdk_autoscaling::Client;
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::retry::RetryConfig;
    use aws_smithy_types::DateTime;

    use super::*;

    /// A client whose replies are `rules`, in order, with the SDK's standard retries (fast).
    /// Built by hand rather than with `mock_client!`, which needs the SDK's own test-util
    /// feature and so a second build of the SDK for the tests.
    fn client(rules: &[&Rule]) -> Client {
        let interceptor = rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::Sequential), |i, r| i.with_rule(r));
        let config = aws_sdk_autoscaling::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)))
            .build();
        Client::from_conf(config)
    }

    fn follower(asg: &Client) -> Follower<'static> {
        Follower {
            asg: asg.clone(),
            group: "web",
            interval: Duration::from_millis(1),
            deadline: Instant::now() + Duration::from_secs(5),
            signal: Box::pin(std::future::pending()),
            polls: 0,
            quiet: true,
        }
    }

    fn request(if_running: IfRunning, auto_rollback: bool) -> Request<'static> {
        Request {
            group: "web",
            strategy: None,
            desired: None,
            preferences: Some(RefreshPreferences::builder().auto_rollback(auto_rollback).build()),
            if_running,
        }
    }

    fn in_progress() -> StartInstanceRefreshError {
        StartInstanceRefreshError::InstanceRefreshInProgressFault(
            InstanceRefreshInProgressFault::builder()
                .message("An Instance Refresh is already in progress")
                .meta(ErrorMetadata::builder().code("InstanceRefreshInProgress").build())
                .build(),
        )
    }

    fn refreshes(id: &str, started_secs_ago: i64) -> DescribeInstanceRefreshesOutput {
        let now = DateTime::from(SystemTime::now()).secs();
        DescribeInstanceRefreshesOutput::builder()
            .instance_refreshes(
                InstanceRefresh::builder()
                    .instance_refresh_id(id)
                    .status(InstanceRefreshStatus::InProgress)
                    .start_time(DateTime::from_secs(now - started_secs_ago))
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_lost_reply_follows_the_refresh_it_started() {
        // The first attempt's reply is lost (a 503: it may have acted); the SDK's retry is
        // refused because the first attempt's refresh is running.
        let starts = mock!(Client::start_instance_refresh).sequence().http_status(503, None).error(in_progress).build();
        let newest = mock!(Client::describe_instance_refreshes).then_output(|| refreshes("ours", 0));
        let asg = client(&[&starts, &newest]);
        let id = start(&asg, request(IfRunning::Fail, false), &mut follower(&asg)).await.unwrap();
        assert_eq!(id, "ours");
        assert_eq!((starts.num_calls(), newest.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn a_refresh_running_from_before_is_never_taken_for_ours() {
        let starts = mock!(Client::start_instance_refresh).sequence().http_status(503, None).error(in_progress).build();
        let older = mock!(Client::describe_instance_refreshes).then_output(|| refreshes("someone-elses", 600));
        let asg = client(&[&starts, &older]);
        let err = start(&asg, request(IfRunning::Fail, false), &mut follower(&asg)).await.unwrap_err();
        assert!(common::aws::error::render(&err).contains("InstanceRefreshInProgress"), "{err:#}");
    }

    #[tokio::test]
    async fn a_refused_start_is_not_followed_when_no_attempt_may_have_acted() {
        // Refused at the first attempt: no reply was lost, so no lookup of the newest refresh.
        let refused = mock!(Client::start_instance_refresh).then_error(in_progress);
        let asg = client(&[&refused]);
        assert!(start(&asg, request(IfRunning::Fail, false), &mut follower(&asg)).await.is_err());
        assert_eq!(refused.num_calls(), 1);
    }

    #[tokio::test]
    async fn auto_rollback_is_dropped_for_a_group_on_latest() {
        let refused = mock!(Client::start_instance_refresh)
            .match_requests(|r| r.preferences().and_then(|p| p.auto_rollback()) == Some(true))
            .then_error(|| {
                StartInstanceRefreshError::generic(
                    ErrorMetadata::builder().code("ValidationError").message("rollback needs a version").build(),
                )
            });
        let group = mock!(Client::describe_auto_scaling_groups).then_output(|| {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(
                    AutoScalingGroup::builder()
                        .auto_scaling_group_name("web")
                        .launch_template(LaunchTemplateSpecification::builder().launch_template_id("lt-1").version("$Latest").build())
                        .build(),
                )
                .build()
        });
        let started = mock!(Client::start_instance_refresh)
            .match_requests(|r| r.preferences().and_then(|p| p.auto_rollback()) == Some(false))
            .then_output(|| StartInstanceRefreshOutput::builder().instance_refresh_id("new").build());
        let asg = client(&[&refused, &group, &started]);
        let id = start(&asg, request(IfRunning::Fail, true), &mut follower(&asg)).await.unwrap();
        assert_eq!(id, "new");
        assert_eq!((refused.num_calls(), group.num_calls(), started.num_calls()), (1, 1, 1));
    }
}
