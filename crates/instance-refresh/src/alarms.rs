//! The CloudWatch alarms a refresh watches (`--alarm` and the config file's
//! AlarmSpecification): read before anything starts, so that a missing alarm or one already
//! in `ALARM` stops the deploy with nothing started, and read again when a refresh ends failed
//! or rolled back, to say which alarm went off and why.

use anyhow::{bail, Result};
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use common::aws::error::aws_error;
use serde::Serialize;

/// One alarm as CloudWatch has it now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`, as CloudWatch spells it.
    pub state: String,
    pub reason: String,
}

/// The named alarms' states (metric and composite alarms, every page); a name CloudWatch does
/// not know is left out.
pub async fn read(cw: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<Seen>> {
    let mut seen = Vec::new();
    let mut pages = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("reading alarms {}", names.join(", ")), e))?;
        let metric = page.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
        let composite = page.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
        for (name, state, reason) in metric.chain(composite) {
            seen.push(Seen {
                name: name.unwrap_or_default().to_owned(),
                state: state.map_or("?", StateValue::as_str).to_owned(),
                reason: reason.unwrap_or_default().to_owned(),
            });
        }
    }
    Ok(seen)
}

/// Before anything starts: each alarm exists in this account and Region, and none is in
/// `ALARM`; one with `INSUFFICIENT_DATA` is allowed, with a warning (a new alarm reads so until
/// its metric has data).
pub async fn check_before(cw: &aws_sdk_cloudwatch::Client, names: &[String], region: &str) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let seen = read(cw, names).await?;
    for name in names {
        let Some(alarm) = seen.iter().find(|a| &a.name == name) else {
            bail!("alarm {name} does not exist in {region}: no refresh started");
        };
        match alarm.state.as_str() {
            "ALARM" => bail!("alarm {name} is in ALARM ({}): no refresh started", common::aws::error::one_line(&alarm.reason)),
            "INSUFFICIENT_DATA" => {
                tracing::warn!("alarm {name} has INSUFFICIENT_DATA: it cannot stop the refresh until its metric has data")
            }
            _ => {}
        }
    }
    Ok(())
}

/// The alarms in `ALARM` now, among those named.
pub async fn firing(cw: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<Seen>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(read(cw, names).await?.into_iter().filter(|a| a.state == "ALARM").collect())
}
