//! The generic managed-resource reconciler and the three kinds' AWS logic.

pub mod autoscaling;
pub mod backoff;
pub mod capacity_provider;
pub mod conditions;
pub mod context;
pub mod error;
pub mod generic;
pub mod managed;
pub mod outcome;
pub mod preflight;
pub mod report;
pub mod stores;
pub mod sweep;

pub use context::{Context, Settings};
pub use error::Error;
pub mod cluster;
pub mod controllers;
pub mod leader;
pub mod service;
pub mod shards;
pub mod target_group;
pub mod task_def;
