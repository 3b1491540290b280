//! Plain HTTP on loopback: the proxy's control API, the operators' metrics and readiness
//! endpoints, ecs-operator-on-fake's view of its fake AWS.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// GET `url`; returns the status code and the body as text.
pub async fn get(url: &str, timeout: Duration) -> Result<(u16, String)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let fetch = async {
        let response = client.get(uri).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .with_context(|| format!("GET {url}: no answer within {timeout:?}"))?
        .with_context(|| format!("GET {url}"))
}

/// POST `url` with an empty body; returns the status code and the body as text.
pub async fn post(url: &str, timeout: Duration) -> Result<(u16, String)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = hyper::Request::post(url)
        .body(Empty::<Bytes>::new())
        .with_context(|| format!("bad URL {url}"))?;
    let fetch = async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .with_context(|| format!("POST {url}: no answer within {timeout:?}"))?
        .with_context(|| format!("POST {url}"))
}

/// The sum of every sample of the counter `name` (all label sets) in a Prometheus text
/// exposition; `None` when the metric is absent.
pub fn sum_metric(text: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name{labels} value` or `name value`, not `name_suffix ...`.
        let value = if let Some(labeled) = rest.strip_prefix('{') {
            labeled.rsplit_once('}').map(|(_, v)| v)
        } else if rest.starts_with(' ') {
            Some(rest)
        } else {
            None
        };
        if let Some(v) = value.and_then(|v| v.split_whitespace().next()) {
            if let Ok(v) = v.parse::<f64>() {
                sum += v;
                found = true;
            }
        }
    }
    found.then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_counter_over_labels() {
        let text = "# HELP ack_outbound_api_requests_total x\n\
                    # TYPE ack_outbound_api_requests_total counter\n\
                    ack_outbound_api_requests_total{op_type=\"READ_ONE\",service=\"ecs\"} 12\n\
                    ack_outbound_api_requests_total{op_type=\"CREATE\",service=\"ecs\"} 3\n\
                    ack_outbound_api_requests_total_other 100\n";
        assert_eq!(
            sum_metric(text, "ack_outbound_api_requests_total"),
            Some(15.0)
        );
        assert_eq!(sum_metric("plain 7\n", "plain"), Some(7.0));
        assert_eq!(sum_metric(text, "missing_total"), None);
    }
}
