//! Narrow AWS clients: one trait per AWS service, returning our own types.
//!
//! `sdk` implements them with the AWS SDK, `fake` in memory with ECS semantics for
//! controller tests, `guard` wraps any implementation with rate limits and metrics.

pub mod batch;
pub mod dry_run;
pub mod error;
// Test support only: compiled for the crate's own tests and for the integration tests
// (through the `test-support` feature they enable), never into the shipped binary.
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod fence;
pub mod guard;
pub mod observed;
pub mod priority;
pub mod rate_limit;
pub mod requests;
pub mod sdk;
pub mod types;

use async_trait::async_trait;

pub use error::{AwsError, AwsErrorKind};
use types::*;

/// Largest number of services one DescribeServices call accepts.
pub const DESCRIBE_SERVICES_MAX: usize = 10;
/// Largest number of load balancers one classic ELB DescribeTags call accepts.
pub const DESCRIBE_ELB_TAGS_MAX: usize = 20;
/// Largest number of clusters one DescribeClusters call accepts.
pub const DESCRIBE_CLUSTERS_MAX: usize = 100;
/// Largest number of capacity providers one DescribeCapacityProviders call accepts (its
/// answer comes 10 a page).
pub const DESCRIBE_CAPACITY_PROVIDERS_MAX: usize = 100;
/// Largest number of target groups one DescribeTargetGroups call describes (AWS answers
/// "You cannot describe more than '20' target groups at a time" beyond it).
pub const DESCRIBE_TARGET_GROUPS_MAX: usize = 20;
/// Largest number of resources one ELBv2 DescribeTags call accepts.
pub const DESCRIBE_ELBV2_TAGS_MAX: usize = 20;

