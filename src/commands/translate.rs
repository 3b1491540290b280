//! What exists in AWS, as the specs that describe it: the pure half of `ecs-operator
//! import`. Each function is the inverse of what the planners make of a spec, so that the
//! operator, given the result, finds nothing to change.

use std::collections::BTreeMap;

use base64::Engine;

use crate::api::cluster::{
    default_capacity_provider_name, CapacityProviderSpec, ClusterCapacity, FargateCapacityProvider,
    ManagedScaling, Toggle,
};
use crate::api::common::CapacityProviderStrategyItem;
use crate::api::service::{
    EcsServiceSpec, LocalRef, ManagedLoadBalancer, ScalingMetric, ServiceAutoScaling,
    ServiceLoadBalancer, TargetTrackingPolicy, TaskDefRef,
};
use crate::api::task_def::{EcsTaskDefSpec, LaunchType};
use crate::aws::types::{
    AutoScalingGroup, CapacityProvider, ClassicLoadBalancer, ClusterInfo, LaunchTemplateData,
    ScalableTarget, ScalingPolicy, ServiceInfo, StrategyItem,
};
use crate::planning::autoscaling::policy_name;
use crate::planning::cluster::{launch_template_name, user_data};
use crate::planning::service::scheme_str;
use crate::planning::task_def::{revision_of, spec_from_registered};

/// A Kubernetes object name (RFC 1123 subdomain) for an AWS name: lower case, characters
/// other than letters, digits, `-` and `.` turned into `-`, no leading or trailing
/// separator, at most 253 characters. The AWS name itself stays in the spec.
pub fn kubernetes_name(aws_name: &str) -> String {
    let mapped: String = aws_name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(253).collect();
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    if name.is_empty() {
        "imported".into()
    } else {
        name
    }
}

/// The user data of a launch template version as the capacity spec states it: the
/// operator's own lines stripped (`userData` is then only the extra shell), or, for a
/// script written by hand, the whole script with `userDataVerbatim`. `Err` when it is not
/// base64 text.
pub fn user_data_spec(
    cluster_name: &str,
    user_data_base64: &str,
) -> Result<(Option<String>, Option<bool>), String> {
    if user_data_base64.trim().is_empty() {
        return Ok((None, Some(true)));
    }
    let compact: String = user_data_base64
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("the user data is not base64: {e}"))?;
    let script = String::from_utf8(bytes).map_err(|_| {
        "the user data is not UTF-8 text (gzip or MIME multi-part user data is not supported)"
            .to_string()
    })?;
    let generated = user_data(cluster_name, None);
    if let Some(extra) = script.strip_prefix(&generated) {
        let extra = (!extra.is_empty()).then(|| extra.to_string());
        // Only when the operator would write it back byte for byte.
        if user_data(cluster_name, extra.as_deref()) == script {
            return Ok((extra, None));
        }
    }
    Ok((Some(script), Some(true)))
}

/// Whether a user data script makes instances join `cluster_name` (how `import` finds the
/// Auto Scaling group of a cluster): it sets `ECS_CLUSTER=<cluster_name>`.
pub fn user_data_joins(cluster_name: &str, user_data_base64: &str) -> bool {
    let compact: String = user_data_base64
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) else {
        return false;
    };
    let script = String::from_utf8_lossy(&bytes);
    script.lines().any(|line| {
        line.split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .any(|word| {
                word.strip_prefix("ECS_CLUSTER=")
                    .is_some_and(|v| v == cluster_name)
            })
    })
}

