//! The three custom resources of `ecsoperator.io/v1alpha1` and their CRDs.

pub mod cluster;
pub mod common;
pub mod service;
pub mod task_def;

pub use cluster::{EcsCluster, EcsClusterSpec, EcsClusterStatus};
pub use service::{EcsService, EcsServiceSpec, EcsServiceStatus};
pub use task_def::{EcsTaskDef, EcsTaskDefSpec, EcsTaskDefStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs of the three kinds, in install order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![EcsCluster::crd(), EcsTaskDef::crd(), EcsService::crd()]
}

/// The CRDs as one multi-document YAML stream, as committed under `crds/`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
