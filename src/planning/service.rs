//! Services: create, update (and which fields drifted), or leave alone; readiness from
//! the deployments; the managed classic ELB.

use crate::api::service::{
    DeploymentConfiguration, ElbHealthCheck, Listener, ListenerProtocol, ManagedLoadBalancer,
    NetworkConfiguration,
};
use crate::aws::types::{ClassicLoadBalancer, CreateServiceInput, ServiceInfo, UpdateServiceInput};

/// The service as the spec wants it, with references resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredService {
    /// What CreateService would send.
    pub create: CreateServiceInput,
    /// Whether desiredCount is managed (set in the spec) or only set at creation.
    pub manage_desired_count: bool,
    /// A new `ecsoperator.io/restartedAt` value not yet acted on.
    pub restart_requested: bool,
    /// The wanted task definition, if its deployment failed and ECS rolled back from it:
    /// rolling it out again would only fail again.
    pub failed_task_definition: Option<String>,
}

/// What to do with the ECS service.
#[derive(Clone, Debug, PartialEq)]
pub enum ServicePlan {
    /// It does not exist (or is INACTIVE): create it.
    Create(CreateServiceInput),
    /// It exists and differs: update these fields.
    Update {
        /// The UpdateService call.
        input: UpdateServiceInput,
        /// Names of the fields that differ from the spec.
        drifted: Vec<&'static str>,
    },
    /// It is being deleted by ECS (DRAINING); wait before creating it again.
    WaitDraining,
    /// Nothing to do.
    InSync,
}

fn deployment_config_matches(
    desired: &DeploymentConfiguration,
    observed: Option<&DeploymentConfiguration>,
) -> bool {
    let o = observed.cloned().unwrap_or_default();
    // Only what the spec sets is compared: AWS fills in the rest with its defaults.
    desired
        .minimum_healthy_percent
        .is_none_or(|v| o.minimum_healthy_percent == Some(v))
        && desired
            .maximum_percent
            .is_none_or(|v| o.maximum_percent == Some(v))
        && desired
            .deployment_circuit_breaker
            .as_ref()
            .is_none_or(|cb| o.deployment_circuit_breaker.as_ref() == Some(cb))
}

fn network_matches(
    desired: &NetworkConfiguration,
    observed: Option<&NetworkConfiguration>,
) -> bool {
    let norm = |n: &NetworkConfiguration| {
        n.awsvpc_configuration.as_ref().map(|a| {
            let mut subnets = a.subnets.clone();
            subnets.sort();
            let mut sgs = a.security_groups.clone();
            sgs.sort();
            let public = a
                .assign_public_ip
                .unwrap_or(crate::api::service::AssignPublicIp::Disabled);
            (subnets, sgs, public)
        })
    };
    Some(norm(desired)) == observed.map(norm)
}