/// The capacity spec of a cluster whose instances come from `group`, launching the
/// version of template `template_name` that holds `data`.
pub fn capacity_spec(
    cluster_name: &str,
    template_name: &str,
    data: &LaunchTemplateData,
    group: &AutoScalingGroup,
) -> Result<ClusterCapacity, String> {
    let (user_data, verbatim) = user_data_spec(cluster_name, &data.user_data_base64)?;
    let mut security_group_ids = data.security_group_ids.clone();
    security_group_ids.sort();
    let default_names = launch_template_name(cluster_name);
    Ok(ClusterCapacity {
        instance_type: data.instance_type.clone(),
        image_id: Some(data.image_id.clone()).filter(|i| !i.is_empty()),
        instance_profile: data.instance_profile.clone().filter(|p| !p.is_empty()),
        security_group_ids,
        subnet_ids: group.subnet_ids.clone(),
        key_name: data.key_name.clone().filter(|k| !k.is_empty()),
        min_size: group.min_size,
        max_size: group.max_size,
        desired_capacity: Some(group.desired_capacity),
        load_balancer_names: group.load_balancer_names.clone(),
        user_data,
        user_data_verbatim: verbatim,
        // The defaults need no field (launch template and group share the default name).
        launch_template_name: (template_name != default_names).then(|| template_name.into()),
        // Set by `with_capacity_provider` when a capacity provider serves the group.
        capacity_provider: None,
        auto_scaling_group_name: (group.name != default_names).then(|| group.name.clone()),
    })
}

/// The `capacity.capacityProvider` describing an EC2 capacity provider as it is; its name
/// is stated unless it is the operator's default for the cluster.
pub fn capacity_provider_spec(
    cluster_name: &str,
    provider: &CapacityProvider,
) -> CapacityProviderSpec {
    let toggle = |on: bool| {
        if on {
            Toggle::Enabled
        } else {
            Toggle::Disabled
        }
    };
    let s = &provider.settings;
    CapacityProviderSpec {
        name: (provider.name != default_capacity_provider_name(cluster_name))
            .then(|| provider.name.clone()),
        managed_scaling: s.managed_scaling.as_ref().map(|m| ManagedScaling {
            status: Toggle::Enabled,
            target_capacity: m.target_capacity,
            minimum_scaling_step_size: m.minimum_scaling_step_size,
            maximum_scaling_step_size: m.maximum_scaling_step_size,
            instance_warmup_period: m.instance_warmup_period,
        }),
        managed_termination_protection: toggle(s.managed_termination_protection),
        managed_draining: toggle(s.managed_draining),
    }
}

/// The capacity of a group that `provider` serves: with its capacityProvider, and without
/// desiredCapacity when ECS managed scaling sets it (the operator must not take it back).
pub fn with_capacity_provider(
    mut cap: ClusterCapacity,
    cluster_name: &str,
    provider: &CapacityProvider,
) -> ClusterCapacity {
    let spec = capacity_provider_spec(cluster_name, provider);
    if spec.managed_scaling_enabled() {
        cap.desired_capacity = None;
    }
    cap.capacity_provider = Some(spec);
    cap
}

/// One strategy entry as the spec states it: ECS's default base (0) left out.
pub fn strategy_item(i: &StrategyItem) -> CapacityProviderStrategyItem {
    CapacityProviderStrategyItem {
        capacity_provider: i.capacity_provider.clone(),
        weight: Some(i.weight),
        base: (i.base != 0).then_some(i.base),
    }
}

/// The cluster's attached Fargate providers and default strategy as the spec states them,
/// next to `managed` (the name of the imported group's provider, if any), with a warning
/// for each attached provider the spec cannot state: applying the manifests would detach
/// it (and drop it from the default strategy).
pub fn cluster_providers(
    cluster: &ClusterInfo,
    managed: Option<&str>,
) -> (
    Vec<FargateCapacityProvider>,
    Vec<CapacityProviderStrategyItem>,
    Vec<String>,
) {
    let fargate = |n: &str| {
        [
            FargateCapacityProvider::Fargate,
            FargateCapacityProvider::FargateSpot,
        ]
        .into_iter()
        .find(|f| f.as_str() == n)
    };
    let mut providers: Vec<FargateCapacityProvider> = cluster
        .capacity_providers
        .iter()
        .filter_map(|p| fargate(p))
        .collect();
    providers.sort();
    providers.dedup();
    let stated = |n: &str| fargate(n).is_some() || Some(n) == managed;
    let mut unstated: Vec<&str> = cluster
        .capacity_providers
        .iter()
        .map(String::as_str)
        .chain(
            cluster
                .default_capacity_provider_strategy
                .iter()
                .map(|i| i.capacity_provider.as_str()),
        )
        .filter(|n| !stated(n))
        .collect();
    unstated.sort();
    unstated.dedup();
    let warnings = unstated
        .iter()
        .map(|n| {
            format!(
                "capacity provider {n} of cluster {} is not the capacity provider of the \
                 imported Auto Scaling group, and the manifests can state only that one (and \
                 FARGATE, FARGATE_SPOT): applying them detaches {n} from the cluster and drops \
                 it from the default strategy (PutClusterCapacityProviders); leave the cluster \
                 unmanaged or detach {n} first",
                cluster.name
            )
        })
        .collect();
    let strategy = cluster
        .default_capacity_provider_strategy
        .iter()
        .filter(|i| stated(&i.capacity_provider))
        .map(strategy_item)
        .collect();
    (providers, strategy, warnings)
}

