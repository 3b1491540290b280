//! aws-fault-proxy: a fault-injecting HTTP proxy between the AWS SDK and moto.
//!
//! A dev/test tool, not part of the operator. It identifies every AWS call (service,
//! operation, resource), enforces AWS's per-operation token buckets, injects
//! throttling, 5xx, connection resets, latency and lost responses in each service's real
//! wire format, records every call, and summarizes what happened (including resources
//! created more than once). See README.md for the CLI, the rules format and the
//! control API under `/__proxy/`.
#![warn(missing_docs)]

pub mod buckets;
pub mod errors;
pub mod identify;
pub mod prng;
pub mod proxy;
pub mod rules;
pub mod stats;

pub use proxy::{Proxy, ProxyConfig, ADMIN_PREFIX};
pub use rules::Rules;
