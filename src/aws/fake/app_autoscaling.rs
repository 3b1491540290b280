//! Application Auto Scaling of ECS services' desired count: scalable targets (an upsert
//! that brings the service's desired count into range), target tracking policies (an
//! upsert by name), scaling activities, tags on targets, and a simulated scaler that
//! changes a service's desired count as a policy would, with the [`AppAutoScalingApi`]
//! implementation.

use async_trait::async_trait;

use super::{err, FakeAws, State, ACCOUNT, REGION};
use crate::aws::types::*;
use crate::aws::{AppAutoScalingApi, AwsError};

#[derive(Clone, Debug)]
pub(super) struct Target {
    target: ScalableTarget,
    tags: Tags,
}

/// The predefined metrics Application Auto Scaling offers for ECS services.
const ECS_METRICS: [&str; 3] = [
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
];

/// `(cluster, service)` of `service/<cluster>/<service>`.
fn parse_resource_id(resource_id: &str) -> Option<(&str, &str)> {
    let rest = resource_id.strip_prefix("service/")?;
    let (cluster, service) = rest.split_once('/')?;
    (!cluster.is_empty() && !service.is_empty() && !service.contains('/'))
        .then_some((cluster, service))
}

fn not_registered(op: &'static str, resource_id: &str) -> AwsError {
    err(
        op,
        "ObjectNotFoundException",
        format!(
            "No scalable target registered for service namespace: ecs, resource ID: \
             {resource_id}, scalable dimension: ecs:service:DesiredCount"
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Test-facing API: inspection and the simulated scaler.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// The scalable target of a resource ID, if registered.
    pub fn scalable_target(&self, resource_id: &str) -> Option<ScalableTarget> {
        self.lock()
            .scalable_targets
            .get(resource_id)
            .map(|t| t.target.clone())
    }

    /// Tags of the scalable target of a resource ID.
    pub fn scalable_target_tags(&self, resource_id: &str) -> Option<Tags> {
        self.lock()
            .scalable_targets
            .get(resource_id)
            .map(|t| t.tags.clone())
    }

    /// The scaling policies of a resource ID, by name.
    pub fn scaling_policies(&self, resource_id: &str) -> Vec<ScalingPolicy> {
        self.lock()
            .scaling_policies
            .values()
            .filter(|p| p.resource_id == resource_id)
            .cloned()
            .collect()
    }

    /// Application Auto Scaling acting on a policy: sets the service's desired count to `n`
    /// (kept within the target's range, as AWS does) and records a successful activity.
    /// Returns the count set. Panics when the resource has no scalable target.
    pub fn autoscale(&self, resource_id: &str, n: i32) -> i32 {
        let mut s = self.lock();
        let t = s
            .scalable_targets
            .get(resource_id)
            .expect("no scalable target registered")
            .target
            .clone();
        let n = n.clamp(t.min_capacity, t.max_capacity);
        s.scale_resource(resource_id, n);
        n
    }
}

impl State {
    /// Set the service of `resource_id` to `n` tasks and record the activity.
    fn scale_resource(&mut self, resource_id: &str, n: i32) {
        let Some((cluster, service)) = parse_resource_id(resource_id) else {
            return;
        };
        let (cluster, service) = (cluster.to_string(), service.to_string());
        if self.scale_active_service(&cluster, &service, n) {
            let now = self.now();
            self.scaling_activities
                .entry(resource_id.to_string())
                .or_default()
                .insert(
                    0,
                    ScalingActivity {
                        start_time: Some(now),
                        description: format!("Setting desired count to {n}."),
                        status_code: "Successful".into(),
                        status_message: Some(format!(
                            "Successfully set desired count to {n}. Change successfully \
                             fulfilled by ecs."
                        )),
                    },
                );
        }
    }

    fn target_by_arn(&mut self, op: &'static str, arn: &str) -> Result<&mut Target, AwsError> {
        self.scalable_targets
            .values_mut()
            .find(|t| t.target.arn.as_deref() == Some(arn))
            .ok_or_else(|| {
                err(
                    op,
                    "ResourceNotFoundException",
                    format!("No scalable target found for ARN {arn}"),
                )
            })
    }
}

#[async_trait]
impl AppAutoScalingApi for FakeAws {
    async fn describe_scalable_target(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalableTarget>, AwsError> {
        self.call("application-autoscaling:DescribeScalableTargets", |s| {
            Ok(s.scalable_targets
                .get(resource_id)
                .map(|t| t.target.clone()))
        })
    }

    async fn register_scalable_target(
        &self,
        input: &RegisterScalableTargetInput,
    ) -> Result<Option<String>, AwsError> {
        const OP: &str = "application-autoscaling:RegisterScalableTarget";
        self.call(OP, |s| {
            let id = &input.resource_id;
            let (cluster, service) = parse_resource_id(id).ok_or_else(|| {
                err(OP, "ValidationException", format!("Unsupported service namespace, resource type or scalable dimension: {id}"))
            })?;
            if input.min_capacity < 0 || input.max_capacity < input.min_capacity {
                return Err(err(
                    OP,
                    "ValidationException",
                    "Minimum capacity cannot be greater than maximum capacity",
                ));
            }
            let desired = s
                .active_service_desired(cluster, service)
                .ok_or_else(|| err(OP, "ValidationException", format!("ECS service doesn't exist: {id}")))?;
            let arn = match s.scalable_targets.get_mut(id) {
                Some(t) => {
                    // An update: tags are taken only when the target is new.
                    t.target.min_capacity = input.min_capacity;
                    t.target.max_capacity = input.max_capacity;
                    t.target.arn.clone()
                }
                None => {
                    let arn = format!(
                        "arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/{:032x}",
                        s.next()
                    );
                    s.scalable_targets.insert(
                        id.clone(),
                        Target {
                            target: ScalableTarget {
                                resource_id: id.clone(),
                                arn: Some(arn.clone()),
                                min_capacity: input.min_capacity,
                                max_capacity: input.max_capacity,
                            },
                            tags: input.tags.clone(),
                        },
                    );
                    Some(arn)
                }
            };
            // AWS brings the current capacity of an active resource into the new range.
            let clamped = desired.clamp(input.min_capacity, input.max_capacity);
            if clamped != desired {
                s.scale_resource(id, clamped);
            }
            Ok(arn)
        })
    }

    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:DeregisterScalableTarget";
        self.call(OP, |s| {
            s.scalable_targets
                .remove(resource_id)
                .ok_or_else(|| not_registered(OP, resource_id))?;
            // Deregistering a target deletes its scaling policies.
            s.scaling_policies.retain(|(r, _), _| r != resource_id);
            Ok(())
        })
    }

    async fn target_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        const OP: &str = "application-autoscaling:ListTagsForResource";
        self.call(OP, |s| Ok(s.target_by_arn(OP, arn)?.tags.clone()))
    }

    async fn tag_target(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:TagResource";
        self.call(OP, |s| {
            let t = s.target_by_arn(OP, arn)?;
            t.tags
                .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(())
        })
    }

    async fn untag_target(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:UntagResource";
        self.call(OP, |s| {
            let t = s.target_by_arn(OP, arn)?;
            t.tags.retain(|k, _| !keys.contains(k));
            Ok(())
        })
    }

    async fn describe_scaling_policies(
        &self,
        resource_id: &str,
    ) -> Result<Vec<ScalingPolicy>, AwsError> {
        self.call("application-autoscaling:DescribeScalingPolicies", |s| {
            Ok(s.scaling_policies
                .values()
                .filter(|p| p.resource_id == resource_id)
                .cloned()
                .collect())
        })
    }

    async fn put_scaling_policy(&self, input: &PutScalingPolicyInput) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:PutScalingPolicy";
        self.call(OP, |s| {
            if !s.scalable_targets.contains_key(&input.resource_id) {
                return Err(not_registered(OP, &input.resource_id));
            }
            let c = &input.config;
            if !ECS_METRICS.contains(&c.predefined_metric.as_str()) {
                return Err(err(
                    OP,
                    "ValidationException",
                    format!("Unsupported predefined metric type {}", c.predefined_metric),
                ));
            }
            if (c.predefined_metric == "ALBRequestCountPerTarget") != c.resource_label.is_some() {
                return Err(err(
                    OP,
                    "ValidationException",
                    "ResourceLabel is required for ALBRequestCountPerTarget and only for it",
                ));
            }
            s.scaling_policies.insert(
                (input.resource_id.clone(), input.name.clone()),
                ScalingPolicy {
                    name: input.name.clone(),
                    resource_id: input.resource_id.clone(),
                    target_tracking: Some(c.clone()),
                },
            );
            Ok(())
        })
    }

    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError> {
        const OP: &str = "application-autoscaling:DeleteScalingPolicy";
        self.call(OP, |s| {
            s.scaling_policies
                .remove(&(resource_id.to_string(), name.to_string()))
                .map(|_| ())
                .ok_or_else(|| {
                    err(
                        OP,
                        "ObjectNotFoundException",
                        format!("No scaling policy found for policy name: {name}"),
                    )
                })
        })
    }

    async fn latest_scaling_activity(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalingActivity>, AwsError> {
        self.call("application-autoscaling:DescribeScalingActivities", |s| {
            Ok(s.scaling_activities
                .get(resource_id)
                .and_then(|a| a.first().cloned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::task_def::{ContainerDefinition, EcsTaskDefSpec};
    use crate::aws::EcsApi;

    async fn service(fake: &FakeAws, desired: i32) {
        fake.create_cluster("c", &Tags::new())
            .await
            .expect("cluster");
        let td = fake
            .register_task_definition(&RegisterTaskDefinitionInput {
                family: "web".into(),
                definition: EcsTaskDefSpec {
                    container_definitions: vec![ContainerDefinition {
                        name: "web".into(),
                        image: "nginx".into(),
                        memory: Some(128),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                tags: Tags::new(),
            })
            .await
            .expect("task definition");
        fake.create_service(&CreateServiceInput {
            cluster: "c".into(),
            name: "web".into(),
            task_definition: td.arn,
            desired_count: desired,
            ..Default::default()
        })
        .await
        .expect("service");
    }

    fn input(min: i32, max: i32) -> RegisterScalableTargetInput {
        RegisterScalableTargetInput {
            resource_id: "service/c/web".into(),
            min_capacity: min,
            max_capacity: max,
            tags: [("owner".to_string(), "me".to_string())].into(),
        }
    }

    #[tokio::test]
    async fn register_is_an_upsert_that_brings_the_service_into_range() {
        let fake = FakeAws::new();
        let missing = fake.register_scalable_target(&input(1, 3)).await;
        assert!(missing.is_err_and(|e| e.kind == crate::aws::AwsErrorKind::Dependency));
        service(&fake, 5).await;
        let arn = fake
            .register_scalable_target(&input(1, 3))
            .await
            .expect("register");
        assert_eq!(fake.service("c", "web").map(|s| s.desired_count), Some(3));
        let mut retagged = input(2, 4);
        retagged.tags = [("other".to_string(), "x".to_string())].into();
        let again = fake
            .register_scalable_target(&retagged)
            .await
            .expect("update");
        assert_eq!(arn, again, "the same target");
        let t = fake.scalable_target("service/c/web").expect("target");
        assert_eq!((t.min_capacity, t.max_capacity), (2, 4));
        assert_eq!(
            fake.scalable_target_tags("service/c/web"),
            Some([("owner".to_string(), "me".to_string())].into()),
            "tags are taken at creation only"
        );
        let activity = fake
            .latest_scaling_activity("service/c/web")
            .await
            .expect("activities")
            .expect("one");
        assert_eq!(activity.description, "Setting desired count to 3.");
    }

    #[tokio::test]
    async fn policies_upsert_by_name_and_go_with_the_target() {
        let fake = FakeAws::new();
        service(&fake, 2).await;
        let mut put = PutScalingPolicyInput {
            name: "web-cpu".into(),
            resource_id: "service/c/web".into(),
            config: TargetTrackingConfig {
                predefined_metric: "ECSServiceAverageCPUUtilization".into(),
                target_value: 60.0,
                ..Default::default()
            },
        };
        assert!(fake
            .put_scaling_policy(&put)
            .await
            .is_err_and(|e| e.is_not_found()));
        fake.register_scalable_target(&input(1, 5))
            .await
            .expect("register");
        fake.put_scaling_policy(&put).await.expect("put");
        put.config.target_value = 70.0;
        fake.put_scaling_policy(&put).await.expect("put again");
        let policies = fake
            .describe_scaling_policies("service/c/web")
            .await
            .expect("describe");
        assert_eq!(policies.len(), 1);
        assert_eq!(
            policies[0].target_tracking.as_ref().map(|c| c.target_value),
            Some(70.0)
        );
        let mut alb = put.clone();
        alb.name = "web-alb".into();
        alb.config.predefined_metric = "ALBRequestCountPerTarget".into();
        assert!(
            fake.put_scaling_policy(&alb).await.is_err(),
            "needs a resource label"
        );
        fake.delete_scaling_policy("web-cpu", "service/c/web")
            .await
            .expect("delete");
        assert!(fake
            .delete_scaling_policy("web-cpu", "service/c/web")
            .await
            .is_err_and(|e| e.is_not_found()));
        fake.put_scaling_policy(&put).await.expect("put");
        fake.deregister_scalable_target("service/c/web")
            .await
            .expect("deregister");
        assert!(fake.scaling_policies("service/c/web").is_empty());
        assert!(fake
            .deregister_scalable_target("service/c/web")
            .await
            .is_err_and(|e| e.is_not_found()));
    }

    #[tokio::test]
    async fn the_scaler_stays_in_range_and_records_activities() {
        let fake = FakeAws::new();
        service(&fake, 2).await;
        fake.register_scalable_target(&input(1, 5))
            .await
            .expect("register");
        assert_eq!(fake.autoscale("service/c/web", 9), 5);
        assert_eq!(fake.service("c", "web").map(|s| s.desired_count), Some(5));
        let a = fake
            .latest_scaling_activity("service/c/web")
            .await
            .expect("read");
        assert_eq!(a.map(|a| a.status_code), Some("Successful".to_string()));
        let arn = fake
            .scalable_target("service/c/web")
            .and_then(|t| t.arn)
            .expect("arn");
        fake.tag_target(&arn, &[("k".to_string(), "v".to_string())].into())
            .await
            .expect("tag");
        fake.untag_target(&arn, &["owner".to_string()])
            .await
            .expect("untag");
        assert_eq!(
            fake.target_tags(&arn).await.expect("tags"),
            [("k".to_string(), "v".to_string())].into()
        );
    }
}