/// Compare the desired service with what ECS has.
pub fn plan_service(desired: &DesiredService, observed: Option<&ServiceInfo>) -> ServicePlan {
    let Some(obs) = observed.filter(|s| s.status != "INACTIVE") else {
        return ServicePlan::Create(desired.create.clone());
    };
    if obs.status == "DRAINING" {
        return ServicePlan::WaitDraining;
    }
    let want = &desired.create;
    let mut input = UpdateServiceInput {
        cluster: want.cluster.clone(),
        name: want.name.clone(),
        ..Default::default()
    };
    let mut drifted = Vec::new();
    let failed = desired.failed_task_definition.as_deref() == Some(want.task_definition.as_str());
    if obs.task_definition != want.task_definition && !failed {
        input.task_definition = Some(want.task_definition.clone());
        drifted.push("taskDefinition");
    }
    if desired.manage_desired_count && obs.desired_count != want.desired_count {
        input.desired_count = Some(want.desired_count);
        drifted.push("desiredCount");
    }
    if let Some(dc) = &want.deployment_configuration {
        if !deployment_config_matches(dc, obs.deployment_configuration.as_ref()) {
            input.deployment_configuration = Some(dc.clone());
            drifted.push("deploymentConfiguration");
        }
    }
    if let Some(g) = want.health_check_grace_period_seconds {
        if obs.health_check_grace_period_seconds.unwrap_or(0) != g {
            input.health_check_grace_period_seconds = Some(g);
            drifted.push("healthCheckGracePeriodSeconds");
        }
    }
    if let Some(n) = &want.network_configuration {
        if !network_matches(n, obs.network_configuration.as_ref()) {
            input.network_configuration = Some(n.clone());
            drifted.push("networkConfiguration");
        }
    }
    if !want.placement_strategy.is_empty() && want.placement_strategy != obs.placement_strategy {
        input.placement_strategy = Some(want.placement_strategy.clone());
        drifted.push("placementStrategy");
    }
    if !want.placement_constraints.is_empty()
        && want.placement_constraints != obs.placement_constraints
    {
        input.placement_constraints = Some(want.placement_constraints.clone());
        drifted.push("placementConstraints");
    }
    if desired.restart_requested {
        input.force_new_deployment = true;
    }
    if input.is_empty() {
        ServicePlan::InSync
    } else {
        ServicePlan::Update { input, drifted }
    }
}

/// The task definition of a deployment that failed (circuit breaker), if any.
pub fn failed_task_definition(service: &ServiceInfo) -> Option<String> {
    service
        .deployments
        .iter()
        .find(|d| d.rollout_state.as_deref() == Some("FAILED"))
        .map(|d| d.task_definition.clone())
}

/// Where a service stands, for the Ready and Progressing conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// The primary deployment is COMPLETED and runs desiredCount tasks.
    Steady,
    /// A deployment is rolling out; the message says how far.
    InProgress(String),
    /// The primary deployment failed (circuit breaker); the message says why.
    Failed(String),
}

/// Read the rollout state of a service from its deployments.
pub fn rollout(service: &ServiceInfo) -> Rollout {
    let Some(primary) = service.deployments.iter().find(|d| d.status == "PRIMARY") else {
        return Rollout::InProgress("no primary deployment yet".into());
    };
    match primary.rollout_state.as_deref() {
        Some("FAILED") => {
            return Rollout::Failed(
                primary
                    .rollout_state_reason
                    .clone()
                    .unwrap_or_else(|| "the deployment failed".into()),
            )
        }
        Some("IN_PROGRESS") => {
            return Rollout::InProgress(format!(
                "deployment {} in progress: {}/{} tasks running",
                primary.id, primary.running_count, primary.desired_count
            ))
        }
        _ => {}
    }
    if service.deployments.len() > 1 {
        return Rollout::InProgress(format!(
            "{} deployments active, waiting for older ones to drain",
            service.deployments.len()
        ));
    }
    if service.running_count != service.desired_count {
        return Rollout::InProgress(format!(
            "{}/{} tasks running",
            service.running_count, service.desired_count
        ));
    }
    Rollout::Steady
}

/// What to do with a managed classic ELB that exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ElbPlan {
    /// Listeners to create.
    pub create_listeners: Vec<Listener>,
    /// Load balancer ports whose listeners to delete.
    pub delete_listener_ports: Vec<i32>,
    /// Health check to configure.
    pub health_check: Option<ElbHealthCheck>,
}

impl ElbPlan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.create_listeners.is_empty()
            && self.delete_listener_ports.is_empty()
            && self.health_check.is_none()
    }
}

fn normalize_listener(l: &Listener) -> Listener {
    Listener {
        instance_protocol: Some(l.instance_protocol.unwrap_or(l.protocol)),
        ..l.clone()
    }
}

