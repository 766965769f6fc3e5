//! `-v`: one log line per AWS call attempt, with the operation, HTTP status, request id and
//! time taken. An SDK interceptor, so every call of every tool is covered.

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
        let (service, operation) = cfg.load::<Metadata>().map_or(("?", "?"), |m| (m.service(), m.name()));
        match context.response() {
            Some(response) => {
                let request_id = response.headers().request_id().unwrap_or("-");
                tracing::debug!("{service}.{operation}: HTTP {} in {ms:.0} ms (request id {request_id})", response.status().as_u16());
            }
            None => tracing::debug!("{service}.{operation}: no response after {ms:.0} ms"),
        }
        Ok(())
    }
}
