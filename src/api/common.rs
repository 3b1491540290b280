//! Fields and status pieces shared by the three kinds.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every kind, also the prefix of annotations, finalizers and AWS tags.
pub const GROUP: &str = "ecsoperator.io";
/// Annotation that stops all reconciliation of an object while set to `"true"`.
pub const PAUSED_ANNOTATION: &str = "ecsoperator.io/paused";
/// Annotation that allows taking over an existing AWS resource that has no owner tag.
pub const ADOPT_ANNOTATION: &str = "ecsoperator.io/adopt";
/// Annotation on an EcsService whose every new value forces a new deployment.
pub const RESTARTED_AT_ANNOTATION: &str = "ecsoperator.io/restartedAt";
/// Finalizer that keeps an object until its AWS resources are cleaned up.
pub const FINALIZER: &str = "ecsoperator.io/cleanup";

/// What happens to the AWS resources when the object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the AWS resources the object owns.
    #[default]
    Delete,
    /// Leave the AWS resources in place, untouched (tags included).
    Retain,
}

/// Status fields every kind carries.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Synced and Stalled (and Progressing for services), as metav1.Condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Implemented by every spec: the fields the generic reconciler reads.
pub trait CommonSpec {
    /// AWS region override.
    fn region(&self) -> Option<&str>;
    /// User tags for every owned AWS resource.
    fn user_tags(&self) -> &BTreeMap<String, String>;
    /// What to do with the AWS resources on deletion.
    fn deletion_policy(&self) -> DeletionPolicy;
}

/// Implements [`CommonSpec`] for a spec struct with `region`, `tags` and `deletion_policy` fields.
macro_rules! impl_common_spec {
    ($spec:ty) => {
        impl $crate::api::common::CommonSpec for $spec {
            fn region(&self) -> Option<&str> {
                self.region.as_deref()
            }
            fn user_tags(&self) -> &std::collections::BTreeMap<String, String> {
                &self.tags
            }
            fn deletion_policy(&self) -> $crate::api::common::DeletionPolicy {
                self.deletion_policy
            }
        }
    };
}
pub(crate) use impl_common_spec;

/// CEL rule that keeps an optional string field of the spec from changing once set or defaulted.
pub(crate) fn immutable_optional(field: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": format!("has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"),
        "message": format!("{field} is immutable"),
    })
}

/// CEL rules on user tags: out of the operator's own prefix and AWS's, within the sizes
/// every AWS service accepts (so a bad tag is refused at apply time, not by AWS later).
pub(crate) fn tags_rules() -> serde_json::Value {
    serde_json::json!([
        {
            "rule": "self.all(k, !k.startsWith('ecsoperator.io/'))",
            "message": "tag keys starting with ecsoperator.io/ are reserved for the operator",
        },
        {
            "rule": "self.all(k, !k.startsWith('aws:'))",
            "message": "tag keys starting with aws: are reserved by AWS",
        },
        {
            "rule": "self.all(k, size(k) <= 128 && size(self[k]) <= 256)",
            "message": "AWS takes tag keys of at most 128 characters and values of at most 256",
        },
    ])
}

/// One entry of a capacity provider strategy, as in the ECS API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    /// Name of the capacity provider: FARGATE, FARGATE_SPOT or an EC2 capacity provider
    /// (for a managed cluster, the name of its `capacity.capacityProvider`).
    #[schemars(length(min = 1, max = 255))]
    pub capacity_provider: String,
    /// Relative share of the tasks placed with this provider, after the bases are met
    /// (0–1000, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub weight: Option<i32>,
    /// Tasks placed with this provider before the weights apply (0–100000, default 0).
    /// ECS takes a base on at most one provider of a strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub base: Option<i32>,
}

/// CEL rules on a capacity provider strategy list: ECS's own limits, checked at apply time.
pub(crate) fn strategy_rules() -> serde_json::Value {
    serde_json::json!([
        {
            "rule": "self.filter(s, has(s.base) && s.base > 0).size() <= 1",
            "message": "at most one capacity provider of a strategy can have a base greater than 0",
        },
        {
            "rule": "self.all(a, self.exists_one(b, b.capacityProvider == a.capacityProvider))",
            "message": "a capacity provider appears at most once in a strategy",
        },
    ])
}
