//! HTTP endpoints: `/metrics` for Prometheus, `/healthz` and `/readyz` for the kubelet.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use super::metrics::Metrics;

/// Readiness shared with the controllers.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Mark the process ready (clients built, Kubernetes reachable).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

async fn metrics(State(m): State<Metrics>) -> (StatusCode, String) {
    match m.encode() {
        Ok(text) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn readyz(State(h): State<Health>) -> (StatusCode, &'static str) {
    if h.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serve `/metrics` on `metrics_addr` and the probes on `health_addr` until `shutdown`.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    m: Metrics,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + Clone + 'static,
) -> anyhow::Result<()> {
    let metrics_app = Router::new().route("/metrics", get(metrics)).with_state(m);
    let health_app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health);
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr).await?;
    let health_listener = tokio::net::TcpListener::bind(health_addr).await?;
    let a = axum::serve(metrics_listener, metrics_app).with_graceful_shutdown(shutdown.clone());
    let b = axum::serve(health_listener, health_app).with_graceful_shutdown(shutdown);
    tokio::try_join!(a, b)?;
    Ok(())
}
