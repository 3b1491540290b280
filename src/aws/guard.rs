//! Wraps any AWS client implementation with the client-side rate limiter and metrics, so
//! the SDK adapters and the in-memory fake stay free of both.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::batch::BatchingEcs;
use super::fence::{is_read_only, WriteFence};
use super::priority::Priority;
use super::rate_limit::{Bucket, RateLimiter};
use super::requests;
use super::types::*;
use super::{
    AppAutoScalingApi, AutoScalingApi, AwsClients, AwsError, Ec2Api, EcsApi, ElbApi, ElbV2Api,
    IamApi,
};
use crate::api::service::{ElbHealthCheck, Listener};
use crate::telemetry::metrics::{AwsCallLabels, Metrics, OperationLabels};

/// How long a describe waits for others to join its batch.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(20);

/// The shared part of every guarded client.
#[derive(Clone)]
pub struct Guard {
    limiter: Arc<RateLimiter>,
    metrics: Metrics,
    fence: Arc<WriteFence>,
}

impl Guard {
    /// A guard over one region's buckets; writes pass only while `fence` allows them.
    pub fn new(limiter: Arc<RateLimiter>, metrics: Metrics, fence: Arc<WriteFence>) -> Self {
        Self {
            limiter,
            metrics,
            fence,
        }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        bucket: Bucket,
        fut: impl Future<Output = Result<T, AwsError>>,
    ) -> Result<T, AwsError> {
        if self.limiter.start_tracking() {
            self.metrics.track_limiter(&self.limiter);
        }
        let priority = Priority::current();
        let waited = self.limiter.acquire(bucket, priority).await;
        // Checked after the rate limiter's wait, which can be long: leadership may have
        // ended meanwhile. A write still running at the deadline is cut off (no more SDK
        // retries); one sent before it reaches AWS well before the lease can be taken.
        let deadline = if is_read_only(operation) {
            None
        } else {
            self.fence.remaining(operation)?
        };
        let fut = async move {
            match deadline {
                Some(d) => tokio::time::timeout(d, fut)
                    .await
                    .unwrap_or_else(|_| Err(WriteFence::fenced(operation))),
                None => fut.await,
            }
        };
        self.metrics
            .rate_limit_wait
            .get_or_create(&OperationLabels { operation })
            .observe(waited.as_secs_f64());
        let (result, requests) = requests::counting(fut).await;
        // The token waited for paid for the first request; pages and retries are charged now.
        self.limiter
            .charge_extra(bucket, priority, requests.saturating_sub(1));
        self.metrics
            .aws_requests
            .get_or_create(&OperationLabels { operation })
            .inc_by(u64::from(requests.max(1)));
        let outcome = match &result {
            Ok(_) => "success",
            Err(e) => e.kind.label(),
        };
        if outcome == "throttled" {
            self.metrics
                .aws_throttles
                .get_or_create(&OperationLabels { operation })
                .inc();
            self.metrics
                .aws_bucket_throttles
                .get_or_create(&crate::telemetry::metrics::BucketLabels {
                    bucket: bucket.name(),
                })
                .inc();
        }
        self.metrics
            .aws_calls
            .get_or_create(&AwsCallLabels { operation, outcome })
            .inc();
        result
    }

    /// Wrap the clients of one region.
    pub fn wrap(&self, clients: AwsClients) -> AwsClients {
        AwsClients {
            ecs: Arc::new(Guarded {
                inner: clients.ecs,
                guard: self.clone(),
            }),
            ec2: Arc::new(Guarded {
                inner: clients.ec2,
                guard: self.clone(),
            }),
            autoscaling: Arc::new(Guarded {
                inner: clients.autoscaling,
                guard: self.clone(),
            }),
            elb: Arc::new(Guarded {
                inner: clients.elb,
                guard: self.clone(),
            }),
            app_autoscaling: Arc::new(Guarded {
                inner: clients.app_autoscaling,
                guard: self.clone(),
            }),
            iam: Arc::new(Guarded {
                inner: clients.iam,
                guard: self.clone(),
            }),
            elbv2: Arc::new(Guarded {
                inner: clients.elbv2,
                guard: self.clone(),
            }),
        }
    }
}

