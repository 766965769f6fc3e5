//! What `verify-ami` found when it booted an AMI, as tags on the AMI, and what the other tools
//! make of it: `latest-ami` never picks an AMI whose verification failed (and, with
//! `--verified`, only one that passed); `prune-amis` does not count a failed AMI among the
//! newest MAX, so a run of bad builds cannot push the last good images out.
//!
//! The tags: `verification` (`passed` or `failed`), `verification-time` (when, RFC 3339) and,
//! for a failure, `verification-reason` (a short reason).

use std::fmt;
use std::time::SystemTime;

use aws_sdk_ec2::types::ImageState;

use crate::images::ami::Ami;

pub const TAG: &str = "verification";
pub const TIME_TAG: &str = "verification-time";
pub const REASON_TAG: &str = "verification-reason";
/// The `verification` tag's values.
pub const PASSED: &str = "passed";
pub const FAILED: &str = "failed";

/// AWS's limit on a tag's value.
const TAG_VALUE_MAX: usize = 256;

/// An AMI's verification, from its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Never verified (or by something that left no verdict).
    Unverified,
    Passed {
        at: Option<String>,
    },
    Failed {
        reason: String,
    },
}

impl Verdict {
    pub fn of(ami: &Ami) -> Verdict {
        match ami.tags.get(TAG).map(String::as_str) {
            Some(PASSED) => Verdict::Passed { at: ami.tags.get(TIME_TAG).cloned() },
            Some(FAILED) => Verdict::Failed { reason: ami.tags.get(REASON_TAG).cloned().unwrap_or_else(|| "no reason recorded".into()) },
            _ => Verdict::Unverified,
        }
    }

    /// The tags that record this verdict, made at `now` (a failure's reason cut to fit a
    /// tag's value); an unverified AMI gets none.
    pub fn tags(&self, now: SystemTime) -> Vec<(&'static str, String)> {
        let word = match self {
            Verdict::Unverified => return Vec::new(),
            Verdict::Passed { .. } => PASSED,
            Verdict::Failed { .. } => FAILED,
        };
        let mut tags = vec![(TAG, word.to_owned()), (TIME_TAG, humantime::format_rfc3339_seconds(now).to_string())];
        if let Verdict::Failed { reason } = self {
            tags.push((REASON_TAG, reason.chars().take(TAG_VALUE_MAX).collect()));
        }
        tags
    }

    pub fn failed(&self) -> bool {
        matches!(self, Verdict::Failed { .. })
    }

    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }
}

/// Why an AMI is not one to deploy now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDeployable {
    /// Not `available` (pending, failed, disabled, ...).
    State(ImageState),
    /// Its deprecation time has come.
    Deprecated,
    /// verify-ami failed it, for this reason.
    FailedVerification(String),
    /// Only a verified AMI was asked for, and this one was not verified.
    NotVerified,
}

impl fmt::Display for NotDeployable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotDeployable::State(state) => f.write_str(state.as_str()),
            NotDeployable::Deprecated => f.write_str("deprecated"),
            NotDeployable::FailedVerification(_) => f.write_str("failed verification"),
            NotDeployable::NotVerified => f.write_str("not verified"),
        }
    }
}

/// The one rule for an AMI a deploy may pick (latest-ami's newest, and each copy of the build
/// picked across Regions): `available`, not deprecated at `now`, not failed by verify-ami and,
/// with `verified_only`, passed by it.
pub fn deployable(ami: &Ami, now: SystemTime, verified_only: bool) -> Result<(), NotDeployable> {
    if ami.state != ImageState::Available {
        return Err(NotDeployable::State(ami.state.clone()));
    }
    if ami.is_deprecated_at(now) {
        return Err(NotDeployable::Deprecated);
    }
    match Verdict::of(ami) {
        Verdict::Failed { reason } => Err(NotDeployable::FailedVerification(reason)),
        Verdict::Unverified if verified_only => Err(NotDeployable::NotVerified),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_from_tags() {
        let mut ami = Ami::default();
        assert_eq!(Verdict::of(&ami), Verdict::Unverified);
        ami.tags.insert(TAG.into(), "failed".into());
        assert_eq!(Verdict::of(&ami), Verdict::Failed { reason: "no reason recorded".into() });
        ami.tags.insert(REASON_TAG.into(), "instance status impaired".into());
        assert!(Verdict::of(&ami).failed());
        ami.tags.insert(TAG.into(), "passed".into());
        assert!(Verdict::of(&ami).passed());
        ami.tags.insert(TAG.into(), "maybe".into());
        assert_eq!(Verdict::of(&ami), Verdict::Unverified, "only the two verdicts count");
    }

    #[test]
    fn a_verdict_is_written_as_it_is_read_and_a_failure_says_why_within_a_tags_limit() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let passed = Verdict::Passed { at: None }.tags(now);
        assert_eq!(passed, [(TAG, "passed".to_owned()), (TIME_TAG, "2027-01-15T08:00:00Z".to_owned())]);
        let failed = Verdict::Failed { reason: "x".repeat(1000) }.tags(now);
        assert_eq!(failed[0].1, "failed");
        assert_eq!(failed[2].0, REASON_TAG);
        assert_eq!(failed[2].1.len(), TAG_VALUE_MAX);
        let mut ami = Ami::default();
        ami.tags.extend(failed.into_iter().map(|(k, v)| (k.to_owned(), v)));
        assert!(Verdict::of(&ami).failed(), "read back as written");
        assert!(Verdict::Unverified.tags(now).is_empty());
    }
}
