//! The bulk sweep: once per resync period, the EcsClusters' ECS clusters and capacity
//! providers are described 100 a call and their launch templates and Auto Scaling groups
//! listed by the owner tag; the EcsServices' managed ALB target groups are described 20 a
//! call with their listeners' rules (once per listener); every
//! ECS cluster the EcsServices run in is read in bulk (ListServices, then DescribeServices 10 at a time), and the ACTIVE task
//! definition revisions of every region with EcsTaskDefs (ListTaskDefinitions, 100 a
//! page), into the shared cache that resync reconciles read; services whose deployment is
//! still rolling are woken so their status follows ECS without per-object polling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::context::Context;
use crate::api::{EcsCluster, EcsService, EcsTaskDef};
use crate::aws::observed::elbv2::TargetGroupSweep;
use crate::aws::types::{ServiceInfo, Tags};
use crate::planning::ownership::OWNER_TAG;
use crate::planning::service::{rollout, Rollout};

/// The (region, cluster) pairs the services run in, as their statuses record them.
pub fn sweep_targets(
    services: &[Arc<EcsService>],
    default_region: &str,
) -> BTreeSet<(String, String)> {
    services
        .iter()
        .filter_map(|s| {
            let cluster = s.status.as_ref()?.cluster_arn.clone()?;
            let region = s
                .spec
                .region
                .clone()
                .unwrap_or_else(|| default_region.to_string());
            Some((region, cluster))
        })
        .collect()
}

/// The managed classic ELBs the services own, per region, as their statuses record them.
pub fn managed_elbs(
    services: &[Arc<EcsService>],
    default_region: &str,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for s in services {
        let Some(status) = s.status.as_ref() else {
            continue;
        };
        let region = s
            .spec
            .region
            .clone()
            .unwrap_or_else(|| default_region.to_string());
        out.entry(region)
            .or_default()
            .extend(status.managed_load_balancers.iter().cloned());
    }
    out.retain(|_, names| !names.is_empty());
    out
}

/// The managed ALB target groups the services have (as their statuses record them), with
/// the listeners their rules are on, per region.
pub fn managed_target_groups(
    services: &[Arc<EcsService>],
    default_region: &str,
) -> BTreeMap<String, TargetGroupSweep> {
    let mut out: BTreeMap<String, TargetGroupSweep> = BTreeMap::new();
    for s in services {
        let Some(lb) = s.status.as_ref().and_then(|st| st.load_balancer.as_ref()) else {
            continue;
        };
        let Some(spec) = s
            .spec
            .load_balancer
            .as_ref()
            .and_then(|l| l.managed_target_group.as_ref())
        else {
            continue;
        };
        if lb.target_group_arn.is_none() {
            continue;
        }
        let region = s
            .spec
            .region
            .clone()
            .unwrap_or_else(|| default_region.to_string());
        let entry = out.entry(region).or_default();
        entry.names.push(lb.name.clone());
        entry.listeners.push(spec.listener_arn.clone());
        if spec.deregistration_delay_seconds.is_some() {
            entry.with_delay.push(lb.name.clone());
        }
    }
    for sweep in out.values_mut() {
        for list in [
            &mut sweep.names,
            &mut sweep.listeners,
            &mut sweep.with_delay,
        ] {
            list.sort_unstable();
            list.dedup();
        }
    }
    out
}

/// The regions the EcsTaskDefs live in.
pub fn task_def_regions(task_defs: &[Arc<EcsTaskDef>], default_region: &str) -> BTreeSet<String> {
    task_defs
        .iter()
        .map(|t| {
            t.spec
                .region
                .clone()
                .unwrap_or_else(|| default_region.to_string())
        })
        .collect()
}

/// The EcsService an ECS service belongs to, from its owner tag, if this management
/// cluster owns it.
pub fn owning_service(tags: &Tags, cluster_id: &str) -> Option<ObjectRef<EcsService>> {
    let owner = tags.get(OWNER_TAG)?;
    let rest = owner.strip_prefix(cluster_id)?.strip_prefix('/')?;
    match rest.split('/').collect::<Vec<_>>()[..] {
        [namespace, "EcsService", name] => Some(ObjectRef::new(name).within(namespace)),
        _ => None,
    }
}

