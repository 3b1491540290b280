//! Metrics, logs and the health/metrics HTTP server.

pub mod logging;
pub mod metrics;
pub mod server;
pub mod workqueue;