/// A client wrapped by a [`Guard`].
pub struct Guarded<T: ?Sized> {
    inner: Arc<T>,
    guard: Guard,
}

#[async_trait]
impl EcsApi for Guarded<dyn EcsApi> {
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError> {
        let f = self.inner.describe_clusters(names);
        self.guard
            .call("ecs:DescribeClusters", Bucket::EcsClusterRead, f)
            .await
    }
    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<ClusterInfo, AwsError> {
        let f = self.inner.create_cluster(name, tags);
        self.guard
            .call("ecs:CreateCluster", Bucket::EcsClusterModify, f)
            .await
    }
    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_cluster(name);
        self.guard
            .call("ecs:DeleteCluster", Bucket::EcsClusterModify, f)
            .await
    }
    async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let f = self.inner.tag_resource(arn, tags);
        self.guard
            .call("ecs:TagResource", Bucket::EcsTagModify, f)
            .await
    }
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        let f = self.inner.untag_resource(arn, keys);
        self.guard
            .call("ecs:UntagResource", Bucket::EcsTagModify, f)
            .await
    }
    async fn register_task_definition(
        &self,
        input: &RegisterTaskDefinitionInput,
    ) -> Result<TaskDefRevision, AwsError> {
        let f = self.inner.register_task_definition(input);
        self.guard
            .call("ecs:RegisterTaskDefinition", Bucket::EcsTaskDefModify, f)
            .await
    }
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<TaskDefRevision>, AwsError> {
        let f = self.inner.describe_task_definition(task_definition);
        self.guard
            .call("ecs:DescribeTaskDefinition", Bucket::EcsTaskDefRead, f)
            .await
    }
    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        let f = self.inner.list_task_definitions(family);
        self.guard
            .call("ecs:ListTaskDefinitions", Bucket::EcsTaskDefRead, f)
            .await
    }
    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError> {
        let f = self.inner.deregister_task_definition(arn);
        self.guard
            .call("ecs:DeregisterTaskDefinition", Bucket::EcsTaskDefModify, f)
            .await
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        let f = self.inner.describe_services(cluster, names);
        self.guard
            .call("ecs:DescribeServices", Bucket::EcsServiceRead, f)
            .await
    }
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        let f = self.inner.list_services(cluster);
        self.guard
            .call("ecs:ListServices", Bucket::EcsServiceRead, f)
            .await
    }
    async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError> {
        let f = self.inner.list_active_task_definitions();
        self.guard
            .call("ecs:ListTaskDefinitions", Bucket::EcsTaskDefRead, f)
            .await
    }
    async fn create_service(&self, input: &CreateServiceInput) -> Result<ServiceInfo, AwsError> {
        let f = self.inner.create_service(input);
        self.guard
            .call("ecs:CreateService", Bucket::EcsServiceModify, f)
            .await
    }
    async fn update_service(&self, input: &UpdateServiceInput) -> Result<ServiceInfo, AwsError> {
        let f = self.inner.update_service(input);
        self.guard
            .call("ecs:UpdateService", Bucket::EcsServiceModify, f)
            .await
    }
    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_service(cluster, name);
        self.guard
            .call("ecs:DeleteService", Bucket::EcsServiceModify, f)
            .await
    }
    // Capacity providers are cluster resources: ECS charges them to the cluster buckets.
    async fn describe_capacity_providers(
        &self,
        names: &[String],
    ) -> Result<Vec<CapacityProvider>, AwsError> {
        let f = self.inner.describe_capacity_providers(names);
        self.guard
            .call("ecs:DescribeCapacityProviders", Bucket::EcsClusterRead, f)
            .await
    }
    async fn create_capacity_provider(
        &self,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError> {
        let f = self.inner.create_capacity_provider(input);
        self.guard
            .call("ecs:CreateCapacityProvider", Bucket::EcsClusterModify, f)
            .await
    }
    async fn update_capacity_provider(
        &self,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError> {
        let f = self.inner.update_capacity_provider(name, settings);
        self.guard
            .call("ecs:UpdateCapacityProvider", Bucket::EcsClusterModify, f)
            .await
    }
    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_capacity_provider(name);
        self.guard
            .call("ecs:DeleteCapacityProvider", Bucket::EcsClusterModify, f)
            .await
    }
    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError> {
        let f = self
            .inner
            .put_cluster_capacity_providers(cluster, providers, default_strategy);
        self.guard
            .call(
                "ecs:PutClusterCapacityProviders",
                Bucket::EcsClusterModify,
                f,
            )
            .await
    }
}