/// The EcsTaskDef spec of a family's latest revision, as DescribeTaskDefinition shows it.
pub fn task_def_spec(family: &str, registered: &EcsTaskDefSpec) -> EcsTaskDefSpec {
    EcsTaskDefSpec {
        family: Some(family.to_string()),
        ..spec_from_registered(registered)
    }
}

/// The managed-ELB spec describing a classic ELB as it is.
pub fn managed_elb_spec(elb: &ClassicLoadBalancer) -> ManagedLoadBalancer {
    let scheme = elb.scheme.as_deref().and_then(|s| {
        [
            crate::api::service::LoadBalancerScheme::InternetFacing,
            crate::api::service::LoadBalancerScheme::Internal,
        ]
        .into_iter()
        .find(|k| scheme_str(*k).eq_ignore_ascii_case(s))
    });
    let mut subnet_ids = elb.subnet_ids.clone();
    subnet_ids.sort();
    let mut security_group_ids = elb.security_group_ids.clone();
    security_group_ids.sort();
    ManagedLoadBalancer {
        name: Some(elb.name.clone()),
        scheme,
        subnet_ids,
        security_group_ids,
        listeners: elb.listeners.clone(),
        health_check: elb.health_check.clone(),
    }
}

/// What the service spec refers to, by Kubernetes object name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRefs {
    /// The EcsCluster object.
    pub cluster: String,
    /// The EcsTaskDef object of the service's family.
    pub task_def: String,
    /// The latest ACTIVE revision of that family (what the EcsTaskDef describes).
    pub latest_revision: i32,
}

