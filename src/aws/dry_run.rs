//! A dry-run decorator over the AWS clients, for `ecs-operator diff`: reads pass through to
//! AWS, writes are recorded (operation and a human summary) and answered with what AWS
//! would plausibly return, so that the kinds' real `sync` — the same observe → plan code
//! the reconciler runs — decides what to do without changing anything.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::types::*;
use super::{
    AppAutoScalingApi, AutoScalingApi, AwsClients, AwsError, Ec2Api, EcsApi, ElbApi, ElbV2Api,
    IamApi,
};
use crate::api::service::{ElbHealthCheck, Listener};
use crate::planning::service::describe_load_balancers;

/// A write the operator would make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedWrite {
    /// The AWS operation, e.g. `ecs:CreateService`.
    pub operation: &'static str,
    /// What it would do, for people.
    pub summary: String,
}

/// What the dry run recorded and what it pretends exists.
#[derive(Debug, Default)]
pub struct DryRunLog {
    writes: Mutex<Vec<PlannedWrite>>,
    /// ECS clusters "created": their services are read as none, not as an error.
    created_clusters: Mutex<BTreeSet<String>>,
    /// Latest version of each launch template read or "created", by ID.
    template_versions: Mutex<HashMap<String, i64>>,
    /// Region, for the ARNs of pretended resources.
    region: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DryRunLog {
    /// An empty log for clients of `region`.
    pub fn new(region: &str) -> Self {
        Self {
            region: region.to_string(),
            ..Default::default()
        }
    }

    /// The writes recorded since the last call (one object's sync at a time).
    pub fn take(&self) -> Vec<PlannedWrite> {
        std::mem::take(&mut *lock(&self.writes))
    }

    fn write(&self, operation: &'static str, summary: String) {
        lock(&self.writes).push(PlannedWrite { operation, summary });
    }
}

/// `inner`'s clients with every write recorded in `log` instead of sent.
pub fn dry_run_clients(inner: AwsClients, log: Arc<DryRunLog>) -> AwsClients {
    AwsClients {
        ecs: Arc::new(DryRun {
            inner: inner.ecs,
            log: log.clone(),
        }),
        ec2: Arc::new(DryRun {
            inner: inner.ec2,
            log: log.clone(),
        }),
        autoscaling: Arc::new(DryRun {
            inner: inner.autoscaling,
            log: log.clone(),
        }),
        elb: Arc::new(DryRun {
            inner: inner.elb,
            log: log.clone(),
        }),
        app_autoscaling: Arc::new(DryRun {
            inner: inner.app_autoscaling,
            log: log.clone(),
        }),
        iam: Arc::new(DryRun {
            inner: inner.iam,
            log: log.clone(),
        }),
        elbv2: Arc::new(DryRun {
            inner: inner.elbv2,
            log,
        }),
    }
}

/// One client wrapped.
struct DryRun<T: ?Sized> {
    inner: Arc<T>,
    log: Arc<DryRunLog>,
}

fn tag_list(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn short_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[async_trait]
impl EcsApi for DryRun<dyn EcsApi> {
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError> {
        self.inner.describe_clusters(names).await
    }
    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<ClusterInfo, AwsError> {
        self.log.write(
            "ecs:CreateCluster",
            format!("create ECS cluster {name} tagged {}", tag_list(tags)),
        );
        lock(&self.log.created_clusters).insert(name.to_string());
        Ok(ClusterInfo {
            arn: format!("arn:aws:ecs:{}:(new):cluster/{name}", self.log.region),
            name: name.to_string(),
            status: "ACTIVE".into(),
            tags: tags.clone(),
            ..Default::default()
        })
    }
    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        self.log
            .write("ecs:DeleteCluster", format!("delete ECS cluster {name}"));
        Ok(())
    }
    async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.log.write(
            "ecs:TagResource",
            format!("tag {} with {}", short_name(arn), tag_list(tags)),
        );
        Ok(())
    }
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "ecs:UntagResource",
            format!("remove tags {} from {}", keys.join(", "), short_name(arn)),
        );
        Ok(())
    }
    async fn register_task_definition(
        &self,
        input: &RegisterTaskDefinitionInput,
    ) -> Result<TaskDefRevision, AwsError> {
        let latest = self.inner.describe_task_definition(&input.family).await?;
        let revision = latest.as_ref().map_or(1, |l| l.revision + 1);
        let arn = match &latest {
            Some(l) => match l.arn.rsplit_once(':') {
                Some((base, _)) => format!("{base}:{revision}"),
                None => l.arn.clone(),
            },
            None => format!(
                "arn:aws:ecs:{}:(new):task-definition/{}:{revision}",
                self.log.region, input.family
            ),
        };
        self.log.write(
            "ecs:RegisterTaskDefinition",
            format!("register task definition {}:{revision}", input.family),
        );
        Ok(TaskDefRevision {
            arn,
            family: input.family.clone(),
            revision,
            status: "ACTIVE".into(),
            tags: input.tags.clone(),
            definition: Some(input.definition.clone()),
            unmodeled: Vec::new(),
        })
    }
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<TaskDefRevision>, AwsError> {
        self.inner.describe_task_definition(task_definition).await
    }
    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        self.inner.list_task_definitions(family).await
    }
    async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError> {
        self.inner.list_active_task_definitions().await
    }
    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError> {
        self.log.write(
            "ecs:DeregisterTaskDefinition",
            format!("deregister task definition {}", short_name(arn)),
        );
        Ok(())
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        if lock(&self.log.created_clusters).contains(short_name(cluster)) {
            return Ok(Vec::new());
        }
        self.inner.describe_services(cluster, names).await
    }
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        if lock(&self.log.created_clusters).contains(short_name(cluster)) {
            return Ok(Vec::new());
        }
        self.inner.list_services(cluster).await
    }
    async fn create_service(&self, input: &CreateServiceInput) -> Result<ServiceInfo, AwsError> {
        self.log.write(
            "ecs:CreateService",
            format!(
                "create ECS service {} in cluster {}: {} tasks of {}{}",
                input.name,
                short_name(&input.cluster),
                input.desired_count,
                short_name(&input.task_definition),
                if input.load_balancers.is_empty() {
                    String::new()
                } else {
                    format!(" behind {}", describe_load_balancers(&input.load_balancers))
                }
            ),
        );
        Ok(ServiceInfo {
            arn: format!(
                "arn:aws:ecs:{}:(new):service/{}/{}",
                self.log.region,
                short_name(&input.cluster),
                input.name
            ),
            name: input.name.clone(),
            cluster_arn: input.cluster.clone(),
            status: "ACTIVE".into(),
            desired_count: input.desired_count,
            task_definition: input.task_definition.clone(),
            launch_type: input.launch_type.map(|l| l.as_str().to_string()),
            role_arn: input.role.clone(),
            deployment_configuration: input.deployment_configuration.clone(),
            health_check_grace_period_seconds: input.health_check_grace_period_seconds,
            network_configuration: input.network_configuration.clone(),
            placement_strategy: input.placement_strategy.clone(),
            placement_constraints: input.placement_constraints.clone(),
            load_balancers: input.load_balancers.clone(),
            deployments: vec![Deployment {
                id: "(new)".into(),
                status: "PRIMARY".into(),
                task_definition: input.task_definition.clone(),
                desired_count: input.desired_count,
                rollout_state: Some("IN_PROGRESS".into()),
                ..Default::default()
            }],
            tags: input.tags.clone(),
            ..Default::default()
        })
    }
    async fn update_service(&self, input: &UpdateServiceInput) -> Result<ServiceInfo, AwsError> {
        let mut changes = Vec::new();
        if let Some(td) = &input.task_definition {
            changes.push(format!("roll to {}", short_name(td)));
        }
        if let Some(n) = input.desired_count {
            changes.push(format!("desiredCount {n}"));
        }
        if input.deployment_configuration.is_some() {
            changes.push("deploymentConfiguration".into());
        }
        if let Some(g) = input.health_check_grace_period_seconds {
            changes.push(format!("healthCheckGracePeriodSeconds {g}"));
        }
        if input.network_configuration.is_some() {
            changes.push("networkConfiguration".into());
        }
        if input.placement_strategy.is_some() {
            changes.push("placementStrategy".into());
        }
        if input.placement_constraints.is_some() {
            changes.push("placementConstraints".into());
        }
        if let Some(lbs) = &input.load_balancers {
            changes.push(format!("loadBalancers {}", describe_load_balancers(lbs)));
        }
        if input.force_new_deployment {
            changes.push("force a new deployment".into());
        }
        self.log.write(
            "ecs:UpdateService",
            format!("update ECS service {}: {}", input.name, changes.join("; ")),
        );
        // What the service would look like: the current one with the update applied, a
        // deployment of the new revision in progress.
        let current = self
            .inner
            .describe_services(&input.cluster, std::slice::from_ref(&input.name))
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let mut s = current;
        if let Some(td) = &input.task_definition {
            s.task_definition = td.clone();
            s.deployments.insert(
                0,
                Deployment {
                    id: "(new)".into(),
                    status: "PRIMARY".into(),
                    task_definition: td.clone(),
                    desired_count: s.desired_count,
                    rollout_state: Some("IN_PROGRESS".into()),
                    ..Default::default()
                },
            );
        }
        if let Some(n) = input.desired_count {
            s.desired_count = n;
        }
        if let Some(lbs) = &input.load_balancers {
            s.load_balancers = lbs.clone();
        }
        Ok(s)
    }
    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        self.log.write(
            "ecs:DeleteService",
            format!(
                "delete ECS service {name} of cluster {}",
                short_name(cluster)
            ),
        );
        Ok(())
    }
    async fn describe_capacity_providers(
        &self,
        names: &[String],
    ) -> Result<Vec<CapacityProvider>, AwsError> {
        self.inner.describe_capacity_providers(names).await
    }
    async fn create_capacity_provider(
        &self,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError> {
        self.log.write(
            "ecs:CreateCapacityProvider",
            format!(
                "create capacity provider {} for Auto Scaling group {} tagged {}",
                input.name,
                short_name(&input.auto_scaling_group_arn),
                tag_list(&input.tags)
            ),
        );
        Ok(CapacityProvider {
            arn: format!(
                "arn:aws:ecs:{}:(new):capacity-provider/{}",
                self.log.region, input.name
            ),
            name: input.name.clone(),
            status: "ACTIVE".into(),
            update_status: None,
            auto_scaling_group_arn: input.auto_scaling_group_arn.clone(),
            settings: input.settings.clone(),
            tags: input.tags.clone(),
        })
    }
    async fn update_capacity_provider(
        &self,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError> {
        self.log.write(
            "ecs:UpdateCapacityProvider",
            format!("update capacity provider {name}: {settings:?}"),
        );
        let current = self
            .inner
            .describe_capacity_providers(&[name.to_string()])
            .await?
            .into_iter()
            .find(|p| p.name == name);
        Ok(CapacityProvider {
            settings: settings.clone(),
            update_status: Some("UPDATE_COMPLETE".into()),
            ..current.unwrap_or_else(|| CapacityProvider {
                name: name.to_string(),
                status: "ACTIVE".into(),
                ..Default::default()
            })
        })
    }
    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError> {
        self.log.write(
            "ecs:DeleteCapacityProvider",
            format!("delete capacity provider {name}"),
        );
        Ok(())
    }
    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError> {
        let strategy: Vec<String> = default_strategy
            .iter()
            .map(|i| {
                format!(
                    "{} weight {} base {}",
                    i.capacity_provider, i.weight, i.base
                )
            })
            .collect();
        self.log.write(
            "ecs:PutClusterCapacityProviders",
            format!(
                "set the capacity providers of cluster {} to [{}], default strategy [{}]",
                short_name(cluster),
                providers.join(", "),
                strategy.join("; ")
            ),
        );
        let current = self
            .inner
            .describe_clusters(&[short_name(cluster).to_string()])
            .await?
            .into_iter()
            .next();
        Ok(ClusterInfo {
            capacity_providers: providers.to_vec(),
            default_capacity_provider_strategy: default_strategy.to_vec(),
            ..current.unwrap_or_else(|| ClusterInfo {
                name: short_name(cluster).to_string(),
                status: "ACTIVE".into(),
                ..Default::default()
            })
        })
    }
}

#[async_trait]
impl Ec2Api for DryRun<dyn Ec2Api> {
    async fn describe_launch_template(
        &self,
        name: &str,
    ) -> Result<Option<LaunchTemplate>, AwsError> {
        let lt = self.inner.describe_launch_template(name).await?;
        if let Some(lt) = &lt {
            lock(&self.log.template_versions).insert(lt.id.clone(), lt.latest_version);
        }
        Ok(lt)
    }
    async fn describe_launch_templates_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<LaunchTemplate>, AwsError> {
        self.inner.describe_launch_templates_tagged(tag_key).await
    }
    async fn launch_template_version_description(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, AwsError> {
        self.inner
            .launch_template_version_description(id, version)
            .await
    }
    async fn launch_template_version_data(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<LaunchTemplateVersionData>, AwsError> {
        self.inner.launch_template_version_data(id, version).await
    }
    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        _description: &str,
        tags: &Tags,
    ) -> Result<LaunchTemplate, AwsError> {
        self.log.write(
            "ec2:CreateLaunchTemplate",
            format!(
                "create launch template {name}: {} from {}",
                data.instance_type, data.image_id
            ),
        );
        Ok(LaunchTemplate {
            id: format!("(new launch template {name})"),
            name: name.to_string(),
            latest_version: 1,
            default_version: 1,
            tags: tags.clone(),
        })
    }
    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        _description: &str,
    ) -> Result<i64, AwsError> {
        let next = {
            let mut versions = lock(&self.log.template_versions);
            let v = versions.entry(id.to_string()).or_insert(0);
            *v += 1;
            *v
        };
        self.log.write(
            "ec2:CreateLaunchTemplateVersion",
            format!(
                "create version {next} of launch template {id}: {} from {}",
                data.instance_type, data.image_id
            ),
        );
        Ok(next)
    }
    async fn tag_launch_template(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        self.log.write(
            "ec2:CreateTags",
            format!("tag launch template {id} with {}", tag_list(tags)),
        );
        Ok(())
    }
    async fn untag_launch_template(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "ec2:DeleteTags",
            format!("remove tags {} from launch template {id}", keys.join(", ")),
        );
        Ok(())
    }
    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError> {
        self.log.write(
            "ec2:DeleteLaunchTemplate",
            format!("delete launch template {id}"),
        );
        Ok(())
    }
    async fn describe_subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
        self.inner.describe_subnets(ids).await
    }
    async fn describe_security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError> {
        self.inner.describe_security_groups(ids).await
    }
    async fn existing_key_pairs(&self, names: &[String]) -> Result<Vec<String>, AwsError> {
        self.inner.existing_key_pairs(names).await
    }
}