#[async_trait]
impl Ec2Api for Guarded<dyn Ec2Api> {
    async fn describe_launch_template(
        &self,
        name: &str,
    ) -> Result<Option<LaunchTemplate>, AwsError> {
        let f = self.inner.describe_launch_template(name);
        self.guard
            .call("ec2:DescribeLaunchTemplates", Bucket::Ec2Read, f)
            .await
    }
    async fn describe_launch_templates_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<LaunchTemplate>, AwsError> {
        let f = self.inner.describe_launch_templates_tagged(tag_key);
        self.guard
            .call("ec2:DescribeLaunchTemplates", Bucket::Ec2Read, f)
            .await
    }
    async fn launch_template_version_description(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, AwsError> {
        let f = self.inner.launch_template_version_description(id, version);
        self.guard
            .call("ec2:DescribeLaunchTemplateVersions", Bucket::Ec2Read, f)
            .await
    }
    async fn launch_template_version_data(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<LaunchTemplateVersionData>, AwsError> {
        let f = self.inner.launch_template_version_data(id, version);
        self.guard
            .call("ec2:DescribeLaunchTemplateVersions", Bucket::Ec2Read, f)
            .await
    }
    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        description: &str,
        tags: &Tags,
    ) -> Result<LaunchTemplate, AwsError> {
        let f = self
            .inner
            .create_launch_template(name, data, description, tags);
        self.guard
            .call("ec2:CreateLaunchTemplate", Bucket::Ec2Modify, f)
            .await
    }
    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        description: &str,
    ) -> Result<i64, AwsError> {
        let f = self
            .inner
            .create_launch_template_version(id, data, description);
        self.guard
            .call("ec2:CreateLaunchTemplateVersion", Bucket::Ec2Modify, f)
            .await
    }
    async fn tag_launch_template(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        let f = self.inner.tag_launch_template(id, tags);
        self.guard
            .call("ec2:CreateTags", Bucket::Ec2Modify, f)
            .await
    }
    async fn untag_launch_template(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        let f = self.inner.untag_launch_template(id, keys);
        self.guard
            .call("ec2:DeleteTags", Bucket::Ec2Modify, f)
            .await
    }
    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_launch_template(id);
        self.guard
            .call("ec2:DeleteLaunchTemplate", Bucket::Ec2Modify, f)
            .await
    }
    async fn describe_subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
        let f = self.inner.describe_subnets(ids);
        self.guard
            .call("ec2:DescribeSubnets", Bucket::Ec2Read, f)
            .await
    }
    async fn describe_security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError> {
        let f = self.inner.describe_security_groups(ids);
        self.guard
            .call("ec2:DescribeSecurityGroups", Bucket::Ec2Read, f)
            .await
    }
    async fn existing_key_pairs(&self, names: &[String]) -> Result<Vec<String>, AwsError> {
        let f = self.inner.existing_key_pairs(names);
        self.guard
            .call("ec2:DescribeKeyPairs", Bucket::Ec2Read, f)
            .await
    }
}

#[async_trait]
impl IamApi for Guarded<dyn IamApi> {
    async fn get_role(&self, name: &str) -> Result<Option<String>, AwsError> {
        let f = self.inner.get_role(name);
        self.guard.call("iam:GetRole", Bucket::IamRead, f).await
    }
    async fn get_instance_profile(&self, name: &str) -> Result<Option<String>, AwsError> {
        let f = self.inner.get_instance_profile(name);
        self.guard
            .call("iam:GetInstanceProfile", Bucket::IamRead, f)
            .await
    }
}

