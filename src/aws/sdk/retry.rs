//! Which failed calls the SDK itself may send again.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// Forbids the SDK to retry a call that got no answer (connection reset, timeout): for a
/// write, the request may well have taken effect, and sending it again blindly registers
/// a second task definition revision, or a second resource where AWS has no idempotency
/// token. Calls AWS did answer (throttling, 5xx) were refused, and stay retryable. The
/// reconciler retries the rest itself, after observing what the first attempt did.
///
/// Installed on the clients the adapters use for writes only; reads retry as usual.
#[derive(Debug, Default)]
pub struct NoBlindRetry;

impl ClassifyRetry for NoBlindRetry {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        if ctx.response().is_none() && ctx.output_or_error().is_some_and(|r| r.is_err()) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "NoBlindRetry"
    }
}