/// ECS operations the operator uses.
#[async_trait]
pub trait EcsApi: Send + Sync {
    /// DescribeClusters with tags for up to [`DESCRIBE_CLUSTERS_MAX`] names; missing or
    /// INACTIVE clusters are returned as AWS returns them (INACTIVE) or left out.
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError>;
    /// CreateCluster (idempotent in ECS for an ACTIVE cluster of the same name).
    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<ClusterInfo, AwsError>;
    /// DeleteCluster.
    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError>;
    /// TagResource on any ECS ARN.
    async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<(), AwsError>;
    /// UntagResource on any ECS ARN: removes the tag keys (keys it lacks are ignored).
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError>;
    /// RegisterTaskDefinition.
    async fn register_task_definition(
        &self,
        input: &RegisterTaskDefinitionInput,
    ) -> Result<TaskDefRevision, AwsError>;
    /// DescribeTaskDefinition with tags; `None` when it does not exist.
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<TaskDefRevision>, AwsError>;
    /// ListTaskDefinitions of one family with status ACTIVE, oldest first, all pages.
    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError>;
    /// ListTaskDefinitions of every family with status ACTIVE, all pages (the bulk sweep).
    async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError>;
    /// DeregisterTaskDefinition.
    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError>;
    /// DescribeServices with tags for up to [`DESCRIBE_SERVICES_MAX`] names in one cluster;
    /// services that do not exist are left out.
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError>;
    /// ListServices of one cluster (ARNs, all pages); a missing cluster is NotFound.
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError>;
    /// CreateService.
    async fn create_service(&self, input: &CreateServiceInput) -> Result<ServiceInfo, AwsError>;
    /// UpdateService.
    async fn update_service(&self, input: &UpdateServiceInput) -> Result<ServiceInfo, AwsError>;
    /// DeleteService (the service must be scaled to 0 first).
    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError>;
    /// DescribeCapacityProviders with tags for up to [`DESCRIBE_CAPACITY_PROVIDERS_MAX`]
    /// names, all pages; missing ones are left out.
    async fn describe_capacity_providers(
        &self,
        names: &[String],
    ) -> Result<Vec<CapacityProvider>, AwsError>;
    /// CreateCapacityProvider for an Auto Scaling group.
    async fn create_capacity_provider(
        &self,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError>;
    /// UpdateCapacityProvider: managed scaling, termination protection and draining.
    async fn update_capacity_provider(
        &self,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError>;
    /// DeleteCapacityProvider (it must be attached to no cluster and used by no service).
    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError>;
    /// PutClusterCapacityProviders: replaces the cluster's whole set of providers and its
    /// default strategy.
    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError>;
}

/// EC2 operations the operator uses: launch templates only.
#[async_trait]
pub trait Ec2Api: Send + Sync {
    /// DescribeLaunchTemplates by name; `None` when it does not exist.
    async fn describe_launch_template(
        &self,
        name: &str,
    ) -> Result<Option<LaunchTemplate>, AwsError>;
    /// Every launch template carrying the tag `tag_key`, all pages (the bulk sweep).
    async fn describe_launch_templates_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<LaunchTemplate>, AwsError>;
    /// The description of one version (where the operator keeps the spec hash).
    async fn launch_template_version_description(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, AwsError>;
    /// The data of one version, as far as the operator manages it (`None`: no such
    /// version); compared with the spec when the version was not made by the operator.
    async fn launch_template_version_data(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<LaunchTemplateVersionData>, AwsError>;
    /// CreateLaunchTemplate with its first version.
    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        description: &str,
        tags: &Tags,
    ) -> Result<LaunchTemplate, AwsError>;
    /// CreateLaunchTemplateVersion; returns the new version number.
    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        description: &str,
    ) -> Result<i64, AwsError>;
    /// CreateTags on a launch template.
    async fn tag_launch_template(&self, id: &str, tags: &Tags) -> Result<(), AwsError>;
    /// DeleteTags on a launch template, by key whatever the value.
    async fn untag_launch_template(&self, id: &str, keys: &[String]) -> Result<(), AwsError>;
    /// DeleteLaunchTemplate.
    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError>;
    /// DescribeSubnets of these IDs (filtered by `subnet-id`, so that IDs that do not
    /// exist are left out instead of failing the whole call), all pages.
    async fn describe_subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError>;
    /// DescribeSecurityGroups of these IDs (filtered by `group-id`; missing ones are left
    /// out), all pages.
    async fn describe_security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError>;
    /// The names among `names` of key pairs that exist (DescribeKeyPairs filtered by
    /// `key-name`; missing ones are left out).
    async fn existing_key_pairs(&self, names: &[String]) -> Result<Vec<String>, AwsError>;
}

/// Auto Scaling operations the operator uses.
#[async_trait]
pub trait AutoScalingApi: Send + Sync {
    /// DescribeAutoScalingGroups for one name; `None` when it does not exist.
    async fn describe_group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError>;
    /// Every Auto Scaling group carrying the tag `tag_key`, 100 a page (the bulk sweep).
    async fn describe_groups_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError>;
    /// Every Auto Scaling group of the region, 100 a page (`import` looks for the group
    /// whose instances join a cluster).
    async fn describe_all_groups(&self) -> Result<Vec<AutoScalingGroup>, AwsError>;
    /// DescribeLaunchConfigurations for one name; `None` when it does not exist (`import`
    /// reads the launch configuration of a group made before launch templates).
    async fn describe_launch_configuration(
        &self,
        name: &str,
    ) -> Result<Option<LaunchConfiguration>, AwsError>;
    /// CreateAutoScalingGroup.
    async fn create_group(&self, input: &CreateGroupInput) -> Result<(), AwsError>;
    /// UpdateAutoScalingGroup.
    async fn update_group(&self, input: &UpdateGroupInput) -> Result<(), AwsError>;
    /// AttachLoadBalancers.
    async fn attach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError>;
    /// DetachLoadBalancers.
    async fn detach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError>;
    /// CreateOrUpdateTags (propagated at launch).
    async fn tag_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError>;
    /// DeleteTags on a group, by key whatever the value.
    async fn untag_group(&self, name: &str, keys: &[String]) -> Result<(), AwsError>;
    /// DeleteAutoScalingGroup with ForceDelete (terminates the instances).
    async fn delete_group(&self, name: &str) -> Result<(), AwsError>;
}

/// Classic Elastic Load Balancing operations the operator uses.
#[async_trait]
pub trait ElbApi: Send + Sync {
    /// DescribeLoadBalancers for one name; `None` when it does not exist.
    async fn describe_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ClassicLoadBalancer>, AwsError>;
    /// DescribeTags of one load balancer.
    async fn describe_tags(&self, name: &str) -> Result<Tags, AwsError>;
    /// DescribeLoadBalancers of every classic ELB of the region, all pages (the bulk sweep).
    async fn describe_all_load_balancers(&self) -> Result<Vec<ClassicLoadBalancer>, AwsError>;
    /// DescribeTags of up to [`DESCRIBE_ELB_TAGS_MAX`] load balancers in one call; those
    /// that do not exist are left out.
    async fn describe_tags_of(
        &self,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, Tags>, AwsError>;
    /// CreateLoadBalancer; returns the DNS name.
    async fn create_load_balancer(
        &self,
        input: &CreateLoadBalancerInput,
    ) -> Result<Option<String>, AwsError>;
    /// ConfigureHealthCheck.
    async fn configure_health_check(
        &self,
        name: &str,
        health_check: &crate::api::service::ElbHealthCheck,
    ) -> Result<(), AwsError>;
    /// CreateLoadBalancerListeners.
    async fn create_listeners(
        &self,
        name: &str,
        listeners: &[crate::api::service::Listener],
    ) -> Result<(), AwsError>;
    /// DeleteLoadBalancerListeners by load balancer port.
    async fn delete_listeners(&self, name: &str, ports: &[i32]) -> Result<(), AwsError>;
    /// AttachLoadBalancerToSubnets (a load balancer takes one subnet per Availability Zone).
    async fn attach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError>;
    /// DetachLoadBalancerFromSubnets (a load balancer keeps at least one).
    async fn detach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError>;
    /// ApplySecurityGroupsToLoadBalancer: replaces the whole set.
    async fn apply_security_groups(&self, name: &str, groups: &[String]) -> Result<(), AwsError>;
    /// AddTags.
    async fn add_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError>;
    /// RemoveTags, by key.
    async fn remove_tags(&self, name: &str, keys: &[String]) -> Result<(), AwsError>;
    /// DeleteLoadBalancer (idempotent in AWS).
    async fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError>;
}

/// Application Auto Scaling operations the operator uses, all on ECS services' desired
/// count: service namespace `ecs`, scalable dimension `ecs:service:DesiredCount`, resource
/// IDs `service/<cluster-name>/<service-name>`.
#[async_trait]
pub trait AppAutoScalingApi: Send + Sync {
    /// DescribeScalableTargets of one resource; `None` when it is not registered.
    async fn describe_scalable_target(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalableTarget>, AwsError>;
    /// RegisterScalableTarget: creates or updates the target; returns its ARN (where the
    /// API answers one).
    async fn register_scalable_target(
        &self,
        input: &RegisterScalableTargetInput,
    ) -> Result<Option<String>, AwsError>;
    /// DeregisterScalableTarget (AWS deletes its scaling policies with it); a target that
    /// is not registered is NotFound.
    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError>;
    /// ListTagsForResource of a scalable target ARN.
    async fn target_tags(&self, arn: &str) -> Result<Tags, AwsError>;
    /// TagResource on a scalable target ARN.
    async fn tag_target(&self, arn: &str, tags: &Tags) -> Result<(), AwsError>;
    /// UntagResource on a scalable target ARN, by key.
    async fn untag_target(&self, arn: &str, keys: &[String]) -> Result<(), AwsError>;
    /// DescribeScalingPolicies of one resource, all pages.
    async fn describe_scaling_policies(
        &self,
        resource_id: &str,
    ) -> Result<Vec<ScalingPolicy>, AwsError>;
    /// PutScalingPolicy of a target tracking policy (creates or replaces it by name).
    async fn put_scaling_policy(&self, input: &PutScalingPolicyInput) -> Result<(), AwsError>;
    /// DeleteScalingPolicy; a policy that does not exist is NotFound.
    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError>;
    /// The newest scaling activity of one resource (DescribeScalingActivities, one item).
    async fn latest_scaling_activity(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalingActivity>, AwsError>;
}

/// IAM operations the operator uses: reads only, to check references before creating
/// anything (IAM is global: the same answers in every region).
#[async_trait]
pub trait IamApi: Send + Sync {
    /// GetRole by name; `None` when it does not exist (NoSuchEntity). Returns the ARN.
    async fn get_role(&self, name: &str) -> Result<Option<String>, AwsError>;
    /// GetInstanceProfile by name; `None` when it does not exist. Returns the ARN.
    async fn get_instance_profile(&self, name: &str) -> Result<Option<String>, AwsError>;
}

/// Elastic Load Balancing v2 operations the operator uses: target groups it owns and the
/// listener rules that forward to them on an existing ALB listener. Never targets:
/// registering and deregistering them is ECS's job.
#[async_trait]
pub trait ElbV2Api: Send + Sync {
    /// DescribeTargetGroups for one name; `None` when it does not exist.
    async fn describe_target_group(&self, name: &str) -> Result<Option<TargetGroup>, AwsError>;
    /// DescribeTargetGroups for up to [`DESCRIBE_TARGET_GROUPS_MAX`] names, all pages (the
    /// bulk sweep). As in AWS, one name that does not exist fails the whole call with
    /// TargetGroupNotFound (NotFound).
    async fn describe_target_groups(&self, names: &[String]) -> Result<Vec<TargetGroup>, AwsError>;
    /// CreateTargetGroup with its health check and tags.
    async fn create_target_group(
        &self,
        input: &CreateTargetGroupInput,
    ) -> Result<TargetGroup, AwsError>;
    /// ModifyTargetGroup: the health check.
    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &TargetGroupHealthCheck,
    ) -> Result<(), AwsError>;
    /// ModifyTargetGroupAttributes: `deregistration_delay.timeout_seconds`.
    async fn set_deregistration_delay(&self, arn: &str, seconds: i32) -> Result<(), AwsError>;
    /// DescribeTargetGroupAttributes: `deregistration_delay.timeout_seconds`.
    async fn deregistration_delay(&self, arn: &str) -> Result<Option<i32>, AwsError>;
    /// DeleteTargetGroup; ResourceInUse while a rule or a service still uses it.
    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError>;
    /// DescribeTags of one ELBv2 resource (target group or rule).
    async fn describe_tags(&self, arn: &str) -> Result<Tags, AwsError>;
    /// DescribeTags of up to [`DESCRIBE_ELBV2_TAGS_MAX`] resources in one call, as (ARN,
    /// tags); a resource that does not exist fails the call (NotFound) or is left out.
    async fn describe_tags_of(&self, arns: &[String]) -> Result<Vec<(String, Tags)>, AwsError>;
    /// AddTags on one ELBv2 resource.
    async fn add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError>;
    /// RemoveTags on one ELBv2 resource, by key.
    async fn remove_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError>;
    /// DescribeListeners for one ARN; `None` when it does not exist.
    async fn describe_listener(&self, arn: &str) -> Result<Option<ElbV2Listener>, AwsError>;
    /// DescribeLoadBalancers for one ARN; `None` when it does not exist.
    async fn describe_load_balancer(
        &self,
        arn: &str,
    ) -> Result<Option<ElbV2LoadBalancer>, AwsError>;
    /// DescribeRules of one listener, all pages; a missing listener is NotFound.
    async fn describe_rules(&self, listener_arn: &str) -> Result<Vec<ListenerRule>, AwsError>;
    /// CreateRule forwarding to one target group.
    async fn create_rule(&self, input: &CreateRuleInput) -> Result<ListenerRule, AwsError>;
    /// ModifyRule: replaces the conditions and the forward action.
    async fn modify_rule(
        &self,
        arn: &str,
        conditions: &RuleConditions,
        target_group_arn: &str,
    ) -> Result<(), AwsError>;
    /// SetRulePriorities of one rule.
    async fn set_rule_priority(&self, arn: &str, priority: i32) -> Result<(), AwsError>;
    /// DeleteRule.
    async fn delete_rule(&self, arn: &str) -> Result<(), AwsError>;
}

/// The clients, shared by all controllers.
#[derive(Clone)]
pub struct AwsClients {
    /// ECS.
    pub ecs: std::sync::Arc<dyn EcsApi>,
    /// EC2.
    pub ec2: std::sync::Arc<dyn Ec2Api>,
    /// Auto Scaling.
    pub autoscaling: std::sync::Arc<dyn AutoScalingApi>,
    /// Classic ELB.
    pub elb: std::sync::Arc<dyn ElbApi>,
    /// Application Auto Scaling (services' desired count).
    pub app_autoscaling: std::sync::Arc<dyn AppAutoScalingApi>,
    /// IAM (reads only, for preflight checks).
    pub iam: std::sync::Arc<dyn IamApi>,
    /// Elastic Load Balancing v2 (managed target groups and listener rules).
    pub elbv2: std::sync::Arc<dyn ElbV2Api>,
}

/// Hands out the AWS clients of a region (a spec's `region`, or the operator's default).
pub trait AwsProvider: Send + Sync {
    /// Clients for `region`, or for the operator's default region when `None`.
    fn clients(&self, region: Option<&str>) -> AwsClients;
    /// The operator's default region.
    fn default_region(&self) -> String;
}