/// IAM has only reads here: they pass through, so `diff` reports a missing role the way
/// the operator would.
#[async_trait]
impl IamApi for DryRun<dyn IamApi> {
    async fn get_role(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.inner.get_role(name).await
    }
    async fn get_instance_profile(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.inner.get_instance_profile(name).await
    }
}

#[async_trait]
impl AutoScalingApi for DryRun<dyn AutoScalingApi> {
    async fn describe_group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
        self.inner.describe_group(name).await
    }
    async fn describe_all_groups(&self) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.inner.describe_all_groups().await
    }
    async fn describe_groups_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.inner.describe_groups_tagged(tag_key).await
    }
    async fn describe_launch_configuration(
        &self,
        name: &str,
    ) -> Result<Option<LaunchConfiguration>, AwsError> {
        self.inner.describe_launch_configuration(name).await
    }
    async fn create_group(&self, input: &CreateGroupInput) -> Result<(), AwsError> {
        self.log.write(
            "autoscaling:CreateAutoScalingGroup",
            format!(
                "create Auto Scaling group {}: {}–{} instances (desired {}) in {}",
                input.name,
                input.min_size,
                input.max_size,
                input.desired_capacity,
                input.subnet_ids.join(", ")
            ),
        );
        Ok(())
    }
    async fn update_group(&self, input: &UpdateGroupInput) -> Result<(), AwsError> {
        let mut changes = Vec::new();
        if let Some((id, v)) = &input.launch_template {
            changes.push(format!("launch template {id} version {v}"));
        }
        if let Some(n) = input.min_size {
            changes.push(format!("minSize {n}"));
        }
        if let Some(n) = input.max_size {
            changes.push(format!("maxSize {n}"));
        }
        if let Some(n) = input.desired_capacity {
            changes.push(format!("desiredCapacity {n}"));
        }
        if let Some(s) = &input.subnet_ids {
            changes.push(format!("subnets {}", s.join(", ")));
        }
        self.log.write(
            "autoscaling:UpdateAutoScalingGroup",
            format!(
                "update Auto Scaling group {}: {}",
                input.name,
                changes.join("; ")
            ),
        );
        Ok(())
    }
    async fn attach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "autoscaling:AttachLoadBalancers",
            format!("attach {} to Auto Scaling group {name}", elbs.join(", ")),
        );
        Ok(())
    }
    async fn detach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "autoscaling:DetachLoadBalancers",
            format!("detach {} from Auto Scaling group {name}", elbs.join(", ")),
        );
        Ok(())
    }
    async fn tag_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        self.log.write(
            "autoscaling:CreateOrUpdateTags",
            format!("tag Auto Scaling group {name} with {}", tag_list(tags)),
        );
        Ok(())
    }
    async fn untag_group(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "autoscaling:DeleteTags",
            format!(
                "remove tags {} from Auto Scaling group {name}",
                keys.join(", ")
            ),
        );
        Ok(())
    }
    async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        self.log.write(
            "autoscaling:DeleteAutoScalingGroup",
            format!("delete Auto Scaling group {name}"),
        );
        Ok(())
    }
}

