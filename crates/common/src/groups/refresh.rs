//! Where an instance refresh's status leaves a deploy, decided in one place over AWS's own
//! `InstanceRefreshStatus`: instance-refresh waits on it, bump-launch-template keeps the
//! versions a refresh that is not over may still launch.

use aws_sdk_autoscaling::types::InstanceRefreshStatus as S;

/// A group's refreshes, newest first (AWS's order; the first page: its newest 50).
pub async fn refreshes_of(
    asg: &aws_sdk_autoscaling::Client,
    group: &str,
) -> anyhow::Result<Vec<aws_sdk_autoscaling::types::InstanceRefresh>> {
    let out = asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .send()
        .await
        .map_err(|e| crate::aws::error::aws_error(format!("describing the instance refreshes of {group}"), e))?;
    Ok(out.instance_refreshes.unwrap_or_default())
}

/// Where a status leaves us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not over: the refresh may still launch from its desired configuration (or, rolling
    /// back, from the group's own).
    Waiting,
    Succeeded,
    Failed,
}

/// `Successful` is the only success; `RollbackSuccessful` means the deploy was undone. A
/// status AWS adds later counts as not over: waited on, and its versions kept.
pub fn phase(status: &S) -> Phase {
    match status {
        S::Successful => Phase::Succeeded,
        S::Failed | S::Cancelled | S::RollbackSuccessful | S::RollbackFailed => Phase::Failed,
        S::Pending | S::InProgress | S::Cancelling | S::RollbackInProgress | S::Baking => Phase::Waiting,
        _ => Phase::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successful_succeeds_and_unknown_statuses_are_not_over() {
        assert_eq!(phase(&S::Successful), Phase::Succeeded);
        for s in ["Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"] {
            assert_eq!(phase(&S::from(s)), Phase::Failed, "{s}");
        }
        for s in ["Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking", "SomethingNew"] {
            assert_eq!(phase(&S::from(s)), Phase::Waiting, "{s}");
        }
    }
}