#[async_trait]
impl AutoScalingApi for Guarded<dyn AutoScalingApi> {
    async fn describe_group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
        let f = self.inner.describe_group(name);
        self.guard
            .call(
                "autoscaling:DescribeAutoScalingGroups",
                Bucket::AutoScaling,
                f,
            )
            .await
    }
    async fn describe_all_groups(&self) -> Result<Vec<AutoScalingGroup>, AwsError> {
        let f = self.inner.describe_all_groups();
        self.guard
            .call(
                "autoscaling:DescribeAutoScalingGroups",
                Bucket::AutoScaling,
                f,
            )
            .await
    }
    async fn describe_groups_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        let f = self.inner.describe_groups_tagged(tag_key);
        self.guard
            .call(
                "autoscaling:DescribeAutoScalingGroups",
                Bucket::AutoScaling,
                f,
            )
            .await
    }
    async fn describe_launch_configuration(
        &self,
        name: &str,
    ) -> Result<Option<LaunchConfiguration>, AwsError> {
        let f = self.inner.describe_launch_configuration(name);
        self.guard
            .call(
                "autoscaling:DescribeLaunchConfigurations",
                Bucket::AutoScaling,
                f,
            )
            .await
    }
    async fn create_group(&self, input: &CreateGroupInput) -> Result<(), AwsError> {
        let f = self.inner.create_group(input);
        self.guard
            .call("autoscaling:CreateAutoScalingGroup", Bucket::AutoScaling, f)
            .await
    }
    async fn update_group(&self, input: &UpdateGroupInput) -> Result<(), AwsError> {
        let f = self.inner.update_group(input);
        self.guard
            .call("autoscaling:UpdateAutoScalingGroup", Bucket::AutoScaling, f)
            .await
    }
    async fn attach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        let f = self.inner.attach_load_balancers(name, elbs);
        self.guard
            .call("autoscaling:AttachLoadBalancers", Bucket::AutoScaling, f)
            .await
    }
    async fn detach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        let f = self.inner.detach_load_balancers(name, elbs);
        self.guard
            .call("autoscaling:DetachLoadBalancers", Bucket::AutoScaling, f)
            .await
    }
    async fn tag_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        let f = self.inner.tag_group(name, tags);
        self.guard
            .call("autoscaling:CreateOrUpdateTags", Bucket::AutoScaling, f)
            .await
    }
    async fn untag_group(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        let f = self.inner.untag_group(name, keys);
        self.guard
            .call("autoscaling:DeleteTags", Bucket::AutoScaling, f)
            .await
    }
    async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_group(name);
        self.guard
            .call("autoscaling:DeleteAutoScalingGroup", Bucket::AutoScaling, f)
            .await
    }
}

