//! [`AppAutoScalingApi`] with the AWS SDK: ECS services' desired count only.

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types as aas;

use super::convert::{build_error, rfc3339};
use super::sdk_error;
use crate::aws::error::AwsError;
use crate::aws::types::*;
use crate::aws::AppAutoScalingApi;

/// Application Auto Scaling client.
///
/// One client for reads and writes: every write is an upsert by key (RegisterScalableTarget,
/// PutScalingPolicy) or a delete whose repetition answers "not found", so the SDK's own
/// retries after a lost answer cannot create anything twice (unlike the ECS and Auto
/// Scaling adapters, no separate writer without blind retries is needed).
#[derive(Clone, Debug)]
pub struct SdkAppAutoScaling {
    client: aws_sdk_applicationautoscaling::Client,
}

impl SdkAppAutoScaling {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_applicationautoscaling::Client) -> Self {
        Self { client }
    }
}

const NAMESPACE: aas::ServiceNamespace = aas::ServiceNamespace::Ecs;
const DIMENSION: aas::ScalableDimension = aas::ScalableDimension::EcsServiceDesiredCount;

fn config_from(c: &aas::TargetTrackingScalingPolicyConfiguration) -> Option<TargetTrackingConfig> {
    // Customized metrics are not ours: such a policy is reported without a configuration
    // and replaced if it carries one of our names.
    let spec = c.predefined_metric_specification()?;
    Some(TargetTrackingConfig {
        predefined_metric: spec.predefined_metric_type().as_str().to_string(),
        resource_label: spec.resource_label().map(str::to_string),
        target_value: c.target_value(),
        scale_in_cooldown: c.scale_in_cooldown(),
        scale_out_cooldown: c.scale_out_cooldown(),
    })
}

#[async_trait]
impl AppAutoScalingApi for SdkAppAutoScaling {
    async fn describe_scalable_target(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalableTarget>, AwsError> {
        const OP: &str = "application-autoscaling:DescribeScalableTargets";
        let resp = self
            .client
            .describe_scalable_targets()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_ids(resource_id)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .scalable_targets()
            .iter()
            .find(|t| t.resource_id() == resource_id)
            .map(|t| ScalableTarget {
                resource_id: t.resource_id().to_string(),
                arn: t.scalable_target_arn().map(str::to_string),
                min_capacity: t.min_capacity(),
                max_capacity: t.max_capacity(),
            }))
    }

    async fn register_scalable_target(
        &self,
        input: &RegisterScalableTargetInput,
    ) -> Result<Option<String>, AwsError> {
        const OP: &str = "application-autoscaling:RegisterScalableTarget";
        let tags = (!input.tags.is_empty()).then(|| {
            input
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        let resp = self
            .client
            .register_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(&input.resource_id)
            .min_capacity(input.min_capacity)
            .max_capacity(input.max_capacity)
            .set_tags(tags)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp.scalable_target_arn().map(str::to_string))
    }

    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:DeregisterScalableTarget";
        self.client
            .deregister_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn target_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        const OP: &str = "application-autoscaling:ListTagsForResource";
        let resp = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn tag_target(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:TagResource";
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn untag_target(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:UntagResource";
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn describe_scaling_policies(
        &self,
        resource_id: &str,
    ) -> Result<Vec<ScalingPolicy>, AwsError> {
        const OP: &str = "application-autoscaling:DescribeScalingPolicies";
        let mut pages = self
            .client
            .describe_scaling_policies()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(p) = pages.next().await {
            let p = p.map_err(|e| sdk_error(OP, e))?;
            // Some implementations match resource IDs loosely (moto by substring).
            if p.resource_id() != resource_id {
                continue;
            }
            out.push(ScalingPolicy {
                name: p.policy_name().to_string(),
                resource_id: p.resource_id().to_string(),
                target_tracking: p
                    .target_tracking_scaling_policy_configuration()
                    .and_then(config_from),
            });
        }
        Ok(out)
    }

    async fn put_scaling_policy(&self, input: &PutScalingPolicyInput) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:PutScalingPolicy";
        let c = &input.config;
        let metric = aas::PredefinedMetricSpecification::builder()
            .predefined_metric_type(aas::MetricType::from(c.predefined_metric.as_str()))
            .set_resource_label(c.resource_label.clone())
            .build()
            .map_err(|e| build_error(OP, e))?;
        let config = aas::TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(c.target_value)
            .predefined_metric_specification(metric)
            .set_scale_in_cooldown(c.scale_in_cooldown)
            .set_scale_out_cooldown(c.scale_out_cooldown)
            .build()
            .map_err(|e| build_error(OP, e))?;
        self.client
            .put_scaling_policy()
            .policy_name(&input.name)
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(&input.resource_id)
            .policy_type(aas::PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:DeleteScalingPolicy";
        self.client
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn latest_scaling_activity(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalingActivity>, AwsError> {
        const OP: &str = "application-autoscaling:DescribeScalingActivities";
        let resp = self
            .client
            .describe_scaling_activities()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .max_results(1)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        // Newest first, as AWS documents it.
        Ok(resp.scaling_activities().first().map(|a| ScalingActivity {
            start_time: rfc3339(Some(a.start_time())),
            description: a.description().to_string(),
            status_code: a.status_code().as_str().to_string(),
            status_message: a.status_message().map(str::to_string),
        }))
    }
}