/// Of what a sweep saw, the EcsServices to reconcile now: those whose deployment rolls.
pub fn to_wake(seen: &[ServiceInfo], cluster_id: &str) -> Vec<ObjectRef<EcsService>> {
    seen.iter()
        .filter(|s| !matches!(rollout(s), Rollout::Steady))
        .filter_map(|s| owning_service(&s.tags, cluster_id))
        .collect()
}

/// Whether the controller of a watched scope (one namespace, or all when `None`) holds
/// the object `r`.
pub fn in_scope(scope: Option<&str>, r: &ObjectRef<EcsService>) -> bool {
    scope.is_none_or(|ns| r.namespace.as_deref() == Some(ns))
}

/// What one region's sweep reads for the EcsClusters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterSweep {
    /// ECS cluster names.
    pub names: Vec<String>,
    /// Whether any of them has capacity (launch template and Auto Scaling group).
    pub capacity: bool,
    /// The names of their managed capacity providers.
    pub providers: Vec<String>,
}

/// Per region, what to sweep of the EcsClusters.
pub fn cluster_sweeps(
    clusters: &[Arc<EcsCluster>],
    default_region: &str,
) -> BTreeMap<String, ClusterSweep> {
    let mut out: BTreeMap<String, ClusterSweep> = BTreeMap::new();
    for c in clusters {
        let region = c
            .spec
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| default_region.to_string());
        let entry = out.entry(region).or_default();
        entry.names.push(c.cluster_name());
        entry.capacity |= c.spec.capacity.is_some();
        entry.providers.extend(c.capacity_provider_name());
    }
    for sweep in out.values_mut() {
        for list in [&mut sweep.names, &mut sweep.providers] {
            list.sort_unstable();
            list.dedup();
        }
    }
    out
}

