//! The verdict, on the AMI as tags ([`common::images::verdict`]), and `--on-failure`'s retirement.

use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_ec2::types::Tag;
use common::aws::error::aws_error;
use common::images::verdict::{FAILED, PASSED, REASON_TAG};
use common::{Ami, Context};

use crate::report::Verified;
use crate::Verification;
use common::images::retire::Retirement;

/// Tags the AMI with the verdict (a pass clears an earlier failure's reason) and, for a
/// failure, retires it as --on-failure asks; returns what was done to it.
pub async fn record(ctx: &Context, args: &Verification, image: &Ami, report: &Verified) -> Result<Option<Retirement>> {
    let ec2 = ctx.ec2();
    let id = image.image_id.as_str();
    let Some(verdict) = report.recorded() else { return Ok(None) };
    let tags: Vec<Tag> = verdict.tags(SystemTime::now()).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    ec2.create_tags()
        .resources(id)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_error(format!("recording the verdict on {id}"), e))?;
    if verdict.passed() && image.tags.contains_key(REASON_TAG) {
        ec2.delete_tags()
            .resources(id)
            .tags(Tag::builder().key(REASON_TAG).build())
            .send()
            .await
            .map_err(|e| aws_error(format!("clearing the earlier failure's reason on {id}"), e))?;
    }
    tracing::info!("recorded on {id}: verification {}", if verdict.passed() { PASSED } else { FAILED });
    if !verdict.failed() {
        return Ok(None);
    }
    if let Some(how) = args.on_failure {
        how.apply(&ec2, id, false, SystemTime::now()).await?;
    }
    Ok(args.on_failure)
}
