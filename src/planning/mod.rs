//! Pure decisions: (spec, observed AWS state) → the calls to make. No I/O here.

pub mod autoscaling;
pub mod capacity_provider;
pub mod cluster;
pub mod drift;
pub mod ownership;
pub mod preflight;
pub mod service;
pub mod target_group;
pub mod task_def;