/// Sweep every resync period until `shutdown`; wake services through `wake` (one sender
/// per watched scope, which only gets the objects it holds).
pub async fn run(
    ctx: Arc<Context>,
    wake: Vec<(Option<String>, mpsc::Sender<ObjectRef<EcsService>>)>,
    shutdown: Shared<BoxFuture<'static, ()>>,
) {
    let period = ctx.settings.resync_period;
    // Sweeps start a period apart, not a period after the last one ended: their length
    // (most of a period at 10,000 services) must not stretch the age of what was seen.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.clone() => return,
        }
        let (mut services, mut task_defs) =
            match (ctx.stores.all_services(), ctx.stores.all_task_defs()) {
                (Ok(s), Ok(t)) => (s, t),
                // Still loading: the next period sweeps.
                _ => continue,
            };
        // With sharding, the replicas holding the other shards sweep for theirs.
        services.retain(|s| ctx.shards.owns(&s.namespace().unwrap_or_default()));
        task_defs.retain(|t| ctx.shards.owns(&t.namespace().unwrap_or_default()));
        let default_region = ctx.aws.default_region();
        // A store still loading skips the clusters this period, not the services.
        let clusters = ctx.stores.all_clusters().unwrap_or_default();
        for (region, sweep) in cluster_sweeps(&clusters, &default_region) {
            let clients = ctx.aws.clients(Some(&region));
            let cache = ctx.observed.region(&region);
            match cache
                .sweep_clusters(clients.ecs.as_ref(), &sweep.names)
                .await
            {
                Ok(n) => debug!(%region, clusters = n, "swept ECS clusters"),
                Err(e) => warn!(%region, error = %e, "bulk sweep of ECS clusters failed"),
            }
            if !sweep.providers.is_empty() {
                match cache
                    .sweep_capacity_providers(clients.ecs.as_ref(), &sweep.providers)
                    .await
                {
                    Ok(n) => debug!(%region, providers = n, "swept capacity providers"),
                    Err(e) => warn!(%region, error = %e, "bulk sweep of capacity providers failed"),
                }
            }
            if sweep.capacity {
                match cache
                    .sweep_capacity(
                        clients.ec2.as_ref(),
                        clients.autoscaling.as_ref(),
                        OWNER_TAG,
                    )
                    .await
                {
                    Ok((templates, groups)) => {
                        debug!(%region, templates, groups, "swept launch templates and groups")
                    }
                    Err(e) => warn!(%region, error = %e, "bulk sweep of capacity failed"),
                }
            }
        }
        for region in task_def_regions(&task_defs, &default_region) {
            let clients = ctx.aws.clients(Some(&region));
            match ctx
                .observed
                .region(&region)
                .sweep_task_definitions(clients.ecs.as_ref())
                .await
            {
                Ok(families) => debug!(%region, families, "swept task definitions"),
                Err(e) => warn!(%region, error = %e, "bulk sweep of task definitions failed"),
            }
        }
        for (region, names) in managed_elbs(&services, &default_region) {
            let clients = ctx.aws.clients(Some(&region));
            match ctx
                .observed
                .region(&region)
                .sweep_elbs(clients.elb.as_ref(), &names)
                .await
            {
                Ok(n) => debug!(%region, elbs = n, "swept classic load balancers"),
                Err(e) => warn!(%region, error = %e, "bulk sweep of load balancers failed"),
            }
        }
        for (region, want) in managed_target_groups(&services, &default_region) {
            let clients = ctx.aws.clients(Some(&region));
            match ctx
                .observed
                .region(&region)
                .sweep_target_groups(clients.elbv2.as_ref(), &want)
                .await
            {
                Ok((groups, listeners)) => {
                    debug!(%region, groups, listeners, "swept target groups and listener rules")
                }
                Err(e) => warn!(%region, error = %e, "bulk sweep of target groups failed"),
            }
        }
        for (region, cluster) in sweep_targets(&services, &default_region) {
            let clients = ctx.aws.clients(Some(&region));
            let cache = ctx.observed.region(&region);
            // What was seen in the last half period is still valid at the next sweep.
            match cache
                .sweep(clients.ecs.as_ref(), &cluster, period / 2)
                .await
            {
                Ok(seen) => {
                    let woken = to_wake(&seen, &ctx.settings.cluster_id);
                    debug!(%cluster, services = seen.len(), woken = woken.len(), "swept");
                    for r in woken {
                        for (scope, tx) in &wake {
                            if !in_scope(scope.as_deref(), &r) {
                                continue;
                            }
                            // A full queue only means a wake-up is already pending.
                            let _ = tx.try_send(r.clone());
                        }
                    }
                }
                // The next sweep tries again; until then reconciles read AWS directly.
                Err(e) => warn!(%cluster, error = %e, "bulk sweep failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::EcsServiceStatus;
    use crate::aws::types::Deployment;

    #[test]
    fn clusters_are_swept_per_region_with_capacity_only_where_some_has_it() {
        let cluster = |name: &str, region: Option<&str>, capacity: bool| {
            let mut c = EcsCluster::new(name, Default::default());
            c.spec.region = region.map(str::to_string);
            c.spec.capacity = capacity.then(|| {
                serde_json::from_value(serde_json::json!({
                    "instanceType": "t3.micro",
                    "minSize": 0,
                    "maxSize": 1,
                    "desiredCapacity": 0,
                    "subnetIds": ["subnet-1"],
                    "securityGroupIds": ["sg-1"],
                    "instanceProfile": "ecsInstanceRole"
                }))
                .expect("capacity")
            });
            Arc::new(c)
        };
        let sweeps = cluster_sweeps(
            &[
                cluster("a", None, false),
                cluster("b", Some("us-east-1"), true),
                cluster("c", Some("eu-west-1"), false),
                cluster("a", Some(""), false),
            ],
            "us-east-1",
        );
        assert_eq!(sweeps.len(), 2);
        let east = &sweeps["us-east-1"];
        assert_eq!(east.names.len(), 2, "{:?}", east.names);
        assert!(east.capacity);
        assert!(!sweeps["eu-west-1"].capacity);
        assert!(east.providers.is_empty(), "no capacityProvider in the spec");
    }

    #[test]
    fn capacity_providers_are_swept_by_the_name_the_spec_gives_them() {
        let cluster = |name: &str, provider: Option<&str>| {
            let mut c = EcsCluster::new(name, Default::default());
            c.spec.capacity = Some(
                serde_json::from_value(serde_json::json!({
                    "instanceType": "t3.micro",
                    "minSize": 0,
                    "maxSize": 1,
                    "subnetIds": ["subnet-1"],
                    "securityGroupIds": ["sg-1"],
                    "instanceProfile": "ecsInstanceRole",
                    "capacityProvider": provider.map_or(serde_json::json!({}), |n| serde_json::json!({"name": n})),
                }))
                .expect("capacity"),
            );
            Arc::new(c)
        };
        let plain = Arc::new(EcsCluster::new("plain", Default::default()));
        let sweeps = cluster_sweeps(
            &[cluster("a", None), cluster("b", Some("custom")), plain],
            "us-east-1",
        );
        assert_eq!(sweeps["us-east-1"].providers, ["a-ec2", "custom"]);
    }

    #[test]
    fn target_groups_are_swept_from_status_with_each_listener_once() {
        use crate::api::service::{LoadBalancerStatus, ManagedTargetGroup, ServiceLoadBalancer};
        let service = |tg: &str, listener: &str, delay: Option<i32>, created: bool| {
            let mut s = EcsService::new(tg, Default::default());
            s.spec.load_balancer = Some(ServiceLoadBalancer {
                managed_target_group: Some(ManagedTargetGroup {
                    listener_arn: listener.into(),
                    deregistration_delay_seconds: delay,
                    ..Default::default()
                }),
                ..Default::default()
            });
            s.status = Some(EcsServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    name: tg.into(),
                    target_group_arn: created.then(|| format!("arn:tg/{tg}")),
                    ..Default::default()
                }),
                ..Default::default()
            });
            Arc::new(s)
        };
        let mut elsewhere = EcsService::new("x", Default::default());
        elsewhere.spec.region = Some("eu-west-1".into());
        let sweeps = managed_target_groups(
            &[
                service("b", "l1", Some(30), true),
                service("a", "l1", None, true),
                service("c", "l2", None, true),
                service("new", "l3", None, false),
                Arc::new(elsewhere),
            ],
            "us-east-1",
        );
        assert_eq!(sweeps.len(), 1, "only services with a created group");
        let east = &sweeps["us-east-1"];
        assert_eq!(east.names, ["a", "b", "c"]);
        assert_eq!(east.listeners, ["l1", "l2"]);
        assert_eq!(east.with_delay, ["b"]);
    }

    #[test]
    fn wake_ups_go_only_to_the_scope_that_holds_the_object() {
        let r = ObjectRef::<EcsService>::new("a").within("ns");
        assert!(in_scope(None, &r));
        assert!(in_scope(Some("ns"), &r));
        assert!(!in_scope(Some("other"), &r));
    }

    #[test]
    fn owner_tags_map_back_to_this_clusters_services_only() {
        let tags = |v: &str| Tags::from([(OWNER_TAG.to_string(), v.to_string())]);
        assert_eq!(
            owning_service(&tags("mc/ns/EcsService/web"), "mc"),
            Some(ObjectRef::new("web").within("ns"))
        );
        assert_eq!(owning_service(&tags("other/ns/EcsService/web"), "mc"), None);
        assert_eq!(owning_service(&tags("mc2/ns/EcsService/web"), "mc"), None);
        assert_eq!(owning_service(&tags("mc/ns/EcsCluster/web"), "mc"), None);
        assert_eq!(owning_service(&Tags::new(), "mc"), None);
    }

    #[test]
    fn sweeps_cover_each_region_and_cluster_once_and_wake_rollouts() {
        let service = |region: Option<&str>, arn: Option<&str>| {
            let mut s = EcsService::new("s", Default::default());
            s.spec.region = region.map(str::to_string);
            s.status = Some(EcsServiceStatus {
                cluster_arn: arn.map(str::to_string),
                ..Default::default()
            });
            Arc::new(s)
        };
        let targets = sweep_targets(
            &[
                service(None, Some("arn:c1")),
                service(Some("us-east-1"), Some("arn:c1")),
                service(Some("eu-west-1"), Some("arn:c1")),
                service(None, None),
            ],
            "us-east-1",
        );
        assert_eq!(targets.len(), 2);
        let owned = Tags::from([(OWNER_TAG.to_string(), "mc/ns/EcsService/a".to_string())]);
        let deployment = |status: &str, state: &str| Deployment {
            status: status.into(),
            rollout_state: Some(state.into()),
            desired_count: 2,
            running_count: 2,
            ..Default::default()
        };
        let steady = ServiceInfo {
            tags: owned.clone(),
            desired_count: 2,
            running_count: 2,
            deployments: vec![deployment("PRIMARY", "COMPLETED")],
            ..Default::default()
        };
        let rolling = ServiceInfo {
            deployments: vec![deployment("PRIMARY", "IN_PROGRESS")],
            ..steady.clone()
        };
        assert!(to_wake(&[steady], "mc").is_empty());
        assert_eq!(
            to_wake(&[rolling], "mc"),
            vec![ObjectRef::new("a").within("ns")]
        );
    }
}
