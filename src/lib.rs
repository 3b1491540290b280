//! ecs-operator: runs Docker workloads on AWS ECS from Kubernetes objects.

pub mod api;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod planning;
pub mod reconciler;
pub mod telemetry;