#[async_trait]
impl AppAutoScalingApi for Guarded<dyn AppAutoScalingApi> {
    async fn describe_scalable_target(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalableTarget>, AwsError> {
        let f = self.inner.describe_scalable_target(resource_id);
        self.guard
            .call(
                "application-autoscaling:DescribeScalableTargets",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn register_scalable_target(
        &self,
        input: &RegisterScalableTargetInput,
    ) -> Result<Option<String>, AwsError> {
        let f = self.inner.register_scalable_target(input);
        self.guard
            .call(
                "application-autoscaling:RegisterScalableTarget",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError> {
        let f = self.inner.deregister_scalable_target(resource_id);
        self.guard
            .call(
                "application-autoscaling:DeregisterScalableTarget",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn target_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let f = self.inner.target_tags(arn);
        self.guard
            .call(
                "application-autoscaling:ListTagsForResource",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn tag_target(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let f = self.inner.tag_target(arn, tags);
        self.guard
            .call(
                "application-autoscaling:TagResource",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn untag_target(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        let f = self.inner.untag_target(arn, keys);
        self.guard
            .call(
                "application-autoscaling:UntagResource",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn describe_scaling_policies(
        &self,
        resource_id: &str,
    ) -> Result<Vec<ScalingPolicy>, AwsError> {
        let f = self.inner.describe_scaling_policies(resource_id);
        self.guard
            .call(
                "application-autoscaling:DescribeScalingPolicies",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn put_scaling_policy(&self, input: &PutScalingPolicyInput) -> Result<(), AwsError> {
        let f = self.inner.put_scaling_policy(input);
        self.guard
            .call(
                "application-autoscaling:PutScalingPolicy",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_scaling_policy(name, resource_id);
        self.guard
            .call(
                "application-autoscaling:DeleteScalingPolicy",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
    async fn latest_scaling_activity(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalingActivity>, AwsError> {
        let f = self.inner.latest_scaling_activity(resource_id);
        self.guard
            .call(
                "application-autoscaling:DescribeScalingActivities",
                Bucket::AppAutoScaling,
                f,
            )
            .await
    }
}

#[async_trait]
impl ElbApi for Guarded<dyn ElbApi> {
    async fn describe_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ClassicLoadBalancer>, AwsError> {
        let f = self.inner.describe_load_balancer(name);
        self.guard
            .call(
                "elasticloadbalancing:DescribeLoadBalancers",
                Bucket::ElbRead,
                f,
            )
            .await
    }
    async fn describe_tags(&self, name: &str) -> Result<Tags, AwsError> {
        let f = self.inner.describe_tags(name);
        self.guard
            .call("elasticloadbalancing:DescribeTags", Bucket::ElbRead, f)
            .await
    }
    async fn describe_all_load_balancers(&self) -> Result<Vec<ClassicLoadBalancer>, AwsError> {
        let f = self.inner.describe_all_load_balancers();
        self.guard
            .call(
                "elasticloadbalancing:DescribeLoadBalancers",
                Bucket::ElbRead,
                f,
            )
            .await
    }
    async fn describe_tags_of(
        &self,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, Tags>, AwsError> {
        let f = self.inner.describe_tags_of(names);
        self.guard
            .call("elasticloadbalancing:DescribeTags", Bucket::ElbRead, f)
            .await
    }
    async fn create_load_balancer(
        &self,
        input: &CreateLoadBalancerInput,
    ) -> Result<Option<String>, AwsError> {
        let f = self.inner.create_load_balancer(input);
        self.guard
            .call(
                "elasticloadbalancing:CreateLoadBalancer",
                Bucket::ElbCreate,
                f,
            )
            .await
    }
    async fn configure_health_check(
        &self,
        name: &str,
        health_check: &ElbHealthCheck,
    ) -> Result<(), AwsError> {
        let f = self.inner.configure_health_check(name, health_check);
        self.guard
            .call(
                "elasticloadbalancing:ConfigureHealthCheck",
                Bucket::ElbModify,
                f,
            )
            .await
    }
    async fn create_listeners(&self, name: &str, listeners: &[Listener]) -> Result<(), AwsError> {
        let f = self.inner.create_listeners(name, listeners);
        let op = "elasticloadbalancing:CreateLoadBalancerListeners";
        self.guard.call(op, Bucket::ElbModify, f).await
    }
    async fn delete_listeners(&self, name: &str, ports: &[i32]) -> Result<(), AwsError> {
        let f = self.inner.delete_listeners(name, ports);
        let op = "elasticloadbalancing:DeleteLoadBalancerListeners";
        self.guard.call(op, Bucket::ElbModify, f).await
    }
    async fn attach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        let f = self.inner.attach_subnets(name, subnets);
        let op = "elasticloadbalancing:AttachLoadBalancerToSubnets";
        self.guard.call(op, Bucket::ElbModify, f).await
    }
    async fn detach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        let f = self.inner.detach_subnets(name, subnets);
        let op = "elasticloadbalancing:DetachLoadBalancerFromSubnets";
        self.guard.call(op, Bucket::ElbModify, f).await
    }
    async fn apply_security_groups(&self, name: &str, groups: &[String]) -> Result<(), AwsError> {
        let f = self.inner.apply_security_groups(name, groups);
        let op = "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer";
        self.guard.call(op, Bucket::ElbModify, f).await
    }
    async fn add_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        let f = self.inner.add_tags(name, tags);
        self.guard
            .call("elasticloadbalancing:AddTags", Bucket::ElbModify, f)
            .await
    }
    async fn remove_tags(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        let f = self.inner.remove_tags(name, keys);
        self.guard
            .call("elasticloadbalancing:RemoveTags", Bucket::ElbModify, f)
            .await
    }
    async fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_load_balancer(name);
        self.guard
            .call(
                "elasticloadbalancing:DeleteLoadBalancer",
                Bucket::ElbModify,
                f,
            )
            .await
    }
}

/// An [`AwsProvider`](super::AwsProvider) whose clients are guarded, with one set of rate
/// limiter buckets per region (AWS's buckets are per account and region).
pub struct GuardedProvider {
    inner: Arc<dyn super::AwsProvider>,
    metrics: Metrics,
    share: f64,
    background_share: f64,
    fence: Arc<WriteFence>,
    regions: std::sync::Mutex<std::collections::HashMap<String, AwsClients>>,
}

impl GuardedProvider {
    /// Guard `inner`'s clients, using `share` of every AWS bucket; writes always allowed.
    pub fn new(inner: Arc<dyn super::AwsProvider>, metrics: Metrics, share: f64) -> Self {
        Self {
            inner,
            metrics,
            share,
            background_share: share,
            fence: Arc::new(WriteFence::open()),
            regions: Default::default(),
        }
    }

    /// Limit background work (resyncs, sweeps) to `share` of every AWS bucket.
    pub fn with_background_share(mut self, share: f64) -> Self {
        self.background_share = share;
        self
    }

    /// Allow writes only while `fence` does (leader election).
    pub fn with_fence(mut self, fence: Arc<WriteFence>) -> Self {
        self.fence = fence;
        self
    }
}

impl super::AwsProvider for GuardedProvider {
    fn clients(&self, region: Option<&str>) -> AwsClients {
        let region = region
            .map(str::to_string)
            .unwrap_or_else(|| self.inner.default_region());
        let mut regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        regions
            .entry(region.clone())
            .or_insert_with(|| {
                let guard = Guard::new(
                    Arc::new(
                        RateLimiter::new(self.share).with_background_share(self.background_share),
                    ),
                    self.metrics.clone(),
                    self.fence.clone(),
                );
                let mut clients = guard.wrap(self.inner.clients(Some(&region)));
                // Batching sits outside the guard: a batch is one rate-limited call.
                clients.ecs = Arc::new(BatchingEcs::new(clients.ecs, BATCH_WINDOW));
                clients
            })
            .clone()
    }

    fn default_region(&self) -> String {
        self.inner.default_region()
    }
}

#[async_trait]
impl ElbV2Api for Guarded<dyn ElbV2Api> {
    async fn describe_target_group(&self, name: &str) -> Result<Option<TargetGroup>, AwsError> {
        let f = self.inner.describe_target_group(name);
        self.guard
            .call(
                "elasticloadbalancing:DescribeTargetGroups",
                Bucket::ElbV2Read,
                f,
            )
            .await
    }
    async fn describe_target_groups(&self, names: &[String]) -> Result<Vec<TargetGroup>, AwsError> {
        let f = self.inner.describe_target_groups(names);
        self.guard
            .call(
                "elasticloadbalancing:DescribeTargetGroups",
                Bucket::ElbV2Read,
                f,
            )
            .await
    }
    async fn create_target_group(
        &self,
        input: &CreateTargetGroupInput,
    ) -> Result<TargetGroup, AwsError> {
        let f = self.inner.create_target_group(input);
        self.guard
            .call(
                "elasticloadbalancing:CreateTargetGroup",
                Bucket::ElbV2Modify,
                f,
            )
            .await
    }
    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &TargetGroupHealthCheck,
    ) -> Result<(), AwsError> {
        let f = self.inner.modify_target_group(arn, health_check);
        self.guard
            .call(
                "elasticloadbalancing:ModifyTargetGroup",
                Bucket::ElbV2Modify,
                f,
            )
            .await
    }
    async fn set_deregistration_delay(&self, arn: &str, seconds: i32) -> Result<(), AwsError> {
        let f = self.inner.set_deregistration_delay(arn, seconds);
        self.guard
            .call(
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                Bucket::ElbV2Modify,
                f,
            )
            .await
    }
    async fn deregistration_delay(&self, arn: &str) -> Result<Option<i32>, AwsError> {
        let f = self.inner.deregistration_delay(arn);
        self.guard
            .call(
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                Bucket::ElbV2Read,
                f,
            )
            .await
    }
    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_target_group(arn);
        self.guard
            .call(
                "elasticloadbalancing:DeleteTargetGroup",
                Bucket::ElbV2Modify,
                f,
            )
            .await
    }
    async fn describe_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let f = self.inner.describe_tags(arn);
        self.guard
            .call("elasticloadbalancing:DescribeTags", Bucket::ElbV2Read, f)
            .await
    }
    async fn describe_tags_of(&self, arns: &[String]) -> Result<Vec<(String, Tags)>, AwsError> {
        let f = self.inner.describe_tags_of(arns);
        self.guard
            .call("elasticloadbalancing:DescribeTags", Bucket::ElbV2Read, f)
            .await
    }
    async fn add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let f = self.inner.add_tags(arn, tags);
        self.guard
            .call("elasticloadbalancing:AddTags", Bucket::ElbV2Modify, f)
            .await
    }
    async fn remove_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        let f = self.inner.remove_tags(arn, keys);
        self.guard
            .call("elasticloadbalancing:RemoveTags", Bucket::ElbV2Modify, f)
            .await
    }
    async fn describe_listener(&self, arn: &str) -> Result<Option<ElbV2Listener>, AwsError> {
        let f = self.inner.describe_listener(arn);
        self.guard
            .call(
                "elasticloadbalancing:DescribeListeners",
                Bucket::ElbV2Read,
                f,
            )
            .await
    }
    async fn describe_load_balancer(
        &self,
        arn: &str,
    ) -> Result<Option<ElbV2LoadBalancer>, AwsError> {
        let f = self.inner.describe_load_balancer(arn);
        self.guard
            .call(
                "elasticloadbalancing:DescribeLoadBalancers",
                Bucket::ElbV2Read,
                f,
            )
            .await
    }
    async fn describe_rules(&self, listener_arn: &str) -> Result<Vec<ListenerRule>, AwsError> {
        let f = self.inner.describe_rules(listener_arn);
        self.guard
            .call("elasticloadbalancing:DescribeRules", Bucket::ElbV2Read, f)
            .await
    }
    async fn create_rule(&self, input: &CreateRuleInput) -> Result<ListenerRule, AwsError> {
        let f = self.inner.create_rule(input);
        self.guard
            .call("elasticloadbalancing:CreateRule", Bucket::ElbV2Modify, f)
            .await
    }
    async fn modify_rule(
        &self,
        arn: &str,
        conditions: &RuleConditions,
        target_group_arn: &str,
    ) -> Result<(), AwsError> {
        let f = self.inner.modify_rule(arn, conditions, target_group_arn);
        self.guard
            .call("elasticloadbalancing:ModifyRule", Bucket::ElbV2Modify, f)
            .await
    }
    async fn set_rule_priority(&self, arn: &str, priority: i32) -> Result<(), AwsError> {
        let f = self.inner.set_rule_priority(arn, priority);
        self.guard
            .call(
                "elasticloadbalancing:SetRulePriorities",
                Bucket::ElbV2Modify,
                f,
            )
            .await
    }
    async fn delete_rule(&self, arn: &str) -> Result<(), AwsError> {
        let f = self.inner.delete_rule(arn);
        self.guard
            .call("elasticloadbalancing:DeleteRule", Bucket::ElbV2Modify, f)
            .await
    }
}
