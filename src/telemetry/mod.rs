//! Metrics, logs and the health/metrics HTTP server.

pub mod metrics;
