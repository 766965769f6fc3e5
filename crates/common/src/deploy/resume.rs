//! Where a deploy's target stands with a build, read from AWS alone, so that a deploy keeps no
//! state of its own: a second run (a CodeBuild retry after the machine was lost) skips a
//! target that already runs the build after a successful refresh, follows a refresh of it
//! still under way, and deploys the rest.

use aws_sdk_autoscaling::types::{InstanceRefresh, InstanceRefreshStatus};

use crate::groups::refresh::{phase, Phase};
use crate::groups::templates::VersionImages;

/// Where a target stands with this build's AMI.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// A refresh to a version that runs the AMI succeeded, and the group names that version.
    Done { version: i64, refresh: String },
    /// A refresh to such a version is under way: follow it.
    Running { version: i64, refresh: String },
    /// To deploy: the version the group runs now, and a version already made for the AMI
    /// (the template's latest, from a bump whose refresh never started) to use again.
    ToDo { before: Option<i64>, reuse: Option<i64> },
}

/// Decides where a group stands from its refreshes (newest first, AWS's order), the
/// template's versions and the version the group names.
pub fn standing(refreshes: &[InstanceRefresh], versions: &VersionImages, lt: &str, group_version: Option<&str>, ami: &str) -> Standing {
    let runs_ami = |v: i64| versions.images.get(&v).is_some_and(|i| i == ami);
    let current = group_version.and_then(|v| versions.resolve(v));
    let ours = refreshes.iter().find_map(|r| {
        let spec = r.desired_configuration()?.launch_template()?;
        if spec.launch_template_id().is_some_and(|id| id != lt) {
            return None;
        }
        let v = versions.resolve(spec.version()?)?;
        runs_ami(v).then(|| (v, r.instance_refresh_id().unwrap_or_default().to_owned(), r.status().cloned()))
    });
    match ours {
        Some((version, refresh, Some(status))) if phase(&status) == Phase::Waiting => Standing::Running { version, refresh },
        Some((version, refresh, Some(InstanceRefreshStatus::Successful))) if current == Some(version) => {
            Standing::Done { version, refresh }
        }
        _ => Standing::ToDo { before: current, reuse: runs_ami(versions.latest).then_some(versions.latest) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::types::{DesiredConfiguration, LaunchTemplateSpecification};

    fn refresh(id: &str, version: &str, status: &str) -> InstanceRefresh {
        let spec = LaunchTemplateSpecification::builder().launch_template_id("lt-1").version(version).build();
        InstanceRefresh::builder()
            .instance_refresh_id(id)
            .status(InstanceRefreshStatus::from(status))
            .desired_configuration(DesiredConfiguration::builder().launch_template(spec).build())
            .build()
    }

    fn versions() -> VersionImages {
        let images = [(1, "ami-old"), (2, "ami-old"), (3, "ami-new")].iter().map(|(n, a)| (*n, (*a).to_owned())).collect();
        VersionImages { images, latest: 3, default: 1 }
    }

    #[test]
    fn a_target_is_done_running_or_to_do() {
        let v = versions();
        let done = [refresh("r2", "3", "Successful"), refresh("r1", "2", "Successful")];
        assert_eq!(standing(&done, &v, "lt-1", Some("3"), "ami-new"), Standing::Done { version: 3, refresh: "r2".into() });
        let running = [refresh("r2", "3", "Baking")];
        assert_eq!(standing(&running, &v, "lt-1", Some("2"), "ami-new"), Standing::Running { version: 3, refresh: "r2".into() });
        // Bumped, never refreshed: version 3 is used again; the group's own version is the way back.
        assert_eq!(standing(&[], &v, "lt-1", Some("2"), "ami-new"), Standing::ToDo { before: Some(2), reuse: Some(3) });
        // A refresh of the build that failed is tried again.
        let failed = [refresh("r2", "3", "RollbackSuccessful")];
        assert_eq!(standing(&failed, &v, "lt-1", Some("2"), "ami-new"), Standing::ToDo { before: Some(2), reuse: Some(3) });
        // Another build's refresh, or a success the group has since moved on from, is not ours.
        assert_eq!(standing(&done, &v, "lt-1", Some("$Default"), "ami-new"), Standing::ToDo { before: Some(1), reuse: Some(3) });
        assert_eq!(standing(&done, &v, "lt-1", Some("2"), "ami-other"), Standing::ToDo { before: Some(2), reuse: None });
    }
}
