//! The AWS clients implemented with the AWS SDK for Rust.
//!
//! [`SdkProvider`] loads one base configuration (standard environment variables, profiles,
//! credentials chain; explicit arguments override them) and derives one configuration per
//! region from it, lazily, so every region shares the credentials cache, retry and timeout
//! settings.

mod app_autoscaling;
mod autoscaling;
mod convert;
mod ec2;
mod ecs;
mod elb;
mod elbv2;
mod iam;
mod request_counter;
mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use app_autoscaling::SdkAppAutoScaling;
pub use autoscaling::SdkAutoScaling;
pub use ec2::SdkEc2;
pub use ecs::SdkEcs;
pub use elb::SdkElb;
pub use elbv2::SdkElbV2;
pub use iam::SdkIam;

use super::error::{classify, AwsError, AwsErrorKind};
use super::{AwsClients, AwsProvider};

/// Attempts per call, the first one included (SDK standard retry mode).
const MAX_ATTEMPTS: u32 = 3;
/// Time to establish a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one attempt, response body included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Time for a whole call, retries and backoff included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Hands out SDK-backed clients per region, creating each region's clients once.
pub struct SdkProvider {
    base: SdkConfig,
    default_region: String,
    clients: Mutex<HashMap<String, AwsClients>>,
}

impl SdkProvider {
    /// Loads the configuration the standard way (`AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// profiles, the credentials chain); `default_region` and `endpoint_url` override it.
    ///
    /// Fails when no region is configured anywhere.
    pub async fn new(
        default_region: Option<String>,
        endpoint_url: Option<String>,
    ) -> anyhow::Result<Self> {
        Self::load(default_region, endpoint_url, None).await
    }

    /// Like [`SdkProvider::new`], with fixed credentials instead of the credentials chain
    /// (for tests against a local AWS emulator).
    pub async fn with_credentials(
        default_region: Option<String>,
        endpoint_url: Option<String>,
        credentials: Credentials,
    ) -> anyhow::Result<Self> {
        Self::load(default_region, endpoint_url, Some(credentials)).await
    }

    async fn load(
        default_region: Option<String>,
        endpoint_url: Option<String>,
        credentials: Option<Credentials>,
    ) -> anyhow::Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(region) = default_region {
            loader = loader.region(Region::new(region));
        }
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let base = loader.load().await;
        Self::from_config(base)
    }

    /// Uses an already loaded configuration; its region is the default region.
    pub fn from_config(base: SdkConfig) -> anyhow::Result<Self> {
        let default_region = base
            .region()
            .map(|r| r.as_ref().to_string())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("no AWS region configured: pass a region or set AWS_REGION")
            })?;
        Ok(Self {
            base,
            default_region,
            clients: Mutex::new(HashMap::new()),
        })
    }

    fn build_clients(&self, region: &str) -> AwsClients {
        let config = if region == self.default_region {
            self.base.clone()
        } else {
            self.base
                .to_builder()
                .region(Region::new(region.to_string()))
                .build()
        };
        // Every client counts its HTTP requests so the rate limiter charges each one.
        let ecs = aws_sdk_ecs::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        let ec2 = aws_sdk_ec2::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        let autoscaling = aws_sdk_autoscaling::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        let elb = aws_sdk_elasticloadbalancing::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        let app_autoscaling = aws_sdk_applicationautoscaling::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        // IAM is global: the SDK resolves its one endpoint (iam.amazonaws.com, signed for
        // us-east-1) from any region of the standard partition; an endpoint URL override
        // (moto, LocalStack) applies as for every other client.
        let iam = aws_sdk_iam::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        let elbv2 = aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
            .interceptor(request_counter::CountRequests)
            .build();
        AwsClients {
            ecs: Arc::new(SdkEcs::new(aws_sdk_ecs::Client::from_conf(ecs))),
            ec2: Arc::new(SdkEc2::new(aws_sdk_ec2::Client::from_conf(ec2))),
            autoscaling: Arc::new(SdkAutoScaling::new(aws_sdk_autoscaling::Client::from_conf(
                autoscaling,
            ))),
            elb: Arc::new(SdkElb::new(
                aws_sdk_elasticloadbalancing::Client::from_conf(elb),
            )),
            app_autoscaling: Arc::new(SdkAppAutoScaling::new(
                aws_sdk_applicationautoscaling::Client::from_conf(app_autoscaling),
            )),
            iam: Arc::new(SdkIam::new(aws_sdk_iam::Client::from_conf(iam))),
            elbv2: Arc::new(SdkElbV2::new(
                aws_sdk_elasticloadbalancingv2::Client::from_conf(elbv2),
            )),
        }
    }
}

impl AwsProvider for SdkProvider {
    fn clients(&self, region: Option<&str>) -> AwsClients {
        let region = region
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.default_region);
        // A poisoned lock only means another thread panicked while inserting; the map
        // itself is still consistent.
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| self.build_clients(region))
            .clone()
    }

    fn default_region(&self) -> String {
        self.default_region.clone()
    }
}

/// The HTTP status of a raw response, where the response type has one.
pub trait RawStatus {
    /// HTTP status code.
    fn http_status(&self) -> Option<u16>;
}

impl RawStatus for HttpResponse {
    fn http_status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// Converts an SDK error into an [`AwsError`], classified by its AWS error code, message
/// and HTTP status; failures to reach AWS (dispatch, timeout, unreadable response) are
/// [`AwsErrorKind::Transient`].
pub fn sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawStatus + std::fmt::Debug + 'static,
{
    let status = err.raw_response().and_then(RawStatus::http_status);
    match &err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or_default().to_string();
            let message = err
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| error_chain(&err));
            let kind = classify(operation, &code, &message, status);
            AwsError::new(kind, operation, code, message)
        }
        SdkError::ConstructionFailure(_) => AwsError::new(
            AwsErrorKind::InvalidInput,
            operation,
            "ConstructionFailure",
            error_chain(&err),
        ),
        SdkError::TimeoutError(_) => AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "Timeout",
            error_chain(&err),
        ),
        SdkError::DispatchFailure(_) => AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "DispatchFailure",
            error_chain(&err),
        ),
        SdkError::ResponseError(_) => {
            // An unreadable response: a proxy's error page, a truncated body. Nothing names
            // a validation error, so it is never taken as terminal.
            let kind = match status {
                Some(429) => AwsErrorKind::Throttled,
                Some(s) if (400..500).contains(&s) => AwsErrorKind::Unrecognized,
                _ => AwsErrorKind::Transient,
            };
            AwsError::new(kind, operation, "ResponseError", error_chain(&err))
        }
        _ => AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "Unknown",
            error_chain(&err),
        ),
    }
}

/// The error and all its sources, joined, since the SDK's top-level messages are generic
/// ("dispatch failure").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn provider_caches_clients_per_region() {
        let provider = SdkProvider::with_credentials(
            Some("eu-west-1".into()),
            Some("http://127.0.0.1:1".into()),
            Credentials::new("a", "b", None, None, "test"),
        )
        .await
        .expect("provider");
        assert_eq!(provider.default_region(), "eu-west-1");
        let a = provider.clients(None);
        let b = provider.clients(Some("eu-west-1"));
        assert!(Arc::ptr_eq(&a.ecs, &b.ecs));
        let c = provider.clients(Some("us-east-2"));
        assert!(!Arc::ptr_eq(&a.ecs, &c.ecs));
        let d = provider.clients(Some("us-east-2"));
        assert!(Arc::ptr_eq(&c.elb, &d.elb));
    }
}