#[async_trait]
impl ElbApi for DryRun<dyn ElbApi> {
    async fn describe_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ClassicLoadBalancer>, AwsError> {
        self.inner.describe_load_balancer(name).await
    }
    async fn describe_tags(&self, name: &str) -> Result<Tags, AwsError> {
        self.inner.describe_tags(name).await
    }
    async fn describe_all_load_balancers(&self) -> Result<Vec<ClassicLoadBalancer>, AwsError> {
        self.inner.describe_all_load_balancers().await
    }
    async fn describe_tags_of(&self, names: &[String]) -> Result<HashMap<String, Tags>, AwsError> {
        self.inner.describe_tags_of(names).await
    }
    async fn create_load_balancer(
        &self,
        input: &CreateLoadBalancerInput,
    ) -> Result<Option<String>, AwsError> {
        self.log.write(
            "elasticloadbalancing:CreateLoadBalancer",
            format!(
                "create classic load balancer {} in {}",
                input.name,
                input.subnet_ids.join(", ")
            ),
        );
        Ok(None)
    }
    async fn configure_health_check(
        &self,
        name: &str,
        health_check: &ElbHealthCheck,
    ) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:ConfigureHealthCheck",
            format!("set the health check of {name} to {}", health_check.target),
        );
        Ok(())
    }
    async fn create_listeners(&self, name: &str, listeners: &[Listener]) -> Result<(), AwsError> {
        let ports: Vec<String> = listeners
            .iter()
            .map(|l| l.load_balancer_port.to_string())
            .collect();
        self.log.write(
            "elasticloadbalancing:CreateLoadBalancerListeners",
            format!("create listeners on ports {} of {name}", ports.join(", ")),
        );
        Ok(())
    }
    async fn delete_listeners(&self, name: &str, ports: &[i32]) -> Result<(), AwsError> {
        let ports: Vec<String> = ports.iter().map(i32::to_string).collect();
        self.log.write(
            "elasticloadbalancing:DeleteLoadBalancerListeners",
            format!("delete listeners on ports {} of {name}", ports.join(", ")),
        );
        Ok(())
    }
    async fn attach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:AttachLoadBalancerToSubnets",
            format!("attach {name} to {}", subnets.join(", ")),
        );
        Ok(())
    }
    async fn detach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:DetachLoadBalancerFromSubnets",
            format!("detach {name} from {}", subnets.join(", ")),
        );
        Ok(())
    }
    async fn apply_security_groups(&self, name: &str, groups: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
            format!("set the security groups of {name} to {}", groups.join(", ")),
        );
        Ok(())
    }
    async fn add_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:AddTags",
            format!("tag {name} with {}", tag_list(tags)),
        );
        Ok(())
    }
    async fn remove_tags(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:RemoveTags",
            format!("remove tags {} from {name}", keys.join(", ")),
        );
        Ok(())
    }
    async fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:DeleteLoadBalancer",
            format!("delete classic load balancer {name}"),
        );
        Ok(())
    }
}

