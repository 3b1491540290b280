//! The process's HTTP endpoints. On the metrics address: the operator's `/metrics` (of the
//! controllers running now) and the harness's view of the fake under `/fake/`, read from
//! the fake's own inspection API so that none of it counts as an AWS call. On the health
//! address: `/healthz` and `/readyz`, as the operator serves them.
//!
//! The library's `telemetry::server` is not reused: it serves one `Metrics` for the life
//! of the process, and here each in-process restart gets new controllers with new metrics
//! (as a restarted operator process would), so `/metrics` follows the current ones.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::telemetry::metrics::Metrics;
use ecs_operator::telemetry::server::Health;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::gate::CallCounter;

/// A request to restart the controllers; answered once the new ones run.
pub type RestartRequest = oneshot::Sender<()>;

/// What the endpoints read.
pub struct Shared {
    /// The fake AWS.
    pub fake: FakeAws,
    /// Its call counter.
    pub counter: Arc<CallCounter>,
    /// The metrics of the controllers running now.
    pub metrics: RwLock<Metrics>,
    /// Where restart requests go (the controllers' loop in main).
    pub restart: mpsc::Sender<RestartRequest>,
}

impl Shared {
    /// The metrics of the controllers running now.
    pub fn current_metrics(&self) -> Metrics {
        self.metrics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Metrics of the controllers that start now.
    pub fn set_metrics(&self, m: Metrics) {
        *self.metrics.write().unwrap_or_else(|p| p.into_inner()) = m;
    }
}

type Reply = (StatusCode, [(header::HeaderName, &'static str); 1], String);

fn json<T: Serialize>(value: &T) -> Reply {
    match serde_json::to_string(value) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        ),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn text(status: StatusCode, body: String) -> Reply {
    (status, [(header::CONTENT_TYPE, "text/plain")], body)
}

/// `key=value` pairs of a query string (names here need no percent-decoding).
fn params(query: Option<String>) -> BTreeMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The comma-separated `names` parameter.
fn names(p: &BTreeMap<String, String>) -> Vec<String> {
    p.get("names")
        .map(|n| {
            n.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Reply {
    match s.current_metrics().encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn summary(State(s): State<Arc<Shared>>) -> Reply {
    json(&s.counter.summary())
}

async fn restart(State(s): State<Arc<Shared>>) -> Reply {
    let (tx, rx) = oneshot::channel();
    if s.restart.send(tx).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    match rx.await {
        Ok(()) => text(StatusCode::OK, "restarted".into()),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()),
    }
}

#[derive(Serialize)]
struct ClusterView {
    active: bool,
}

/// `?name=`: whether the ECS cluster exists and is ACTIVE.
async fn cluster(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Reply {
    let p = params(q);
    let name = p.get("name").cloned().unwrap_or_default();
    let active = s.fake.cluster(&name).is_some_and(|c| c.status == "ACTIVE");
    json(&ClusterView { active })
}

/// `?cluster=&names=a,b`: the task definition of each named service that exists (ACTIVE
/// or DRAINING, as ListServices would list it).
async fn services(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Reply {
    let p = params(q);
    let cluster = p.get("cluster").cloned().unwrap_or_default();
    let out: BTreeMap<String, String> = names(&p)
        .into_iter()
        .filter_map(|n| {
            let svc = s.fake.service(&cluster, &n)?;
            (svc.status != "INACTIVE").then_some((n, svc.task_definition))
        })
        .collect();
    json(&out)
}

#[derive(Serialize)]
struct FamilyView {
    /// Highest revision number registered (any status).
    latest: i32,
    /// Whether any revision is ACTIVE.
    active: bool,
}

/// `?names=a,b`: each named family that has revisions.
async fn families(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Reply {
    let p = params(q);
    let out: BTreeMap<String, FamilyView> = names(&p)
        .into_iter()
        .filter_map(|f| {
            let revs = s.fake.task_definition_revisions(&f);
            let latest = revs.iter().map(|r| r.revision).max()?;
            let active = revs.iter().any(|r| r.status == "ACTIVE");
            Some((f, FamilyView { latest, active }))
        })
        .collect();
    json(&out)
}

#[derive(Serialize)]
struct Revisions {
    registered: usize,
}

/// Task definition revisions registered so far (successful RegisterTaskDefinition calls).
async fn revisions(State(s): State<Arc<Shared>>) -> Reply {
    json(&Revisions {
        registered: s.fake.registered_inputs().len(),
    })
}

async fn readyz(State(h): State<Health>) -> (StatusCode, &'static str) {
    if h.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serves both addresses until `shutdown`.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    shared: Arc<Shared>,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + Clone + 'static,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/fake/summary", get(summary))
        .route("/fake/restart", post(restart))
        .route("/fake/cluster", get(cluster))
        .route("/fake/services", get(services))
        .route("/fake/families", get(families))
        .route("/fake/revisions", get(revisions))
        .with_state(shared);
    let health_app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health);
    let a = tokio::net::TcpListener::bind(metrics_addr).await?;
    let b = tokio::net::TcpListener::bind(health_addr).await?;
    let a = axum::serve(a, app).with_graceful_shutdown(shutdown.clone());
    let b = axum::serve(b, health_app).with_graceful_shutdown(shutdown);
    tokio::try_join!(a, b)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let p = params(Some("cluster=bench&names=svc-00001,svc-00002,".into()));
        assert_eq!(p["cluster"], "bench");
        assert_eq!(names(&p), vec!["svc-00001", "svc-00002"]);
        assert!(names(&params(None)).is_empty());
    }
}
