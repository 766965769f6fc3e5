//! Interceptors that watch a call's attempts. [`CallLog`] (`-v`): one log line per AWS call
//! attempt, with the operation, HTTP status, request id and time taken, on every client, so
//! every call of every tool is covered. [`MaybeActed`]: on one call, whether AWS may have acted
//! on an attempt whose reply never arrived.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_types::request_id::RequestId;

#[derive(Debug)]
pub struct CallLog;

#[derive(Debug, Clone)]
struct AttemptStarted(Instant);

impl Storable for AttemptStarted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(AttemptStarted(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return Ok(());
        }
        let ms = cfg.load::<AttemptStarted>().map(|s| s.0.elapsed().as_secs_f64() * 1000.0).unwrap_or(0.0);
        let call = cfg.load::<Metadata>().map_or_else(|| "?".to_owned(), |m| action_name(m.service(), m.name()));
        match context.response() {
            Some(response) => {
                let request_id = response.headers().request_id().unwrap_or("-");
                tracing::debug!("{call}: HTTP {} in {ms:.0} ms (request id {request_id})", response.status().as_u16());
            }
            None => tracing::debug!("{call}: no response after {ms:.0} ms"),
        }
        Ok(())
    }
}

/// Whether AWS may have acted on an attempt of a call without the reply reaching us: an attempt
/// was sent and then got no reply (lost connection, attempt timeout) or a 5xx, and the SDK sent
/// another. A call that has no idempotency token and is refused on retry as a duplicate
/// ("already in progress") may then be refused because of its own earlier attempt.
///
/// Attach it to one call (`.customize().interceptor(acted.clone())`) and ask after the call.
#[derive(Debug, Clone, Default)]
pub struct MaybeActed {
    /// An attempt was sent and no definite answer (a reply below 500) has come for it.
    unanswered: Arc<AtomicBool>,
    acted: Arc<AtomicBool>,
}

impl MaybeActed {
    pub fn maybe(&self) -> bool {
        self.acted.load(Ordering::Relaxed)
    }
}

impl Intercept for MaybeActed {
    fn name(&self) -> &'static str {
        "MaybeActed"
    }

    // An attempt that times out is dropped without `read_after_attempt`, so the earlier
    // attempt's fate is judged when the next one is about to be sent.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.unanswered.swap(true, Ordering::Relaxed) {
            self.acted.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some_and(|r| !r.status().is_server_error()) {
            self.unanswered.store(false, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A call as IAM names its action ("ec2:DescribeImages", "autoscaling:StartInstanceRefresh"):
/// the one spelling the logs, the call-count tests and the IAM policies share.
pub fn action_name(service: &str, operation: &str) -> String {
    let prefix: String = service.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    // IAM names Elastic Load Balancing's actions alike for both API versions.
    let prefix = if prefix == "elasticloadbalancingv2" { "elasticloadbalancing" } else { &prefix };
    format!("{prefix}:{operation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_named_as_iam_names_them() {
        assert_eq!(action_name("EC2", "DescribeImages"), "ec2:DescribeImages");
        assert_eq!(action_name("Auto Scaling", "StartInstanceRefresh"), "autoscaling:StartInstanceRefresh");
        assert_eq!(action_name("SSM", "SendCommand"), "ssm:SendCommand");
        assert_eq!(action_name("Elastic Load Balancing v2", "RegisterTargets"), "elasticloadbalancing:RegisterTargets");
    }
}
