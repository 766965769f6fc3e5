//! The verdict, on the AMI as tags ([`common::images::verdict`]), and `--on-failure`'s retirement.

use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_ec2::types::Tag;
use common::aws::error::aws_error;
use common::images::verdict::{REASON_TAG, TAG, TIME_TAG};
use common::{Ami, Context};

use crate::report::{Verdict, Verified};
use crate::{Args, OnFailure};

/// AWS's limit on a tag's value.
const TAG_VALUE_MAX: usize = 256;

/// The tags that say `verdict`, with `reason` cut to fit a tag's value.
pub fn verdict_tags(verdict: Verdict, reason: Option<&str>, now: SystemTime) -> Vec<(&'static str, String)> {
    let word = if verdict == Verdict::Passed { "passed" } else { "failed" };
    let mut tags = vec![(TAG, word.to_owned()), (TIME_TAG, humantime::format_rfc3339_seconds(now).to_string())];
    if verdict == Verdict::Failed {
        let reason: String = reason.unwrap_or("no reason").chars().take(TAG_VALUE_MAX).collect();
        tags.push((REASON_TAG, reason));
    }
    tags
}

/// Tags the AMI with the verdict (a pass clears an earlier failure's reason) and, for a
/// failure, retires it as --on-failure asks; returns what was done to it.
pub async fn record(ctx: &Context, args: &Args, image: &Ami, report: &Verified) -> Result<Option<OnFailure>> {
    let ec2 = ctx.ec2();
    let id = image.image_id.as_str();
    let tags: Vec<Tag> = verdict_tags(report.verdict, report.reason.as_deref(), SystemTime::now())
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    ec2.create_tags()
        .resources(id)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_error(format!("recording the verdict on {id}"), e))?;
    if report.verdict == Verdict::Passed && image.tags.contains_key(REASON_TAG) {
        ec2.delete_tags()
            .resources(id)
            .tags(Tag::builder().key(REASON_TAG).build())
            .send()
            .await
            .map_err(|e| aws_error(format!("clearing the earlier failure's reason on {id}"), e))?;
    }
    tracing::info!("recorded on {id}: verification {}", if report.verdict == Verdict::Passed { "passed" } else { "failed" });
    if report.verdict != Verdict::Failed {
        return Ok(None);
    }
    match args.on_failure {
        Some(OnFailure::Deprecate) => common::images::retire::deprecate(&ec2, id, false, SystemTime::now()).await?,
        Some(OnFailure::Disable) => common::images::retire::disable(&ec2, id, false).await?,
        None => {}
    }
    Ok(args.on_failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_why_within_a_tags_limit() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let passed = verdict_tags(Verdict::Passed, None, now);
        assert_eq!(passed, [(TAG, "passed".to_owned()), (TIME_TAG, "2027-01-15T08:00:00Z".to_owned())]);
        let long = "x".repeat(1000);
        let failed = verdict_tags(Verdict::Failed, Some(&long), now);
        assert_eq!(failed[0].1, "failed");
        assert_eq!(failed[2].0, REASON_TAG);
        assert_eq!(failed[2].1.len(), TAG_VALUE_MAX);
    }
}