/// The EcsService spec of an ECS service as it is. Its task definition follows the
/// EcsTaskDef when the service runs the family's latest revision, and is pinned otherwise
/// (following would roll it). Its classic ELB, if any, becomes a managed one (`elb`).
pub fn service_spec(
    service: &ServiceInfo,
    refs: &ServiceRefs,
    elb: Option<&ClassicLoadBalancer>,
) -> Result<EcsServiceSpec, String> {
    let running = revision_of(&service.task_definition).ok_or_else(|| {
        format!(
            "service {} runs task definition {:?}, which has no revision number",
            service.name, service.task_definition
        )
    })?;
    let launch_type = match service.launch_type.as_deref() {
        None => None,
        Some("EC2") => Some(LaunchType::Ec2),
        Some("FARGATE") => Some(LaunchType::Fargate),
        Some("EXTERNAL") => Some(LaunchType::External),
        Some(other) => {
            return Err(format!(
                "service {}: launch type {other} is not supported",
                service.name
            ))
        }
    };
    if service.load_balancers.len() > 1 {
        return Err(format!(
            "service {} has {} load balancers; an EcsService has at most one",
            service.name,
            service.load_balancers.len()
        ));
    }
    let load_balancer = service
        .load_balancers
        .first()
        .map(|lb| ServiceLoadBalancer {
            container_name: lb.container_name.clone(),
            container_port: lb.container_port,
            load_balancer_name: lb.load_balancer_name.clone().filter(|_| elb.is_none()),
            target_group_arn: lb.target_group_arn.clone(),
            managed: elb.map(managed_elb_spec),
            // Import names an existing target group by ARN; it never claims one.
            managed_target_group: None,
        });
    Ok(EcsServiceSpec {
        service_name: Some(service.name.clone()),
        cluster_ref: Some(LocalRef {
            name: refs.cluster.clone(),
        }),
        task_def_ref: Some(TaskDefRef {
            name: refs.task_def.clone(),
            revision: (running != refs.latest_revision).then_some(running),
        }),
        desired_count: Some(service.desired_count),
        // ECS answers a strategy or a launch type; a spec states one of the two.
        launch_type: launch_type.filter(|_| service.capacity_provider_strategy.is_empty()),
        capacity_provider_strategy: service
            .capacity_provider_strategy
            .iter()
            .map(strategy_item)
            .collect(),
        role: service.role_arn.clone(),
        deployment_configuration: service.deployment_configuration.clone(),
        health_check_grace_period_seconds: service
            .health_check_grace_period_seconds
            .filter(|g| *g != 0),
        network_configuration: service.network_configuration.clone(),
        placement_strategy: service.placement_strategy.clone(),
        placement_constraints: service.placement_constraints.clone(),
        load_balancer,
        tags: BTreeMap::new(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::{ElbHealthCheck, Listener, ListenerProtocol, LoadBalancerScheme};
    use crate::api::task_def::{ContainerDefinition, PortMapping, Protocol};
    use crate::aws::types::ServiceLoadBalancerRef;
    use crate::planning::cluster::{launch_template_data, same_data};
    use crate::planning::task_def::spec_hash;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn kubernetes_names_are_rfc_1123() {
        assert_eq!(kubernetes_name("my-ecs-cluster"), "my-ecs-cluster");
        assert_eq!(kubernetes_name("My_Cluster"), "my-cluster");
        assert_eq!(kubernetes_name("_x_"), "x");
        assert_eq!(kubernetes_name("__"), "imported");
        assert_eq!(kubernetes_name(&"a".repeat(300)).len(), 253);
    }

    #[test]
    fn the_operators_own_user_data_lines_are_stripped() {
        let ours = user_data("c", Some("echo hi"));
        assert_eq!(
            user_data_spec("c", &b64(&ours)),
            Ok((Some("echo hi\n".into()), None))
        );
        assert_eq!(
            user_data_spec("c", &b64(&user_data("c", None))),
            Ok((None, None))
        );
    }

    #[test]
    fn hand_written_user_data_is_kept_verbatim() {
        let tutorial = "#!/bin/bash\n\necho ECS_CLUSTER=my-ecs-cluster > /etc/ecs/ecs.config\n";
        assert_eq!(
            user_data_spec("my-ecs-cluster", &b64(tutorial)),
            Ok((Some(tutorial.into()), Some(true)))
        );
        assert!(user_data_joins("my-ecs-cluster", &b64(tutorial)));
        assert!(!user_data_joins("my-ecs", &b64(tutorial)));
        assert!(user_data_joins(
            "c",
            &b64("echo \"ECS_CLUSTER=c\" >> /etc/ecs/ecs.config")
        ));
        assert!(user_data_spec("c", "not base64!").is_err());
    }

    fn tutorial_data() -> LaunchTemplateData {
        LaunchTemplateData {
            image_id: "ami-0123".into(),
            instance_type: "t2.micro".into(),
            instance_profile: Some("ecs-instance-role".into()),
            security_group_ids: vec!["sg-2".into(), "sg-1".into()],
            key_name: Some("test-ec2-key-pair".into()),
            user_data_base64: b64(
                "#!/bin/bash\n\necho ECS_CLUSTER=my-ecs-cluster > /etc/ecs/ecs.config\n",
            ),
        }
    }

    fn tutorial_group() -> AutoScalingGroup {
        AutoScalingGroup {
            name: "ecs-auto-scaling-group".into(),
            launch_template_id: Some("lt-1".into()),
            launch_template_version: Some("$Default".into()),
            min_size: 5,
            max_size: 5,
            desired_capacity: 5,
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            load_balancer_names: vec!["ecs-load-balancer".into()],
            ..Default::default()
        }
    }

    #[test]
    fn imported_capacity_asks_for_exactly_the_data_that_exists() {
        let data = tutorial_data();
        let cap = capacity_spec(
            "my-ecs-cluster",
            "ecs-launch-template",
            &data,
            &tutorial_group(),
        )
        .unwrap();
        assert_eq!(
            cap.launch_template_name.as_deref(),
            Some("ecs-launch-template")
        );
        assert_eq!(
            cap.auto_scaling_group_name.as_deref(),
            Some("ecs-auto-scaling-group")
        );
        assert_eq!(cap.user_data_verbatim, Some(true));
        assert_eq!(
            (cap.min_size, cap.max_size, cap.desired_capacity),
            (5, 5, Some(5))
        );
        assert_eq!(cap.load_balancer_names, ["ecs-load-balancer"]);
        // The planner's data from the imported spec is the template's data.
        assert!(same_data(
            &data,
            &launch_template_data("my-ecs-cluster", &cap)
        ));
        // So is the operator's own, default-named capacity.
        let mut own = tutorial_data();
        own.user_data_base64 = b64(&user_data("my-ecs-cluster", Some("echo extra\n")));
        let mut group = tutorial_group();
        group.name = "my-ecs-cluster-ecs-capacity".into();
        let cap = capacity_spec(
            "my-ecs-cluster",
            "my-ecs-cluster-ecs-capacity",
            &own,
            &group,
        )
        .unwrap();
        assert_eq!(
            (&cap.launch_template_name, &cap.auto_scaling_group_name),
            (&None, &None)
        );
        assert_eq!(cap.user_data_verbatim, None);
        assert!(same_data(
            &own,
            &launch_template_data("my-ecs-cluster", &cap)
        ));
    }

    #[test]
    fn a_launch_configuration_becomes_the_operators_own_launch_template() {
        // The tutorial's launch configuration, read as launch template data.
        let data = tutorial_data();
        let mut group = tutorial_group();
        group.launch_template_id = None;
        group.launch_template_version = None;
        group.launch_configuration_name = Some("ecs-launch-configuration".into());
        let cap = capacity_spec(
            "my-ecs-cluster",
            &launch_template_name("my-ecs-cluster"),
            &data,
            &group,
        )
        .unwrap();
        // The template gets the operator's default name; the group keeps its own.
        assert_eq!(cap.launch_template_name, None);
        assert_eq!(
            cap.auto_scaling_group_name.as_deref(),
            Some("ecs-auto-scaling-group")
        );
        assert_eq!(cap.image_id.as_deref(), Some("ami-0123"));
        assert_eq!(cap.instance_profile.as_deref(), Some("ecs-instance-role"));
        assert_eq!(cap.key_name.as_deref(), Some("test-ec2-key-pair"));
        assert_eq!(cap.security_group_ids, ["sg-1", "sg-2"]);
        assert_eq!(cap.user_data_verbatim, Some(true));
        // The template the operator creates from the spec holds the configuration's data.
        assert!(same_data(
            &data,
            &launch_template_data("my-ecs-cluster", &cap)
        ));
    }

    #[test]
    fn capacity_providers_are_stated_as_the_planner_reads_them() {
        use crate::aws::types::{CapacityProviderSettings, ManagedScalingSettings};
        use crate::planning::capacity_provider::{
            desired_association, plan_association, plan_provider, settings,
        };
        let provider = CapacityProvider {
            name: "my-ecs-cluster-ec2".into(),
            status: "ACTIVE".into(),
            settings: CapacityProviderSettings {
                managed_scaling: Some(ManagedScalingSettings {
                    target_capacity: 80,
                    minimum_scaling_step_size: 2,
                    maximum_scaling_step_size: 4,
                    instance_warmup_period: 60,
                }),
                managed_termination_protection: true,
                managed_draining: false,
            },
            ..Default::default()
        };
        let cap = with_capacity_provider(
            capacity_spec("my-ecs-cluster", "lt", &tutorial_data(), &tutorial_group()).unwrap(),
            "my-ecs-cluster",
            &provider,
        );
        let spec = cap.capacity_provider.clone().unwrap();
        // The operator's default name needs no field.
        assert_eq!(spec.name, None);
        assert_eq!(cap.desired_capacity, None);
        assert!(plan_provider(&settings(&spec), &provider).is_empty());
        // Without managed scaling the group's desired capacity stays stated.
        let mut manual = provider.clone();
        manual.settings.managed_scaling = None;
        manual.name = "by-hand".into();
        let cap = with_capacity_provider(
            capacity_spec("my-ecs-cluster", "lt", &tutorial_data(), &tutorial_group()).unwrap(),
            "my-ecs-cluster",
            &manual,
        );
        assert_eq!(cap.desired_capacity, Some(5));
        let spec = cap.capacity_provider.clone().unwrap();
        assert_eq!(spec.name.as_deref(), Some("by-hand"));
        assert!(plan_provider(&settings(&spec), &manual).is_empty());

        let item = |p: &str, weight: i32, base: i32| StrategyItem {
            capacity_provider: p.into(),
            weight,
            base,
        };
        let cluster = ClusterInfo {
            name: "my-ecs-cluster".into(),
            capacity_providers: vec!["by-hand".into(), "FARGATE".into()],
            default_capacity_provider_strategy: vec![item("by-hand", 1, 2), item("FARGATE", 3, 0)],
            ..Default::default()
        };
        let (providers, strategy, warnings) = cluster_providers(&cluster, Some("by-hand"));
        assert_eq!(providers, [FargateCapacityProvider::Fargate]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let cluster_spec = crate::api::cluster::EcsClusterSpec {
            capacity: Some(cap),
            capacity_providers: providers,
            default_capacity_provider_strategy: strategy,
            ..Default::default()
        };
        // The planner finds the association as it is: no PutClusterCapacityProviders.
        let want = desired_association(&cluster_spec, Some("by-hand")).unwrap();
        assert_eq!(plan_association(&want, &cluster), None);

        // A provider the manifests cannot state (not the imported group's): a warning
        // saying that applying detaches it, and the strategy without it.
        let (_, strategy, warnings) = cluster_providers(&cluster, None);
        assert_eq!(strategy.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("applying them detaches by-hand"));
    }

    #[test]
    fn an_imported_task_definition_hashes_as_its_revision() {
        // As ECS describes what the tutorial registered: defaults filled in.
        let registered = EcsTaskDefSpec {
            family: Some("hello-world-task".into()),
            container_definitions: vec![ContainerDefinition {
                name: "hello-world-container".into(),
                image: "training/webapp:latest".into(),
                cpu: Some(0),
                memory: Some(128),
                essential: Some(true),
                port_mappings: vec![PortMapping {
                    container_port: 5000,
                    host_port: Some(80),
                    protocol: Some(Protocol::Tcp),
                    name: None,
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let spec = task_def_spec("hello-world-task", &registered);
        assert_eq!(spec.family.as_deref(), Some("hello-world-task"));
        assert_eq!(spec.container_definitions[0].cpu, None);
        assert_eq!(
            spec_hash(&spec),
            spec_hash(&spec_from_registered(&registered))
        );
    }

    fn tutorial_elb() -> ClassicLoadBalancer {
        ClassicLoadBalancer {
            name: "ecs-load-balancer".into(),
            dns_name: Some("ecs-load-balancer-1.elb.amazonaws.com".into()),
            scheme: Some("internet-facing".into()),
            listeners: vec![Listener {
                protocol: ListenerProtocol::Http,
                load_balancer_port: 80,
                instance_port: 80,
                instance_protocol: Some(ListenerProtocol::Http),
            }],
            health_check: Some(ElbHealthCheck {
                target: "HTTP:80/".into(),
                interval_seconds: 30,
                timeout_seconds: 5,
                healthy_threshold: 10,
                unhealthy_threshold: 2,
            }),
            subnet_ids: vec!["subnet-b".into(), "subnet-a".into()],
            security_group_ids: vec!["sg-1".into()],
        }
    }

    fn tutorial_service(td_revision: i32) -> ServiceInfo {
        ServiceInfo {
            name: "hello-world-service".into(),
            status: "ACTIVE".into(),
            desired_count: 4,
            task_definition: format!(
                "arn:aws:ecs:us-east-1:1:task-definition/hello-world-task:{td_revision}"
            ),
            launch_type: Some("EC2".into()),
            role_arn: Some("arn:aws:iam::1:role/ecs-service-role".into()),
            load_balancers: vec![ServiceLoadBalancerRef {
                load_balancer_name: Some("ecs-load-balancer".into()),
                target_group_arn: None,
                container_name: "hello-world-container".into(),
                container_port: 5000,
            }],
            health_check_grace_period_seconds: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn a_service_on_a_strategy_is_imported_with_it_and_no_launch_type() {
        let refs = ServiceRefs {
            cluster: "my-ecs-cluster".into(),
            task_def: "hello-world-task".into(),
            latest_revision: 1,
        };
        let mut service = tutorial_service(1);
        service.load_balancers.clear();
        // moto also answers the launch type next to a strategy.
        service.capacity_provider_strategy = vec![StrategyItem {
            capacity_provider: "FARGATE".into(),
            weight: 1,
            base: 2,
        }];
        let spec = service_spec(&service, &refs, None).unwrap();
        assert_eq!(spec.launch_type, None);
        assert_eq!(
            spec.capacity_provider_strategy,
            [CapacityProviderStrategyItem {
                capacity_provider: "FARGATE".into(),
                weight: Some(1),
                base: Some(2),
            }]
        );
    }

    #[test]
    fn an_imported_service_follows_its_task_definition_and_owns_its_elb() {
        let refs = ServiceRefs {
            cluster: "my-ecs-cluster".into(),
            task_def: "hello-world-task".into(),
            latest_revision: 1,
        };
        let elb = tutorial_elb();
        let spec = service_spec(&tutorial_service(1), &refs, Some(&elb)).unwrap();
        assert_eq!(spec.task_def_ref.as_ref().unwrap().revision, None);
        assert_eq!(spec.desired_count, Some(4));
        assert_eq!(spec.launch_type, Some(LaunchType::Ec2));
        assert_eq!(spec.health_check_grace_period_seconds, None);
        let lb = spec.load_balancer.unwrap();
        assert_eq!(lb.load_balancer_name, None);
        let managed = lb.managed.unwrap();
        assert_eq!(managed.scheme, Some(LoadBalancerScheme::InternetFacing));
        assert_eq!(managed.subnet_ids, ["subnet-a", "subnet-b"]);
        // Nothing for the ELB planner to change.
        assert!(crate::planning::service::plan_elb(&managed, &elb)
            .unwrap()
            .is_empty());
        // A service on an older revision is pinned to it.
        let pinned = service_spec(
            &tutorial_service(1),
            &ServiceRefs {
                latest_revision: 2,
                ..refs
            },
            None,
        )
        .unwrap();
        assert_eq!(pinned.task_def_ref.unwrap().revision, Some(1));
        assert_eq!(
            pinned.load_balancer.unwrap().load_balancer_name.as_deref(),
            Some("ecs-load-balancer")
        );
    }
}

/// The `autoScaling` of a service whose desired count has an Application Auto Scaling
/// target, from the target and its policies, with warnings for what it cannot state.
/// `None` when no policy can be stated (autoScaling needs one): the service is then
/// imported without desiredCount, so the operator never fights the scaler either way.
pub fn auto_scaling_spec(
    service: &str,
    target: &ScalableTarget,
    policies: &[ScalingPolicy],
) -> (Option<ServiceAutoScaling>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut tracking: Vec<TargetTrackingPolicy> = Vec::new();
    for p in policies {
        let metric = p.target_tracking.as_ref().and_then(|c| {
            let m = match c.predefined_metric.as_str() {
                "ECSServiceAverageCPUUtilization" => ScalingMetric::Cpu,
                "ECSServiceAverageMemoryUtilization" => ScalingMetric::Memory,
                // The ALB's ARN is not recoverable from the resource label alone.
                _ => return None,
            };
            Some((m, c))
        });
        match metric {
            Some((m, c)) if !tracking.iter().any(|t| t.metric == m) => {
                let ours = policy_name(service, m);
                if p.name != ours {
                    warnings.push(format!(
                        "scaling policy {} of service {service} becomes {ours}: the operator \
                         puts {ours} and leaves {} in place; delete {} once {ours} exists, \
                         or both will scale the service",
                        p.name, p.name, p.name
                    ));
                }
                tracking.push(TargetTrackingPolicy {
                    metric: m,
                    target: c.target_value,
                    scale_in_cooldown: c.scale_in_cooldown,
                    scale_out_cooldown: c.scale_out_cooldown,
                    load_balancer_arn: None,
                });
            }
            _ => warnings.push(format!(
                "scaling policy {} of service {service} cannot be stated in autoScaling (only \
                 target tracking on CPU or Memory, one per metric, is imported): it is left \
                 in place and keeps scaling the service",
                p.name
            )),
        }
    }
    if tracking.is_empty() {
        warnings.push(format!(
            "service {service} has a scalable target but no policy autoScaling can state: \
             imported without autoScaling and without desiredCount, so the operator leaves \
             the count to the scaler"
        ));
        return (None, warnings);
    }
    (
        Some(ServiceAutoScaling {
            min_count: target.min_capacity,
            max_count: target.max_capacity.max(1),
            target_tracking: tracking,
        }),
        warnings,
    )
}

#[cfg(test)]
mod auto_scaling_tests {
    use super::*;
    use crate::aws::types::TargetTrackingConfig;

    fn tracking(name: &str, metric: &str, target: f64) -> ScalingPolicy {
        ScalingPolicy {
            name: name.into(),
            resource_id: "service/c/web".into(),
            target_tracking: Some(TargetTrackingConfig {
                predefined_metric: metric.into(),
                target_value: target,
                scale_in_cooldown: Some(120),
                ..Default::default()
            }),
        }
    }

    fn target() -> ScalableTarget {
        ScalableTarget {
            resource_id: "service/c/web".into(),
            arn: None,
            min_capacity: 2,
            max_capacity: 8,
        }
    }

    #[test]
    fn target_tracking_on_cpu_and_memory_is_imported() {
        let (spec, warnings) = auto_scaling_spec(
            "web",
            &target(),
            &[
                tracking("web-cpu", "ECSServiceAverageCPUUtilization", 60.0),
                tracking("mem-policy", "ECSServiceAverageMemoryUtilization", 75.0),
                tracking("alb", "ALBRequestCountPerTarget", 500.0),
            ],
        );
        let spec = spec.expect("autoScaling");
        assert_eq!((spec.min_count, spec.max_count), (2, 8));
        assert_eq!(spec.target_tracking.len(), 2);
        assert_eq!(spec.target_tracking[0].metric, ScalingMetric::Cpu);
        assert_eq!(spec.target_tracking[0].scale_in_cooldown, Some(120));
        assert_eq!(spec.target_tracking[1].target, 75.0);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("mem-policy") && warnings[0].contains("web-memory"));
        assert!(warnings[1].contains("alb"));
    }

    #[test]
    fn a_target_without_statable_policies_is_left_to_the_scaler() {
        let step = ScalingPolicy {
            name: "step".into(),
            ..Default::default()
        };
        let (spec, warnings) = auto_scaling_spec("web", &target(), &[step]);
        assert_eq!(spec, None);
        assert!(warnings.iter().any(|w| w.contains("without desiredCount")));
    }
}
