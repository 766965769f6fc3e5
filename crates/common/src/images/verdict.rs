//! What `verify-ami` found when it booted an AMI, as tags on the AMI, and what the other tools
//! make of it: `latest-ami` never picks an AMI whose verification failed (and, with
//! `--verified`, only one that passed); `prune-amis` does not count a failed AMI among the
//! newest MAX, so a run of bad builds cannot push the last good images out.
//!
//! The tags: `verification` (`passed` or `failed`), `verification-time` (when, RFC 3339) and,
//! for a failure, `verification-reason` (a short reason).

use crate::images::ami::Ami;

pub const TAG: &str = "verification";
pub const TIME_TAG: &str = "verification-time";
pub const REASON_TAG: &str = "verification-reason";

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
            Some("passed") => Verdict::Passed { at: ami.tags.get(TIME_TAG).cloned() },
            Some("failed") => Verdict::Failed { reason: ami.tags.get(REASON_TAG).cloned().unwrap_or_else(|| "no reason recorded".into()) },
            _ => Verdict::Unverified,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, Verdict::Failed { .. })
    }

    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
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
}