/// Listener and health check changes for an existing managed ELB. A listener whose
/// settings changed is deleted and created again (ELB keys listeners by port).
pub fn plan_elb(spec: &ManagedLoadBalancer, observed: &ClassicLoadBalancer) -> ElbPlan {
    let want: Vec<Listener> = spec.listeners.iter().map(normalize_listener).collect();
    let have: Vec<Listener> = observed.listeners.iter().map(normalize_listener).collect();
    let mut plan = ElbPlan::default();
    for h in &have {
        if !want.contains(h) {
            plan.delete_listener_ports.push(h.load_balancer_port);
        }
    }
    for w in &want {
        if !have.contains(w) {
            plan.create_listeners.push(w.clone());
        }
    }
    if let Some(hc) = &spec.health_check {
        if observed.health_check.as_ref() != Some(hc) {
            plan.health_check = Some(hc.clone());
        }
    }
    plan
}

/// Default protocol for a listener's instance side.
pub fn instance_protocol(l: &Listener) -> ListenerProtocol {
    l.instance_protocol.unwrap_or(l.protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::DeploymentCircuitBreaker;
    use crate::aws::types::Deployment;

    fn desired() -> DesiredService {
        DesiredService {
            create: CreateServiceInput {
                cluster: "c".into(),
                name: "s".into(),
                task_definition: "arn:td/web:2".into(),
                desired_count: 4,
                ..Default::default()
            },
            manage_desired_count: true,
            restart_requested: false,
            failed_task_definition: None,
        }
    }

    fn observed() -> ServiceInfo {
        ServiceInfo {
            name: "s".into(),
            status: "ACTIVE".into(),
            task_definition: "arn:td/web:2".into(),
            desired_count: 4,
            running_count: 4,
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(200),
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: false,
                    rollback: false,
                }),
            }),
            deployments: vec![Deployment {
                id: "d1".into(),
                status: "PRIMARY".into(),
                task_definition: "arn:td/web:2".into(),
                desired_count: 4,
                running_count: 4,
                rollout_state: Some("COMPLETED".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn absent_or_inactive_service_is_created() {
        assert!(matches!(
            plan_service(&desired(), None),
            ServicePlan::Create(_)
        ));
        let mut inactive = observed();
        inactive.status = "INACTIVE".into();
        assert!(matches!(
            plan_service(&desired(), Some(&inactive)),
            ServicePlan::Create(_)
        ));
        let mut draining = observed();
        draining.status = "DRAINING".into();
        assert_eq!(
            plan_service(&desired(), Some(&draining)),
            ServicePlan::WaitDraining
        );
    }

    #[test]
    fn matching_service_is_in_sync_despite_aws_defaults() {
        assert_eq!(
            plan_service(&desired(), Some(&observed())),
            ServicePlan::InSync
        );
    }

    #[test]
    fn new_task_definition_rolls_the_service() {
        let mut d = desired();
        d.create.task_definition = "arn:td/web:3".into();
        match plan_service(&d, Some(&observed())) {
            ServicePlan::Update { input, drifted } => {
                assert_eq!(input.task_definition.as_deref(), Some("arn:td/web:3"));
                assert_eq!(input.desired_count, None);
                assert_eq!(drifted, vec!["taskDefinition"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn desired_count_drift_is_corrected_only_when_managed() {
        let mut o = observed();
        o.desired_count = 7;
        match plan_service(&desired(), Some(&o)) {
            ServicePlan::Update { input, drifted } => {
                assert_eq!(input.desired_count, Some(4));
                assert_eq!(drifted, vec!["desiredCount"]);
            }
            other => panic!("{other:?}"),
        }
        let mut unmanaged = desired();
        unmanaged.manage_desired_count = false;
        assert_eq!(plan_service(&unmanaged, Some(&o)), ServicePlan::InSync);
    }

    #[test]
    fn deployment_configuration_compares_only_what_the_spec_sets() {
        let mut d = desired();
        d.create.deployment_configuration = Some(DeploymentConfiguration {
            minimum_healthy_percent: Some(50),
            ..Default::default()
        });
        match plan_service(&d, Some(&observed())) {
            ServicePlan::Update { drifted, .. } => {
                assert_eq!(drifted, vec!["deploymentConfiguration"])
            }
            other => panic!("{other:?}"),
        }
        d.create.deployment_configuration = Some(DeploymentConfiguration {
            maximum_percent: Some(200),
            ..Default::default()
        });
        assert_eq!(plan_service(&d, Some(&observed())), ServicePlan::InSync);
    }

    #[test]
    fn restart_forces_a_deployment() {
        let mut d = desired();
        d.restart_requested = true;
        match plan_service(&d, Some(&observed())) {
            ServicePlan::Update { input, drifted } => {
                assert!(input.force_new_deployment);
                assert!(drifted.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rolled_back_task_definition_is_not_rolled_out_again() {
        let mut d = desired();
        d.create.task_definition = "arn:td/web:3".into();
        d.failed_task_definition = Some("arn:td/web:3".into());
        assert_eq!(plan_service(&d, Some(&observed())), ServicePlan::InSync);
        // Another revision is rolled out as usual.
        d.failed_task_definition = Some("arn:td/web:9".into());
        assert!(matches!(
            plan_service(&d, Some(&observed())),
            ServicePlan::Update { .. }
        ));
        let mut o = observed();
        o.deployments.push(Deployment {
            status: "ACTIVE".into(),
            task_definition: "arn:td/web:3".into(),
            rollout_state: Some("FAILED".into()),
            ..Default::default()
        });
        assert_eq!(failed_task_definition(&o).as_deref(), Some("arn:td/web:3"));
        assert_eq!(failed_task_definition(&observed()), None);
    }

    #[test]
    fn rollout_states() {
        assert_eq!(rollout(&observed()), Rollout::Steady);
        let mut o = observed();
        o.deployments[0].rollout_state = Some("IN_PROGRESS".into());
        assert!(matches!(rollout(&o), Rollout::InProgress(_)));
        let mut f = observed();
        f.deployments[0].rollout_state = Some("FAILED".into());
        f.deployments[0].rollout_state_reason = Some("tasks failed to start".into());
        assert_eq!(rollout(&f), Rollout::Failed("tasks failed to start".into()));
        let mut two = observed();
        two.deployments.push(Deployment {
            status: "ACTIVE".into(),
            ..Default::default()
        });
        assert!(matches!(rollout(&two), Rollout::InProgress(_)));
        let mut short = observed();
        short.running_count = 3;
        assert!(matches!(rollout(&short), Rollout::InProgress(m) if m.contains("3/4")));
        assert!(matches!(
            rollout(&ServiceInfo::default()),
            Rollout::InProgress(_)
        ));
    }

    fn listener(port: i32, instance: i32) -> Listener {
        Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: port,
            instance_port: instance,
            instance_protocol: None,
        }
    }

    #[test]
    fn elb_listener_and_health_check_changes() {
        let hc = ElbHealthCheck {
            target: "HTTP:80/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        };
        let spec = ManagedLoadBalancer {
            subnet_ids: vec!["s".into()],
            listeners: vec![listener(80, 80)],
            health_check: Some(hc.clone()),
            ..Default::default()
        };
        let mut observed = ClassicLoadBalancer {
            name: "lb".into(),
            dns_name: None,
            scheme: None,
            listeners: vec![Listener {
                instance_protocol: Some(ListenerProtocol::Http),
                ..listener(80, 80)
            }],
            health_check: Some(hc.clone()),
            subnet_ids: vec![],
            security_group_ids: vec![],
        };
        assert!(
            plan_elb(&spec, &observed).is_empty(),
            "defaulted instance protocol matches"
        );
        observed.listeners = vec![listener(80, 8080), listener(81, 81)];
        observed.health_check = None;
        let plan = plan_elb(&spec, &observed);
        assert_eq!(plan.delete_listener_ports, vec![80, 81]);
        assert_eq!(
            plan.create_listeners,
            vec![Listener {
                instance_protocol: Some(ListenerProtocol::Http),
                ..listener(80, 80)
            }]
        );
        assert_eq!(plan.health_check, Some(hc));
    }
}
