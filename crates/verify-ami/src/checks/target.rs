//! The target group check: every instance registered and `healthy`, deregistered afterwards.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use aws_sdk_elasticloadbalancingv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum};
use common::aws::consistency::CatchUp;
use common::aws::error::{aws_error, Code};
use common::Context;

use super::{Checker, Found};
use crate::report::{Check, Outcome};

impl Checker<'_> {
    /// Every instance registered in the target group and `healthy` there.
    pub(super) async fn target_health(&mut self, tg: &str, checks: &mut Vec<Check>) -> Result<Found> {
        let started = Instant::now();
        let elb = self.ctx.elbv2();
        let targets: Vec<TargetDescription> = self.ids.iter().map(|id| TargetDescription::builder().id(id).build()).collect();
        // Just launched: Elastic Load Balancing may not know the instances yet.
        let mut catch_up = CatchUp::default();
        loop {
            match elb.register_targets().target_group_arn(tg).set_targets(Some(targets.clone())).send().await {
                Ok(_) => break,
                Err(e) if not_known(&e) && catch_up.again(&self.ids.join(", "), "InvalidTarget").await => {}
                Err(e) => return Err(aws_error(format!("registering the instances in {tg}"), e)),
            }
        }
        self.registered = self.ids.to_vec();
        let mut healthy: BTreeMap<String, f64> = BTreeMap::new();
        loop {
            self.looks += 1;
            let out = elb
                .describe_target_health()
                .target_group_arn(tg)
                .set_targets(Some(targets.clone()))
                .send()
                .await
                .map_err(|e| aws_error(format!("describing target health in {tg}"), e))?;
            for d in out.target_health_descriptions() {
                let Some(id) = d.target().and_then(|t| t.id()).filter(|id| !healthy.contains_key(*id)) else { continue };
                let health = d.target_health();
                match health.and_then(|h| h.state()) {
                    Some(TargetHealthStateEnum::Healthy) => {
                        healthy.insert(id.to_owned(), started.elapsed().as_secs_f64());
                    }
                    None | Some(TargetHealthStateEnum::Initial) => {}
                    Some(state) => {
                        let reason = health
                            .map(|h| format!("{}: {}", h.reason().map_or("?", |r| r.as_str()), h.description().unwrap_or("")))
                            .unwrap_or_default();
                        let why = format!("{id}: target {} in the target group ({reason})", state.as_str());
                        checks.push(Check::new("target-health", Some(id), Outcome::Failed, started, why.clone()));
                        return Ok(Some(why));
                    }
                }
            }
            if healthy.len() == self.ids.len() {
                for (id, secs) in healthy {
                    checks.push(Check::at("target-health", Some(&id), Outcome::Passed, secs, "healthy".into()));
                }
                return Ok(None);
            }
            if !self.pause().await {
                let why = self.timed_out("the instances to be healthy in the target group");
                checks.push(Check::new("target-health", None, Outcome::TimedOut, started, why.clone()));
                return Ok(Some(why));
            }
        }
    }
}

/// Whether Elastic Load Balancing refused the targets as unknown (`InvalidTarget`): for
/// instances just launched, EC2's eventual consistency.
fn not_known<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    Code::of(e) == Some(Code::InvalidTarget)
}

/// Takes instances out of a target group, asking again while Elastic Load Balancing does not
/// know them yet; a failure is a warning (they are being terminated, which ends their
/// registration's use too).
pub async fn deregister(ctx: &Context, tg: &str, ids: &[String]) {
    let targets: Vec<TargetDescription> = ids.iter().map(|id| TargetDescription::builder().id(id).build()).collect();
    let (elb, what) = (ctx.elbv2(), ids.join(", "));
    let mut catch_up = CatchUp::default();
    loop {
        match elb.deregister_targets().target_group_arn(tg).set_targets(Some(targets.clone())).send().await {
            Ok(_) => return tracing::info!("deregistered {what} from {tg}"),
            Err(e) if not_known(&e) && catch_up.again(&what, "InvalidTarget").await => {}
            Err(e) => return tracing::warn!("{}", common::aws::error::AwsError::from_sdk(format!("deregistering {what} from {tg}"), &e)),
        }
    }
}
