//! The deploy's outcome on an SNS topic (`--notify-topic`, DEPLOY_NOTIFY_TOPIC): the subject
//! says the build and whether it succeeded; the message is the text report, then the JSON
//! report, so that a person reads it and a program parses it.

use common::aws::error::{aws_error, render};
use common::{Context, Report};

use super::report::{Deployed, Outcome};
use super::Deploy;

/// SNS's limit on a message, in bytes.
const MAX_MESSAGE: usize = 262_144;

/// Publishes the report. A notification that cannot be sent is said on stderr; it does not
/// change the deploy's outcome.
pub(crate) async fn publish(d: &Deploy, ctx: &Context, report: &Deployed) {
    let outcome = match report.outcome {
        Outcome::Succeeded => "SUCCEEDED",
        Outcome::Failed => "FAILED",
        Outcome::Interrupted => "INTERRUPTED",
        Outcome::DryRun => return,
    };
    let mut text = Vec::new();
    let _ = report.write_text(&mut text);
    let text = String::from_utf8_lossy(&text).into_owned();
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    let mut message = format!("{text}\n{json}\n");
    // SNS takes at most 256 KB: a fleet too large for both gets the text alone, cut if need be.
    if message.len() > MAX_MESSAGE {
        message = text;
        let mut end = message.len().min(MAX_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    send(d, ctx, outcome, message).await;
}

/// Publishes an error that stopped the deploy before its waves.
pub(crate) async fn publish_error(d: &Deploy, ctx: &Context, e: &anyhow::Error) {
    if !d.dry_run {
        send(d, ctx, "FAILED", format!("The deploy of build {} stopped before any target: {}\n", d.build, render(e))).await;
    }
}

async fn send(d: &Deploy, ctx: &Context, outcome: &str, message: String) {
    let Some(topic) = &d.notify_topic else { return };
    // The topic's own Region (its ARN's fourth field).
    let region = topic.split(':').nth(3).unwrap_or_default();
    let sns = ctx.in_region(region).sns();
    // SNS takes a subject of less than 100 characters, with no control characters.
    let subject: String =
        format!("deploy {outcome}: {} {} build {}", d.app, d.branch, d.build).chars().filter(|c| !c.is_control()).take(99).collect();
    match sns.publish().topic_arn(topic).subject(subject).message(message).send().await {
        Ok(out) => tracing::info!("published the outcome to {topic} (message {})", out.message_id().unwrap_or("?")),
        Err(e) => tracing::error!("could not publish the outcome to {topic}: {}", render(&aws_error("publishing to SNS", e))),
    }
}
