//! [`EcsApi`] with the AWS SDK.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ecs::types as ecs;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::convert::{build_error, malformed, non_empty, rfc3339, tags_from};
use super::sdk_error;
use crate::api::service as svc;
use crate::api::task_def as td;
use crate::aws::error::{AwsError, AwsErrorKind};
use crate::aws::types::*;
use crate::aws::{EcsApi, DESCRIBE_CLUSTERS_MAX, DESCRIBE_SERVICES_MAX};

/// ECS client.
#[derive(Clone, Debug)]
pub struct SdkEcs {
    client: aws_sdk_ecs::Client,
    /// The same client for writes: no blind retries (see [`super::retry::NoBlindRetry`]).
    writer: aws_sdk_ecs::Client,
}

impl SdkEcs {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        let writer = aws_sdk_ecs::Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_classifier(super::retry::NoBlindRetry)
                .build(),
        );
        Self { client, writer }
    }
}

#[async_trait]
impl EcsApi for SdkEcs {
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError> {
        const OP: &str = "ecs:DescribeClusters";
        let mut out = Vec::with_capacity(names.len());
        // An empty list would describe the cluster named "default".
        for chunk in names.chunks(DESCRIBE_CLUSTERS_MAX) {
            let resp = self
                .client
                .describe_clusters()
                .set_clusters(Some(chunk.to_vec()))
                .include(ecs::ClusterField::Tags)
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            check_failures(OP, resp.failures())?;
            out.extend(resp.clusters().iter().map(cluster_info));
        }
        Ok(out)
    }

    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<ClusterInfo, AwsError> {
        const OP: &str = "ecs:CreateCluster";
        let resp = self
            .writer
            .create_cluster()
            .cluster_name(name)
            .set_tags(non_empty(ecs_tags(tags)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let cluster = resp.cluster().ok_or_else(|| malformed(OP, "cluster"))?;
        let mut info = cluster_info(cluster);
        // CreateCluster does not always echo the tags; they were set as requested.
        if info.tags.is_empty() {
            info.tags = tags.clone();
        }
        Ok(info)
    }

    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeleteCluster";
        self.writer
            .delete_cluster()
            .cluster(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "ecs:TagResource";
        if tags.is_empty() {
            return Ok(());
        }
        self.writer
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "ecs:UntagResource";
        // ECS rejects an empty key list; nothing to remove is no call at all.
        if keys.is_empty() {
            return Ok(());
        }
        self.writer
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn register_task_definition(
        &self,
        input: &RegisterTaskDefinitionInput,
    ) -> Result<TaskDefRevision, AwsError> {
        const OP: &str = "ecs:RegisterTaskDefinition";
        let d = &input.definition;
        let containers = d
            .container_definitions
            .iter()
            .map(container_definition)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error(OP, e))?;
        let resp = self
            .writer
            .register_task_definition()
            .family(&input.family)
            .set_container_definitions(Some(containers))
            .set_network_mode(
                d.network_mode
                    .map(|m| ecs::NetworkMode::from(network_mode(m))),
            )
            .set_requires_compatibilities(non_empty(
                d.requires_compatibilities
                    .iter()
                    .map(|c| ecs::Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .set_cpu(d.cpu.as_ref().map(int_or_string))
            .set_memory(d.memory.as_ref().map(int_or_string))
            .set_execution_role_arn(d.execution_role_arn.clone())
            .set_task_role_arn(d.task_role_arn.clone())
            .set_volumes(non_empty(d.volumes.iter().map(volume).collect()))
            .set_placement_constraints(non_empty(
                d.placement_constraints
                    .iter()
                    .map(|c| {
                        ecs::TaskDefinitionPlacementConstraint::builder()
                            .r#type(ecs::TaskDefinitionPlacementConstraintType::from(
                                c.type_.as_str(),
                            ))
                            .set_expression(c.expression.clone())
                            .build()
                    })
                    .collect(),
            ))
            .set_runtime_platform(d.runtime_platform.as_ref().map(|p| {
                ecs::RuntimePlatform::builder()
                    .set_cpu_architecture(
                        p.cpu_architecture
                            .as_deref()
                            .map(ecs::CpuArchitecture::from),
                    )
                    .set_operating_system_family(
                        p.operating_system_family
                            .as_deref()
                            .map(ecs::OsFamily::from),
                    )
                    .build()
            }))
            .set_tags(non_empty(ecs_tags(&input.tags)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let def = resp
            .task_definition()
            .ok_or_else(|| malformed(OP, "taskDefinition"))?;
        let mut rev = task_def_revision(def, resp.tags());
        if rev.tags.is_empty() {
            rev.tags = input.tags.clone();
        }
        Ok(rev)
    }

    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<TaskDefRevision>, AwsError> {
        const OP: &str = "ecs:DescribeTaskDefinition";
        let resp = match self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .include(ecs::TaskDefinitionField::Tags)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => {
                let err = sdk_error(OP, e);
                return if task_definition_missing(&err) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(resp
            .task_definition()
            .map(|def| task_def_revision(def, resp.tags())))
    }

    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ecs:ListTaskDefinitions";
        let mut pages = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .status(ecs::TaskDefinitionStatus::Active)
            .sort(ecs::SortOrder::Asc)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(arn) = pages.next().await {
            let arn = arn.map_err(|e| sdk_error(OP, e))?;
            // familyPrefix matches every family that starts with it ("web" lists "web2").
            if arn_family(&arn) == Some(family) {
                out.push(arn);
            }
        }
        Ok(out)
    }

    async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ecs:ListTaskDefinitions";
        let mut pages = self
            .client
            .list_task_definitions()
            .status(ecs::TaskDefinitionStatus::Active)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(arn) = pages.next().await {
            out.push(arn.map_err(|e| sdk_error(OP, e))?);
        }
        Ok(out)
    }

    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ecs:ListServices";
        let mut pages = self
            .client
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(arn) = pages.next().await {
            out.push(arn.map_err(|e| sdk_error(OP, e))?);
        }
        Ok(out)
    }

    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeregisterTaskDefinition";
        self.writer
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        const OP: &str = "ecs:DescribeServices";
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(DESCRIBE_SERVICES_MAX) {
            let resp = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ecs::ServiceField::Tags)
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            check_failures(OP, resp.failures())?;
            out.extend(resp.services().iter().map(service_info));
        }
        Ok(out)
    }

    async fn create_service(&self, input: &CreateServiceInput) -> Result<ServiceInfo, AwsError> {
        const OP: &str = "ecs:CreateService";
        let resp = self
            .writer
            .create_service()
            .cluster(&input.cluster)
            .service_name(&input.name)
            .task_definition(&input.task_definition)
            .desired_count(input.desired_count)
            .set_launch_type(input.launch_type.map(|l| ecs::LaunchType::from(l.as_str())))
            .set_capacity_provider_strategy(non_empty(
                strategy(&input.capacity_provider_strategy).map_err(|e| build_error(OP, e))?,
            ))
            .set_role(input.role.clone())
            .set_deployment_configuration(
                input
                    .deployment_configuration
                    .as_ref()
                    .map(deployment_configuration),
            )
            .set_health_check_grace_period_seconds(input.health_check_grace_period_seconds)
            .set_network_configuration(
                input
                    .network_configuration
                    .as_ref()
                    .map(network_configuration)
                    .transpose()
                    .map_err(|e| build_error(OP, e))?,
            )
            .set_placement_strategy(non_empty(
                input
                    .placement_strategy
                    .iter()
                    .map(placement_strategy)
                    .collect(),
            ))
            .set_placement_constraints(non_empty(
                input
                    .placement_constraints
                    .iter()
                    .map(placement_constraint)
                    .collect(),
            ))
            .set_load_balancers(non_empty(
                input.load_balancers.iter().map(load_balancer).collect(),
            ))
            .set_tags(non_empty(ecs_tags(&input.tags)))
            .set_client_token(Some(input.client_token.clone()).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let service = resp.service().ok_or_else(|| malformed(OP, "service"))?;
        let mut info = service_info(service);
        if info.tags.is_empty() {
            info.tags = input.tags.clone();
        }
        Ok(info)
    }

    async fn update_service(&self, input: &UpdateServiceInput) -> Result<ServiceInfo, AwsError> {
        const OP: &str = "ecs:UpdateService";
        let resp = self
            .writer
            .update_service()
            .cluster(&input.cluster)
            .service(&input.name)
            .set_task_definition(input.task_definition.clone())
            .set_desired_count(input.desired_count)
            .set_capacity_provider_strategy(
                input
                    .capacity_provider_strategy
                    .as_deref()
                    .map(strategy)
                    .transpose()
                    .map_err(|e| build_error(OP, e))?,
            )
            .set_deployment_configuration(
                input
                    .deployment_configuration
                    .as_ref()
                    .map(deployment_configuration),
            )
            .set_health_check_grace_period_seconds(input.health_check_grace_period_seconds)
            .set_network_configuration(
                input
                    .network_configuration
                    .as_ref()
                    .map(network_configuration)
                    .transpose()
                    .map_err(|e| build_error(OP, e))?,
            )
            // Some(empty) is sent as an empty list, which clears the setting.
            .set_placement_strategy(
                input
                    .placement_strategy
                    .as_ref()
                    .map(|s| s.iter().map(placement_strategy).collect()),
            )
            .set_placement_constraints(
                input
                    .placement_constraints
                    .as_ref()
                    .map(|c| c.iter().map(placement_constraint).collect()),
            )
            // Some(empty) is sent as an empty list, which detaches every load balancer.
            .set_load_balancers(
                input
                    .load_balancers
                    .as_ref()
                    .map(|lbs| lbs.iter().map(load_balancer).collect()),
            )
            .set_force_new_deployment(Some(input.force_new_deployment).filter(|f| *f))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let service = resp.service().ok_or_else(|| malformed(OP, "service"))?;
        Ok(service_info(service))
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeleteService";
        self.writer
            .delete_service()
            .cluster(cluster)
            .service(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn describe_capacity_providers(
        &self,
        names: &[String],
    ) -> Result<Vec<CapacityProvider>, AwsError> {
        const OP: &str = "ecs:DescribeCapacityProviders";
        // An empty list would describe every provider of the account.
        if names.is_empty() {
            return Ok(Vec::new());
        }
        // ECS answers at most 10 providers a page, whatever the names asked for.
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_capacity_providers()
                .set_capacity_providers(Some(names.to_vec()))
                .include(ecs::CapacityProviderField::Tags)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            check_failures(OP, resp.failures())?;
            out.extend(resp.capacity_providers().iter().map(capacity_provider));
            match resp.next_token() {
                Some(t) if !t.is_empty() && Some(t) != token.as_deref() => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn create_capacity_provider(
        &self,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError> {
        const OP: &str = "ecs:CreateCapacityProvider";
        let settings = &input.settings;
        let provider = ecs::AutoScalingGroupProvider::builder()
            .auto_scaling_group_arn(&input.auto_scaling_group_arn)
            .managed_scaling(managed_scaling(settings.managed_scaling.as_ref()))
            .managed_termination_protection(termination_protection(
                settings.managed_termination_protection,
            ))
            .managed_draining(draining(settings.managed_draining))
            .build()
            .map_err(|e| build_error(OP, e))?;
        let resp = self
            .writer
            .create_capacity_provider()
            .name(&input.name)
            .auto_scaling_group_provider(provider)
            .set_tags(non_empty(ecs_tags(&input.tags)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let p = resp
            .capacity_provider()
            .ok_or_else(|| malformed(OP, "capacityProvider"))?;
        let mut out = capacity_provider(p);
        if out.tags.is_empty() {
            out.tags = input.tags.clone();
        }
        Ok(out)
    }

    async fn update_capacity_provider(
        &self,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError> {
        const OP: &str = "ecs:UpdateCapacityProvider";
        let update = ecs::AutoScalingGroupProviderUpdate::builder()
            .managed_scaling(managed_scaling(settings.managed_scaling.as_ref()))
            .managed_termination_protection(termination_protection(
                settings.managed_termination_protection,
            ))
            .managed_draining(draining(settings.managed_draining))
            .build();
        let resp = self
            .writer
            .update_capacity_provider()
            .name(name)
            .auto_scaling_group_provider(update)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let p = resp
            .capacity_provider()
            .ok_or_else(|| malformed(OP, "capacityProvider"))?;
        Ok(capacity_provider(p))
    }

    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeleteCapacityProvider";
        self.writer
            .delete_capacity_provider()
            .capacity_provider(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError> {
        const OP: &str = "ecs:PutClusterCapacityProviders";
        // Both lists are required: empty ones clear the set and the strategy.
        let resp = self
            .writer
            .put_cluster_capacity_providers()
            .cluster(cluster)
            .set_capacity_providers(Some(providers.to_vec()))
            .set_default_capacity_provider_strategy(Some(
                strategy(default_strategy).map_err(|e| build_error(OP, e))?,
            ))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let c = resp.cluster().ok_or_else(|| malformed(OP, "cluster"))?;
        Ok(cluster_info(c))
    }
}

fn load_balancer(lb: &ServiceLoadBalancerRef) -> ecs::LoadBalancer {
    ecs::LoadBalancer::builder()
        .set_load_balancer_name(lb.load_balancer_name.clone())
        .set_target_group_arn(lb.target_group_arn.clone())
        .container_name(&lb.container_name)
        .container_port(lb.container_port)
        .build()
}

/// Describe calls report absent resources as failures with reason MISSING: those are left
/// out. Any other failure reason means the answer is incomplete, so it is an error rather
/// than a resource silently reported as absent.
fn check_failures(operation: &'static str, failures: &[ecs::Failure]) -> Result<(), AwsError> {
    match failures.iter().find(|f| f.reason() != Some("MISSING")) {
        None => Ok(()),
        Some(f) => Err(AwsError::new(
            AwsErrorKind::Transient,
            operation,
            f.reason().unwrap_or("Failure"),
            format!(
                "{}: {}",
                f.arn().unwrap_or_default(),
                f.detail().unwrap_or_default()
            ),
        )),
    }
}

/// DescribeTaskDefinition answers a ClientException "Unable to describe task definition."
/// for a family or revision that does not exist.
fn task_definition_missing(err: &AwsError) -> bool {
    let message = err.message.to_ascii_lowercase();
    err.kind == AwsErrorKind::NotFound
        || (err.code == "ClientException"
            && (message.contains("unable to describe task definition")
                || message.contains("not found")
                || message.contains("does not exist")))
}

/// The family of a task definition ARN (`…:task-definition/family:revision`) or of a
/// `family:revision` string.
pub(crate) fn arn_family(arn: &str) -> Option<&str> {
    let rest = arn.rsplit_once("task-definition/").map_or(arn, |(_, r)| r);
    rest.rsplit_once(':').map(|(family, _)| family)
}

fn ecs_tags(tags: &Tags) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_of(tags: &[ecs::Tag]) -> Tags {
    tags_from(tags.iter().map(|t| (t.key(), t.value())))
}

fn cluster_info(c: &ecs::Cluster) -> ClusterInfo {
    ClusterInfo {
        arn: c.cluster_arn().unwrap_or_default().to_string(),
        name: c.cluster_name().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        registered_container_instances: c.registered_container_instances_count(),
        running_tasks: c.running_tasks_count(),
        pending_tasks: c.pending_tasks_count(),
        active_services: c.active_services_count(),
        capacity_providers: c.capacity_providers().to_vec(),
        default_capacity_provider_strategy: strategy_items(c.default_capacity_provider_strategy()),
        tags: tags_of(c.tags()),
    }
}

fn strategy(
    items: &[StrategyItem],
) -> Result<Vec<ecs::CapacityProviderStrategyItem>, aws_smithy_types::error::operation::BuildError>
{
    items
        .iter()
        .map(|i| {
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&i.capacity_provider)
                .weight(i.weight)
                .base(i.base)
                .build()
        })
        .collect()
}

fn strategy_items(items: &[ecs::CapacityProviderStrategyItem]) -> Vec<StrategyItem> {
    items
        .iter()
        .map(|i| StrategyItem {
            capacity_provider: i.capacity_provider().to_string(),
            weight: i.weight(),
            base: i.base(),
        })
        .collect()
}

fn managed_scaling(m: Option<&ManagedScalingSettings>) -> ecs::ManagedScaling {
    match m {
        Some(m) => ecs::ManagedScaling::builder()
            .status(ecs::ManagedScalingStatus::Enabled)
            .target_capacity(m.target_capacity)
            .minimum_scaling_step_size(m.minimum_scaling_step_size)
            .maximum_scaling_step_size(m.maximum_scaling_step_size)
            .instance_warmup_period(m.instance_warmup_period)
            .build(),
        None => ecs::ManagedScaling::builder()
            .status(ecs::ManagedScalingStatus::Disabled)
            .build(),
    }
}

fn termination_protection(on: bool) -> ecs::ManagedTerminationProtection {
    if on {
        ecs::ManagedTerminationProtection::Enabled
    } else {
        ecs::ManagedTerminationProtection::Disabled
    }
}

fn draining(on: bool) -> ecs::ManagedDraining {
    if on {
        ecs::ManagedDraining::Enabled
    } else {
        ecs::ManagedDraining::Disabled
    }
}

fn capacity_provider(p: &ecs::CapacityProvider) -> CapacityProvider {
    let asg = p.auto_scaling_group_provider();
    let scaling = asg.and_then(|a| a.managed_scaling());
    let managed_scaling = scaling
        .filter(|m| m.status() == Some(&ecs::ManagedScalingStatus::Enabled))
        .map(|m| ManagedScalingSettings {
            // What ECS leaves out is its default.
            target_capacity: m.target_capacity().unwrap_or(100),
            minimum_scaling_step_size: m.minimum_scaling_step_size().unwrap_or(1),
            maximum_scaling_step_size: m.maximum_scaling_step_size().unwrap_or(10000),
            instance_warmup_period: m.instance_warmup_period().unwrap_or(300),
        });
    CapacityProvider {
        arn: p.capacity_provider_arn().unwrap_or_default().to_string(),
        name: p.name().unwrap_or_default().to_string(),
        status: p
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        update_status: p.update_status().map(|s| s.as_str().to_string()),
        auto_scaling_group_arn: asg
            .map(|a| a.auto_scaling_group_arn().to_string())
            .unwrap_or_default(),
        settings: CapacityProviderSettings {
            managed_scaling,
            managed_termination_protection: asg.and_then(|a| a.managed_termination_protection())
                == Some(&ecs::ManagedTerminationProtection::Enabled),
            // ECS's default is ENABLED.
            managed_draining: asg.and_then(|a| a.managed_draining())
                != Some(&ecs::ManagedDraining::Disabled),
        },
        tags: tags_of(p.tags()),
    }
}

fn task_def_revision(d: &ecs::TaskDefinition, tags: &[ecs::Tag]) -> TaskDefRevision {
    TaskDefRevision {
        arn: d.task_definition_arn().unwrap_or_default().to_string(),
        family: d.family().unwrap_or_default().to_string(),
        revision: d.revision(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        tags: tags_of(tags),
        definition: Some(registered_spec(d)),
        unmodeled: unmodeled_fields(d),
    }
}

/// Fields of a registered definition an EcsTaskDef cannot state, by their API names.
fn unmodeled_fields(d: &ecs::TaskDefinition) -> Vec<String> {
    let mut out: Vec<&str> = Vec::new();
    let task = [
        ("pidMode", d.pid_mode().is_some()),
        ("ipcMode", d.ipc_mode().is_some()),
        ("proxyConfiguration", d.proxy_configuration().is_some()),
        (
            "inferenceAccelerators",
            !d.inference_accelerators().is_empty(),
        ),
        ("ephemeralStorage", d.ephemeral_storage().is_some()),
    ];
    out.extend(task.iter().filter(|(_, p)| *p).map(|(n, _)| *n));
    for v in d.volumes() {
        if v.docker_volume_configuration().is_some() {
            out.push("volumes.dockerVolumeConfiguration");
        }
        if v.efs_volume_configuration().is_some() {
            out.push("volumes.efsVolumeConfiguration");
        }
        if v.fsx_windows_file_server_volume_configuration().is_some() {
            out.push("volumes.fsxWindowsFileServerVolumeConfiguration");
        }
    }
    for c in d.container_definitions() {
        let container = [
            ("linuxParameters", c.linux_parameters().is_some()),
            (
                "repositoryCredentials",
                c.repository_credentials().is_some(),
            ),
            (
                "firelensConfiguration",
                c.firelens_configuration().is_some(),
            ),
            ("systemControls", !c.system_controls().is_empty()),
            (
                "resourceRequirements",
                !c.resource_requirements().is_empty(),
            ),
            (
                "dockerSecurityOptions",
                !c.docker_security_options().is_empty(),
            ),
            ("environmentFiles", !c.environment_files().is_empty()),
            ("interactive", c.interactive().is_some()),
            ("pseudoTerminal", c.pseudo_terminal().is_some()),
            (
                "logConfiguration.secretOptions",
                c.log_configuration()
                    .is_some_and(|l| !l.secret_options().is_empty()),
            ),
        ];
        out.extend(container.iter().filter(|(_, p)| *p).map(|(n, _)| *n));
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter().map(str::to_string).collect()
}

/// What a registered revision holds, in the spec's terms: the inverse of the request
/// RegisterTaskDefinition is sent (fields the spec does not model are left out). Kept as
/// ECS returns it; [`crate::planning::task_def::spec_from_registered`] drops the defaults
/// ECS fills in.
fn registered_spec(d: &ecs::TaskDefinition) -> td::EcsTaskDefSpec {
    td::EcsTaskDefSpec {
        family: d.family().map(str::to_string),
        container_definitions: d
            .container_definitions()
            .iter()
            .map(registered_container)
            .collect(),
        network_mode: d.network_mode().and_then(|m| match m.as_str() {
            "bridge" => Some(td::NetworkMode::Bridge),
            "host" => Some(td::NetworkMode::Host),
            "awsvpc" => Some(td::NetworkMode::Awsvpc),
            "none" => Some(td::NetworkMode::None),
            _ => None,
        }),
        requires_compatibilities: d
            .requires_compatibilities()
            .iter()
            .filter_map(|c| match c.as_str() {
                "EC2" => Some(td::LaunchType::Ec2),
                "FARGATE" => Some(td::LaunchType::Fargate),
                "EXTERNAL" => Some(td::LaunchType::External),
                _ => None,
            })
            .collect(),
        cpu: d.cpu().map(|c| IntOrString::String(c.to_string())),
        memory: d.memory().map(|m| IntOrString::String(m.to_string())),
        execution_role_arn: d.execution_role_arn().map(str::to_string),
        task_role_arn: d.task_role_arn().map(str::to_string),
        volumes: d
            .volumes()
            .iter()
            .map(|v| td::Volume {
                name: v.name().unwrap_or_default().to_string(),
                host: v.host().map(|h| td::HostVolume {
                    source_path: h.source_path().map(str::to_string),
                }),
            })
            .collect(),
        placement_constraints: d
            .placement_constraints()
            .iter()
            .map(|c| td::TaskPlacementConstraint {
                type_: c
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                expression: c.expression().map(str::to_string),
            })
            .collect(),
        runtime_platform: d.runtime_platform().map(|p| td::RuntimePlatform {
            cpu_architecture: p.cpu_architecture().map(|a| a.as_str().to_string()),
            operating_system_family: p.operating_system_family().map(|o| o.as_str().to_string()),
        }),
        ..Default::default()
    }
}

fn registered_container(c: &ecs::ContainerDefinition) -> td::ContainerDefinition {
    td::ContainerDefinition {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        // ECS reports 0 CPU units for a container registered without any.
        cpu: Some(c.cpu()).filter(|c| *c != 0),
        memory: c.memory(),
        memory_reservation: c.memory_reservation(),
        essential: c.essential(),
        command: c.command().to_vec(),
        entry_point: c.entry_point().to_vec(),
        working_directory: c.working_directory().map(str::to_string),
        user: c.user().map(str::to_string),
        environment: c
            .environment()
            .iter()
            .map(|e| td::KeyValuePair {
                name: e.name().unwrap_or_default().to_string(),
                value: e.value().unwrap_or_default().to_string(),
            })
            .collect(),
        secrets: c
            .secrets()
            .iter()
            .map(|s| td::Secret {
                name: s.name().to_string(),
                value_from: s.value_from().to_string(),
            })
            .collect(),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| td::PortMapping {
                container_port: p.container_port().unwrap_or_default(),
                host_port: p.host_port(),
                protocol: p.protocol().and_then(|p| match p {
                    ecs::TransportProtocol::Tcp => Some(td::Protocol::Tcp),
                    ecs::TransportProtocol::Udp => Some(td::Protocol::Udp),
                    _ => None,
                }),
                name: p.name().map(str::to_string),
            })
            .collect(),
        links: c.links().to_vec(),
        mount_points: c
            .mount_points()
            .iter()
            .map(|m| td::MountPoint {
                source_volume: m.source_volume().unwrap_or_default().to_string(),
                container_path: m.container_path().unwrap_or_default().to_string(),
                read_only: m.read_only(),
            })
            .collect(),
        volumes_from: c
            .volumes_from()
            .iter()
            .map(|v| td::VolumeFrom {
                source_container: v.source_container().unwrap_or_default().to_string(),
                read_only: v.read_only(),
            })
            .collect(),
        log_configuration: c.log_configuration().map(|l| td::LogConfiguration {
            log_driver: l.log_driver().as_str().to_string(),
            options: l
                .options()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }),
        health_check: c.health_check().map(|h| td::HealthCheck {
            command: h.command().to_vec(),
            interval: h.interval(),
            timeout: h.timeout(),
            retries: h.retries(),
            start_period: h.start_period(),
        }),
        docker_labels: c
            .docker_labels()
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        ulimits: c
            .ulimits()
            .iter()
            .map(|u| td::Ulimit {
                name: u.name().as_str().to_string(),
                soft_limit: u.soft_limit(),
                hard_limit: u.hard_limit(),
            })
            .collect(),
        depends_on: c
            .depends_on()
            .iter()
            .map(|d| td::ContainerDependency {
                container_name: d.container_name().to_string(),
                condition: d.condition().as_str().to_string(),
            })
            .collect(),
        stop_timeout: c.stop_timeout(),
        start_timeout: c.start_timeout(),
        hostname: c.hostname().map(str::to_string),
        privileged: c.privileged(),
        readonly_root_filesystem: c.readonly_root_filesystem(),
        disable_networking: c.disable_networking(),
        dns_servers: c.dns_servers().to_vec(),
        extra_hosts: c
            .extra_hosts()
            .iter()
            .map(|h| td::HostEntry {
                hostname: h.hostname().to_string(),
                ip_address: h.ip_address().to_string(),
            })
            .collect(),
    }
}

fn service_info(s: &ecs::Service) -> ServiceInfo {
    let primary_task_definition = s
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.task_definition());
    ServiceInfo {
        arn: s.service_arn().unwrap_or_default().to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        cluster_arn: s.cluster_arn().unwrap_or_default().to_string(),
        status: s.status().unwrap_or_default().to_string(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        task_definition: s
            .task_definition()
            .or(primary_task_definition)
            .unwrap_or_default()
            .to_string(),
        launch_type: s.launch_type().map(|l| l.as_str().to_string()),
        capacity_provider_strategy: strategy_items(s.capacity_provider_strategy()),
        role_arn: s.role_arn().map(str::to_string),
        deployment_configuration: s.deployment_configuration().map(|c| {
            svc::DeploymentConfiguration {
                minimum_healthy_percent: c.minimum_healthy_percent(),
                maximum_percent: c.maximum_percent(),
                deployment_circuit_breaker: c.deployment_circuit_breaker().map(|b| {
                    svc::DeploymentCircuitBreaker {
                        enable: b.enable(),
                        rollback: b.rollback(),
                    }
                }),
            }
        }),
        health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
        // A configuration without awsvpc part is no configuration (moto answers `{}`).
        network_configuration: s
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|a| svc::NetworkConfiguration {
                awsvpc_configuration: Some(svc::AwsVpcConfiguration {
                    subnets: a.subnets().to_vec(),
                    security_groups: a.security_groups().to_vec(),
                    assign_public_ip: a.assign_public_ip().and_then(|p| match p {
                        ecs::AssignPublicIp::Enabled => Some(svc::AssignPublicIp::Enabled),
                        ecs::AssignPublicIp::Disabled => Some(svc::AssignPublicIp::Disabled),
                        _ => None,
                    }),
                }),
            }),
        placement_strategy: s
            .placement_strategy()
            .iter()
            .map(|p| svc::PlacementStrategy {
                type_: p
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                field: p.field().map(str::to_string),
            })
            .collect(),
        placement_constraints: s
            .placement_constraints()
            .iter()
            .map(|p| td::TaskPlacementConstraint {
                type_: p
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                expression: p.expression().map(str::to_string),
            })
            .collect(),
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|lb| ServiceLoadBalancerRef {
                load_balancer_name: lb.load_balancer_name().map(str::to_string),
                target_group_arn: lb.target_group_arn().map(str::to_string),
                container_name: lb.container_name().unwrap_or_default().to_string(),
                container_port: lb.container_port().unwrap_or_default(),
            })
            .collect(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| Deployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                updated_at: rfc3339(d.updated_at()),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .take(SERVICE_EVENTS_KEPT)
            .map(|e| ServiceEvent {
                id: e.id().unwrap_or_default().to_string(),
                created_at: rfc3339(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
        tags: tags_of(s.tags()),
    }
}

fn deployment_configuration(c: &svc::DeploymentConfiguration) -> ecs::DeploymentConfiguration {
    ecs::DeploymentConfiguration::builder()
        .set_minimum_healthy_percent(c.minimum_healthy_percent)
        .set_maximum_percent(c.maximum_percent)
        .set_deployment_circuit_breaker(c.deployment_circuit_breaker.as_ref().map(|b| {
            ecs::DeploymentCircuitBreaker::builder()
                .enable(b.enable)
                .rollback(b.rollback)
                .build()
        }))
        .build()
}

fn network_configuration(
    n: &svc::NetworkConfiguration,
) -> Result<ecs::NetworkConfiguration, aws_smithy_types::error::operation::BuildError> {
    let awsvpc = n
        .awsvpc_configuration
        .as_ref()
        .map(|a| {
            ecs::AwsVpcConfiguration::builder()
                .set_subnets(Some(a.subnets.clone()))
                .set_security_groups(non_empty(a.security_groups.clone()))
                .set_assign_public_ip(a.assign_public_ip.map(|p| match p {
                    svc::AssignPublicIp::Enabled => ecs::AssignPublicIp::Enabled,
                    svc::AssignPublicIp::Disabled => ecs::AssignPublicIp::Disabled,
                }))
                .build()
        })
        .transpose()?;
    Ok(ecs::NetworkConfiguration::builder()
        .set_awsvpc_configuration(awsvpc)
        .build())
}

fn placement_strategy(p: &svc::PlacementStrategy) -> ecs::PlacementStrategy {
    ecs::PlacementStrategy::builder()
        .r#type(ecs::PlacementStrategyType::from(p.type_.as_str()))
        .set_field(p.field.clone())
        .build()
}

fn placement_constraint(p: &td::TaskPlacementConstraint) -> ecs::PlacementConstraint {
    ecs::PlacementConstraint::builder()
        .r#type(ecs::PlacementConstraintType::from(p.type_.as_str()))
        .set_expression(p.expression.clone())
        .build()
}

fn network_mode(m: td::NetworkMode) -> &'static str {
    match m {
        td::NetworkMode::Bridge => "bridge",
        td::NetworkMode::Host => "host",
        td::NetworkMode::Awsvpc => "awsvpc",
        td::NetworkMode::None => "none",
    }
}

/// Task-level cpu and memory are strings in the API ("256", "1 vCPU", "0.5 GB").
fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn volume(v: &td::Volume) -> ecs::Volume {
    ecs::Volume::builder()
        .name(&v.name)
        .set_host(v.host.as_ref().map(|h| {
            ecs::HostVolumeProperties::builder()
                .set_source_path(h.source_path.clone())
                .build()
        }))
        .build()
}

fn container_definition(
    c: &td::ContainerDefinition,
) -> Result<ecs::ContainerDefinition, aws_smithy_types::error::operation::BuildError> {
    let secrets = c
        .secrets
        .iter()
        .map(|s| {
            ecs::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ulimits = c
        .ulimits
        .iter()
        .map(|u| {
            ecs::Ulimit::builder()
                .name(ecs::UlimitName::from(u.name.as_str()))
                .soft_limit(u.soft_limit)
                .hard_limit(u.hard_limit)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let depends_on = c
        .depends_on
        .iter()
        .map(|d| {
            ecs::ContainerDependency::builder()
                .container_name(&d.container_name)
                .condition(ecs::ContainerCondition::from(d.condition.as_str()))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let extra_hosts = c
        .extra_hosts
        .iter()
        .map(|h| {
            ecs::HostEntry::builder()
                .hostname(&h.hostname)
                .ip_address(&h.ip_address)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let log_configuration = c
        .log_configuration
        .as_ref()
        .map(|l| {
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::from(l.log_driver.as_str()))
                .set_options(
                    Some(
                        l.options
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<HashMap<_, _>>(),
                    )
                    .filter(|o| !o.is_empty()),
                )
                .build()
        })
        .transpose()?;
    let health_check = c
        .health_check
        .as_ref()
        .map(|h| {
            ecs::HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .set_interval(h.interval)
                .set_timeout(h.timeout)
                .set_retries(h.retries)
                .set_start_period(h.start_period)
                .build()
        })
        .transpose()?;
    Ok(ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_essential(c.essential)
        .set_command(non_empty(c.command.clone()))
        .set_entry_point(non_empty(c.entry_point.clone()))
        .set_working_directory(c.working_directory.clone())
        .set_user(c.user.clone())
        .set_environment(non_empty(
            c.environment
                .iter()
                .map(|e| {
                    ecs::KeyValuePair::builder()
                        .name(&e.name)
                        .value(&e.value)
                        .build()
                })
                .collect(),
        ))
        .set_secrets(non_empty(secrets))
        .set_port_mappings(non_empty(
            c.port_mappings
                .iter()
                .map(|p| {
                    ecs::PortMapping::builder()
                        .container_port(p.container_port)
                        .set_host_port(p.host_port)
                        .set_protocol(p.protocol.map(|p| match p {
                            td::Protocol::Tcp => ecs::TransportProtocol::Tcp,
                            td::Protocol::Udp => ecs::TransportProtocol::Udp,
                        }))
                        .set_name(p.name.clone())
                        .build()
                })
                .collect(),
        ))
        .set_links(non_empty(c.links.clone()))
        .set_mount_points(non_empty(
            c.mount_points
                .iter()
                .map(|m| {
                    ecs::MountPoint::builder()
                        .source_volume(&m.source_volume)
                        .container_path(&m.container_path)
                        .set_read_only(m.read_only)
                        .build()
                })
                .collect(),
        ))
        .set_volumes_from(non_empty(
            c.volumes_from
                .iter()
                .map(|v| {
                    ecs::VolumeFrom::builder()
                        .source_container(&v.source_container)
                        .set_read_only(v.read_only)
                        .build()
                })
                .collect(),
        ))
        .set_log_configuration(log_configuration)
        .set_health_check(health_check)
        .set_docker_labels(
            Some(
                c.docker_labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            )
            .filter(|l| !l.is_empty()),
        )
        .set_ulimits(non_empty(ulimits))
        .set_depends_on(non_empty(depends_on))
        .set_stop_timeout(c.stop_timeout)
        .set_start_timeout(c.start_timeout)
        .set_hostname(c.hostname.clone())
        .set_privileged(c.privileged)
        .set_readonly_root_filesystem(c.readonly_root_filesystem)
        .set_disable_networking(c.disable_networking)
        .set_dns_servers(non_empty(c.dns_servers.clone()))
        .set_extra_hosts(non_empty(extra_hosts))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_an_ecs_task_def_cannot_state_are_named() {
        let plain = ecs::TaskDefinition::builder()
            .container_definitions(ecs::ContainerDefinition::builder().name("web").build())
            .build();
        assert!(unmodeled_fields(&plain).is_empty());
        let rich = ecs::TaskDefinition::builder()
            .pid_mode(ecs::PidMode::Host)
            .container_definitions(
                ecs::ContainerDefinition::builder()
                    .name("web")
                    .linux_parameters(
                        ecs::LinuxParameters::builder()
                            .init_process_enabled(true)
                            .build(),
                    )
                    .interactive(true)
                    .build(),
            )
            .build();
        assert_eq!(
            unmodeled_fields(&rich),
            ["interactive", "linuxParameters", "pidMode"]
        );
        // What the spec states is read back.
        let spec = registered_spec(&rich);
        assert_eq!(spec.container_definitions[0].name, "web");
    }

    #[test]
    fn arn_family_takes_the_family_of_arns_and_short_names() {
        assert_eq!(
            arn_family("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"),
            Some("web")
        );
        assert_eq!(arn_family("web2:10"), Some("web2"));
        assert_eq!(arn_family("web"), None);
    }

    #[test]
    fn container_definition_converts_every_field() {
        let c = td::ContainerDefinition {
            name: "app".into(),
            image: "training/webapp:latest".into(),
            cpu: Some(10),
            memory: Some(128),
            memory_reservation: Some(64),
            essential: Some(true),
            command: vec!["python".into(), "app.py".into()],
            entry_point: vec!["/bin/sh".into()],
            working_directory: Some("/app".into()),
            user: Some("nobody".into()),
            environment: vec![td::KeyValuePair {
                name: "PROVIDER".into(),
                value: "ECS".into(),
            }],
            secrets: vec![td::Secret {
                name: "S".into(),
                value_from: "arn:aws:ssm:::parameter/s".into(),
            }],
            port_mappings: vec![td::PortMapping {
                container_port: 5000,
                host_port: Some(80),
                protocol: Some(td::Protocol::Udp),
                name: Some("web".into()),
            }],
            links: vec!["db".into()],
            mount_points: vec![td::MountPoint {
                source_volume: "data".into(),
                container_path: "/data".into(),
                read_only: Some(true),
            }],
            volumes_from: vec![td::VolumeFrom {
                source_container: "side".into(),
                read_only: None,
            }],
            log_configuration: Some(td::LogConfiguration {
                log_driver: "awslogs".into(),
                options: [("awslogs-group".to_string(), "g".to_string())].into(),
            }),
            health_check: Some(td::HealthCheck {
                command: vec!["CMD-SHELL".into(), "true".into()],
                interval: Some(30),
                timeout: Some(5),
                retries: Some(3),
                start_period: Some(10),
            }),
            docker_labels: [("l".to_string(), "v".to_string())].into(),
            ulimits: vec![td::Ulimit {
                name: "nofile".into(),
                soft_limit: 1024,
                hard_limit: 4096,
            }],
            depends_on: vec![td::ContainerDependency {
                container_name: "side".into(),
                condition: "START".into(),
            }],
            stop_timeout: Some(30),
            start_timeout: Some(60),
            hostname: Some("h".into()),
            privileged: Some(false),
            readonly_root_filesystem: Some(true),
            disable_networking: Some(false),
            dns_servers: vec!["10.0.0.2".into()],
            extra_hosts: vec![td::HostEntry {
                hostname: "db".into(),
                ip_address: "10.0.0.3".into(),
            }],
        };
        let e = container_definition(&c).expect("builds");
        assert_eq!(e.name(), Some("app"));
        assert_eq!(e.image(), Some("training/webapp:latest"));
        assert_eq!(e.cpu(), 10);
        assert_eq!(e.memory(), Some(128));
        assert_eq!(e.memory_reservation(), Some(64));
        assert_eq!(e.essential(), Some(true));
        assert_eq!(e.command(), ["python", "app.py"]);
        assert_eq!(e.entry_point(), ["/bin/sh"]);
        assert_eq!(e.working_directory(), Some("/app"));
        assert_eq!(e.user(), Some("nobody"));
        assert_eq!(e.environment()[0].value(), Some("ECS"));
        assert_eq!(e.secrets()[0].value_from(), "arn:aws:ssm:::parameter/s");
        let p = &e.port_mappings()[0];
        assert_eq!(
            (p.container_port(), p.host_port(), p.name()),
            (Some(5000), Some(80), Some("web"))
        );
        assert_eq!(p.protocol(), Some(&ecs::TransportProtocol::Udp));
        assert_eq!(e.links(), ["db"]);
        assert_eq!(e.mount_points()[0].read_only(), Some(true));
        assert_eq!(e.volumes_from()[0].source_container(), Some("side"));
        let l = e.log_configuration().expect("log configuration");
        assert_eq!(l.log_driver(), &ecs::LogDriver::Awslogs);
        assert_eq!(
            l.options()
                .and_then(|o| o.get("awslogs-group"))
                .map(String::as_str),
            Some("g")
        );
        let h = e.health_check().expect("health check");
        assert_eq!(
            (h.interval(), h.timeout(), h.retries(), h.start_period()),
            (Some(30), Some(5), Some(3), Some(10))
        );
        assert_eq!(
            e.docker_labels()
                .and_then(|l| l.get("l"))
                .map(String::as_str),
            Some("v")
        );
        assert_eq!(e.ulimits()[0].name(), &ecs::UlimitName::Nofile);
        assert_eq!(
            e.depends_on()[0].condition(),
            &ecs::ContainerCondition::Start
        );
        assert_eq!((e.stop_timeout(), e.start_timeout()), (Some(30), Some(60)));
        assert_eq!(e.hostname(), Some("h"));
        assert_eq!(
            (
                e.privileged(),
                e.readonly_root_filesystem(),
                e.disable_networking()
            ),
            (Some(false), Some(true), Some(false))
        );
        assert_eq!(e.dns_servers(), ["10.0.0.2"]);
        assert_eq!(e.extra_hosts()[0].ip_address(), "10.0.0.3");
    }

    #[test]
    fn service_settings_convert_to_requests() {
        let d = deployment_configuration(&svc::DeploymentConfiguration {
            minimum_healthy_percent: Some(50),
            maximum_percent: Some(200),
            deployment_circuit_breaker: Some(svc::DeploymentCircuitBreaker {
                enable: true,
                rollback: false,
            }),
        });
        assert_eq!(
            (d.minimum_healthy_percent(), d.maximum_percent()),
            (Some(50), Some(200))
        );
        let b = d.deployment_circuit_breaker().expect("breaker");
        assert_eq!((b.enable(), b.rollback()), (true, false));

        let n = network_configuration(&svc::NetworkConfiguration {
            awsvpc_configuration: Some(svc::AwsVpcConfiguration {
                subnets: vec!["subnet-1".into()],
                security_groups: vec!["sg-1".into()],
                assign_public_ip: Some(svc::AssignPublicIp::Enabled),
            }),
        })
        .expect("network configuration");
        let a = n.awsvpc_configuration().expect("awsvpc");
        assert_eq!(a.subnets(), ["subnet-1"]);
        assert_eq!(a.security_groups(), ["sg-1"]);
        assert_eq!(a.assign_public_ip(), Some(&ecs::AssignPublicIp::Enabled));

        let p = placement_strategy(&svc::PlacementStrategy {
            type_: "binpack".into(),
            field: Some("memory".into()),
        });
        assert_eq!(p.r#type(), Some(&ecs::PlacementStrategyType::Binpack));
        assert_eq!(p.field(), Some("memory"));
        let c = placement_constraint(&td::TaskPlacementConstraint {
            type_: "memberOf".into(),
            expression: Some("attribute:ecs.instance-type =~ t3.*".into()),
        });
        assert_eq!(c.r#type(), Some(&ecs::PlacementConstraintType::MemberOf));
    }

    #[test]
    fn empty_network_configuration_reads_as_none() {
        let s = ecs::Service::builder()
            .service_name("s")
            .network_configuration(ecs::NetworkConfiguration::builder().build())
            .build();
        assert_eq!(service_info(&s).network_configuration, None);
    }

    #[test]
    fn task_level_cpu_and_memory_are_strings() {
        assert_eq!(int_or_string(&IntOrString::Int(256)), "256");
        assert_eq!(int_or_string(&IntOrString::String("1 GB".into())), "1 GB");
    }

    #[test]
    fn only_missing_failures_are_left_out() {
        let missing = ecs::Failure::builder()
            .arn("arn:x")
            .reason("MISSING")
            .build();
        assert!(check_failures("op", &[missing]).is_ok());
        let other = ecs::Failure::builder().arn("arn:y").reason("ODD").build();
        assert_eq!(
            check_failures("op", &[other]).map_err(|e| e.kind),
            Err(AwsErrorKind::Transient)
        );
    }
}