#[async_trait]
impl AppAutoScalingApi for DryRun<dyn AppAutoScalingApi> {
    async fn describe_scalable_target(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalableTarget>, AwsError> {
        self.inner.describe_scalable_target(resource_id).await
    }
    async fn register_scalable_target(
        &self,
        input: &RegisterScalableTargetInput,
    ) -> Result<Option<String>, AwsError> {
        self.log.write(
            "application-autoscaling:RegisterScalableTarget",
            format!(
                "register scalable target {}: {}–{} tasks",
                input.resource_id, input.min_capacity, input.max_capacity
            ),
        );
        Ok(Some(format!(
            "arn:aws:application-autoscaling:{}:(new):scalable-target/(new)",
            self.log.region
        )))
    }
    async fn deregister_scalable_target(&self, resource_id: &str) -> Result<(), AwsError> {
        self.log.write(
            "application-autoscaling:DeregisterScalableTarget",
            format!("deregister scalable target {resource_id}"),
        );
        Ok(())
    }
    async fn target_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        if arn.contains(":(new):") {
            // A target this dry run "registered": nothing to read from AWS.
            return Ok(Tags::new());
        }
        self.inner.target_tags(arn).await
    }
    async fn tag_target(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.log.write(
            "application-autoscaling:TagResource",
            format!("tag scalable target {arn} with {}", tag_list(tags)),
        );
        Ok(())
    }
    async fn untag_target(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "application-autoscaling:UntagResource",
            format!("remove tags {} from scalable target {arn}", keys.join(", ")),
        );
        Ok(())
    }
    async fn describe_scaling_policies(
        &self,
        resource_id: &str,
    ) -> Result<Vec<ScalingPolicy>, AwsError> {
        self.inner.describe_scaling_policies(resource_id).await
    }
    async fn put_scaling_policy(&self, input: &PutScalingPolicyInput) -> Result<(), AwsError> {
        let c = &input.config;
        self.log.write(
            "application-autoscaling:PutScalingPolicy",
            format!(
                "put target tracking policy {} on {}: {} at {}",
                input.name, input.resource_id, c.predefined_metric, c.target_value
            ),
        );
        Ok(())
    }
    async fn delete_scaling_policy(&self, name: &str, resource_id: &str) -> Result<(), AwsError> {
        self.log.write(
            "application-autoscaling:DeleteScalingPolicy",
            format!("delete scaling policy {name} of {resource_id}"),
        );
        Ok(())
    }
    async fn latest_scaling_activity(
        &self,
        resource_id: &str,
    ) -> Result<Option<ScalingActivity>, AwsError> {
        self.inner.latest_scaling_activity(resource_id).await
    }
}

/// Whether an ELBv2 ARN is one this dry run pretended to create: nothing to read in AWS.
fn pretended(arn: &str) -> bool {
    arn.contains(":(new):")
}

fn conditions_summary(c: &RuleConditions) -> String {
    let mut parts = Vec::new();
    if !c.path_patterns.is_empty() {
        parts.push(format!("path {}", c.path_patterns.join(" | ")));
    }
    if !c.host_headers.is_empty() {
        parts.push(format!("host {}", c.host_headers.join(" | ")));
    }
    parts.join(" and ")
}

fn health_check_summary(hc: &TargetGroupHealthCheck) -> String {
    format!(
        "{} {}:{} every {}s (timeout {}s, {} healthy / {} unhealthy, matcher {})",
        hc.protocol,
        hc.port,
        hc.path,
        hc.interval_seconds,
        hc.timeout_seconds,
        hc.healthy_threshold_count,
        hc.unhealthy_threshold_count,
        hc.matcher
    )
}

#[async_trait]
impl ElbV2Api for DryRun<dyn ElbV2Api> {
    async fn describe_target_group(&self, name: &str) -> Result<Option<TargetGroup>, AwsError> {
        self.inner.describe_target_group(name).await
    }
    async fn describe_target_groups(&self, names: &[String]) -> Result<Vec<TargetGroup>, AwsError> {
        self.inner.describe_target_groups(names).await
    }
    async fn create_target_group(
        &self,
        input: &CreateTargetGroupInput,
    ) -> Result<TargetGroup, AwsError> {
        self.log.write(
            "elasticloadbalancing:CreateTargetGroup",
            format!(
                "create target group {} ({} {}:{}, target type {}, health check {})",
                input.name,
                input.vpc_id,
                input.protocol,
                input.port,
                input.target_type,
                health_check_summary(&input.health_check)
            ),
        );
        Ok(TargetGroup {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:(new):targetgroup/{}/(new)",
                self.log.region, input.name
            ),
            name: input.name.clone(),
            protocol: input.protocol.clone(),
            port: input.port,
            vpc_id: input.vpc_id.clone(),
            target_type: input.target_type.clone(),
            health_check: input.health_check.clone(),
            load_balancer_arns: Vec::new(),
        })
    }
    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &TargetGroupHealthCheck,
    ) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:ModifyTargetGroup",
            format!(
                "set the health check of target group {} to {}",
                short_name_of_target_group(arn),
                health_check_summary(health_check)
            ),
        );
        Ok(())
    }
    async fn set_deregistration_delay(&self, arn: &str, seconds: i32) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            format!(
                "set the deregistration delay of target group {} to {seconds}s",
                short_name_of_target_group(arn)
            ),
        );
        Ok(())
    }
    async fn deregistration_delay(&self, arn: &str) -> Result<Option<i32>, AwsError> {
        if pretended(arn) {
            return Ok(None);
        }
        self.inner.deregistration_delay(arn).await
    }
    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:DeleteTargetGroup",
            format!("delete target group {}", short_name_of_target_group(arn)),
        );
        Ok(())
    }
    async fn describe_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        if pretended(arn) {
            return Ok(Tags::new());
        }
        self.inner.describe_tags(arn).await
    }
    async fn describe_tags_of(&self, arns: &[String]) -> Result<Vec<(String, Tags)>, AwsError> {
        // What a dry run pretended to create has no tags in AWS to ask for.
        let real: Vec<String> = arns.iter().filter(|a| !pretended(a)).cloned().collect();
        self.inner.describe_tags_of(&real).await
    }
    async fn add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:AddTags",
            format!("tag {arn} with {}", tag_list(tags)),
        );
        Ok(())
    }
    async fn remove_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:RemoveTags",
            format!("remove tags {} from {arn}", keys.join(", ")),
        );
        Ok(())
    }
    async fn describe_listener(&self, arn: &str) -> Result<Option<ElbV2Listener>, AwsError> {
        self.inner.describe_listener(arn).await
    }
    async fn describe_load_balancer(
        &self,
        arn: &str,
    ) -> Result<Option<ElbV2LoadBalancer>, AwsError> {
        self.inner.describe_load_balancer(arn).await
    }
    async fn describe_rules(&self, listener_arn: &str) -> Result<Vec<ListenerRule>, AwsError> {
        self.inner.describe_rules(listener_arn).await
    }
    async fn create_rule(&self, input: &CreateRuleInput) -> Result<ListenerRule, AwsError> {
        self.log.write(
            "elasticloadbalancing:CreateRule",
            format!(
                "create listener rule at priority {} on {}: {} → target group {}",
                input.priority,
                input.listener_arn,
                conditions_summary(&input.conditions),
                short_name_of_target_group(&input.target_group_arn)
            ),
        );
        Ok(ListenerRule {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:(new):listener-rule/(new)",
                self.log.region
            ),
            priority: Some(input.priority),
            conditions: input.conditions.clone(),
            other_conditions: false,
            forward_to: vec![input.target_group_arn.clone()],
        })
    }
    async fn modify_rule(
        &self,
        arn: &str,
        conditions: &RuleConditions,
        target_group_arn: &str,
    ) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:ModifyRule",
            format!(
                "set listener rule {arn} to {} → target group {}",
                conditions_summary(conditions),
                short_name_of_target_group(target_group_arn)
            ),
        );
        Ok(())
    }
    async fn set_rule_priority(&self, arn: &str, priority: i32) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:SetRulePriorities",
            format!("move listener rule {arn} to priority {priority}"),
        );
        Ok(())
    }
    async fn delete_rule(&self, arn: &str) -> Result<(), AwsError> {
        self.log.write(
            "elasticloadbalancing:DeleteRule",
            format!("delete listener rule {arn}"),
        );
        Ok(())
    }
}

/// The name part of a target group ARN (`…:targetgroup/<name>/<id>`).
fn short_name_of_target_group(arn: &str) -> &str {
    arn.split("targetgroup/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(arn)
}
