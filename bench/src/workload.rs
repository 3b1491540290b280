//! The workload both operators are given: one ECS cluster, N services over N/10 task
//! definitions (service `i` runs task definition `i mod N/10`), as each operator's objects.
//!
//! Pure functions: names, manifests and the task definition edit, so the two operators get
//! the same AWS resources (same names, same container, same desired count).

use serde_json::{json, Value};

use crate::operators::{Operator, Role};

/// Services per task definition.
pub const SERVICES_PER_TASK_DEF: u32 = 10;

/// Name of the one ECS cluster (Kubernetes object and AWS cluster).
pub const CLUSTER: &str = "bench";

/// Container image of a task definition at `version` (1 at creation, +1 per edit).
pub fn image(version: u32) -> String {
    format!("public.ecr.aws/nginx/nginx:1.{version}")
}

/// The shape of one benchmark run's workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Services.
    pub services: u32,
    /// Task definitions (N/10, at least 1).
    pub task_defs: u32,
    /// `desiredCount` of every service: moto's `MOTO_ECS_SERVICE_RUNNING`, so the services'
    /// running count reaches it and a service is really Ready.
    pub desired_count: u32,
}

impl Workload {
    /// N services over N/10 task definitions (at least one).
    pub fn new(services: u32, desired_count: u32) -> Workload {
        Workload {
            services,
            task_defs: (services / SERVICES_PER_TASK_DEF).max(1),
            desired_count,
        }
    }

    /// Objects in Kubernetes: the cluster, the task definitions and the services.
    pub fn objects(&self) -> u32 {
        1 + self.task_defs + self.services
    }

    /// Name of task definition `i` (Kubernetes object and AWS family).
    pub fn task_def_name(&self, i: u32) -> String {
        format!("td-{i:05}")
    }

    /// Name of service `i` (Kubernetes object and AWS service).
    pub fn service_name(&self, i: u32) -> String {
        format!("svc-{i:05}")
    }

    /// The task definition service `i` runs.
    pub fn task_def_of_service(&self, i: u32) -> u32 {
        i % self.task_defs
    }

    /// The services that run task definition `t`.
    pub fn services_of_task_def(&self, t: u32) -> Vec<u32> {
        (0..self.services)
            .filter(|i| self.task_def_of_service(*i) == t)
            .collect()
    }

    /// Every object in creation order (cluster, task definitions, services), each with
    /// its role and manifest.
    pub fn manifests(&self, op: Operator, namespace: &str) -> Vec<(Role, Value)> {
        let mut out = Vec::with_capacity(self.objects() as usize);
        out.push((Role::Cluster, self.cluster_manifest(op, namespace)));
        for t in 0..self.task_defs {
            out.push((Role::TaskDef, self.task_def_manifest(op, namespace, t, 1)));
        }
        for i in 0..self.services {
            out.push((Role::Service, self.service_manifest(op, namespace, i)));
        }
        out
    }

    /// The cluster object.
    pub fn cluster_manifest(&self, op: Operator, namespace: &str) -> Value {
        let spec = match op {
            Operator::EcsOperator | Operator::EcsOperatorFake => json!({}),
            Operator::Ack => json!({ "name": CLUSTER }),
        };
        object(op, Role::Cluster, namespace, CLUSTER, spec)
    }

    /// Task definition `t` with its container at image `version`.
    pub fn task_def_manifest(&self, op: Operator, namespace: &str, t: u32, version: u32) -> Value {
        let name = self.task_def_name(t);
        let spec = match op {
            Operator::EcsOperator | Operator::EcsOperatorFake => {
                json!({ "containerDefinitions": containers(version) })
            }
            Operator::Ack => json!({ "family": name, "containerDefinitions": containers(version) }),
        };
        object(op, Role::TaskDef, namespace, &name, spec)
    }

    /// Service `i`.
    pub fn service_manifest(&self, op: Operator, namespace: &str, i: u32) -> Value {
        let name = self.service_name(i);
        let task_def = self.task_def_name(self.task_def_of_service(i));
        let spec = match op {
            Operator::EcsOperator | Operator::EcsOperatorFake => json!({
                "clusterRef": { "name": CLUSTER },
                "taskDefRef": { "name": task_def },
                "desiredCount": self.desired_count,
                "launchType": "EC2",
            }),
            Operator::Ack => json!({
                "name": name,
                "clusterRef": { "from": { "name": CLUSTER } },
                "taskDefinitionRef": { "from": { "name": task_def } },
                "desiredCount": self.desired_count,
                "launchType": "EC2",
            }),
        };
        object(op, Role::Service, namespace, &name, spec)
    }
}

/// The merge patch that moves a task definition to image `version`: the whole container
/// list (a merge patch replaces lists). The same for both operators.
pub fn task_def_edit(version: u32) -> Value {
    json!({ "spec": { "containerDefinitions": containers(version) } })
}

/// The one container of every task definition (what ECS calls containerDefinitions; the
/// same field name and shape in both CRDs).
fn containers(version: u32) -> Value {
    json!([{
        "name": "web",
        "image": image(version),
        "memory": 128,
        "essential": true,
        "portMappings": [{ "containerPort": 80, "hostPort": 0, "protocol": "tcp" }],
    }])
}

fn object(op: Operator, role: Role, namespace: &str, name: &str, spec: Value) -> Value {
    let kind = op.kind(role);
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind,
        "metadata": { "name": name, "namespace": namespace },
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let w = Workload::new(100, 1);
        assert_eq!(w.task_defs, 10);
        assert_eq!(w.objects(), 111);
        assert_eq!(Workload::new(1000, 1).objects(), 1101);
        // Fewer than 10 services still get one task definition.
        assert_eq!(Workload::new(5, 1).task_defs, 1);
        assert_eq!(w.services_of_task_def(3).len(), 10);
        assert!(w
            .services_of_task_def(3)
            .iter()
            .all(|i| w.task_def_of_service(*i) == 3));
    }

    #[test]
    fn manifests_in_creation_order() {
        let w = Workload::new(20, 2);
        for op in [Operator::EcsOperator, Operator::Ack] {
            let m = w.manifests(op, "bench");
            assert_eq!(m.len(), 23);
            assert_eq!(m[0].0, Role::Cluster);
            assert!(m[1..3].iter().all(|(r, _)| *r == Role::TaskDef));
            assert!(m[3..].iter().all(|(r, _)| *r == Role::Service));
            assert!(m.iter().all(|(_, v)| v["metadata"]["namespace"] == "bench"));
        }
    }

    #[test]
    fn ecs_operator_manifests() {
        let w = Workload::new(20, 2);
        let svc = w.service_manifest(Operator::EcsOperator, "ns", 13);
        assert_eq!(svc["apiVersion"], "ecsoperator.io/v1alpha1");
        assert_eq!(svc["kind"], "EcsService");
        assert_eq!(svc["metadata"]["name"], "svc-00013");
        assert_eq!(svc["spec"]["taskDefRef"]["name"], "td-00001");
        assert_eq!(svc["spec"]["clusterRef"]["name"], CLUSTER);
        assert_eq!(svc["spec"]["desiredCount"], 2);
        let td = w.task_def_manifest(Operator::EcsOperator, "ns", 1, 1);
        assert_eq!(td["kind"], "EcsTaskDef");
        assert_eq!(td["spec"]["containerDefinitions"][0]["image"], image(1));
        assert_eq!(
            w.cluster_manifest(Operator::EcsOperator, "ns")["kind"],
            "EcsCluster"
        );
    }

    #[test]
    fn ack_manifests() {
        let w = Workload::new(20, 2);
        let svc = w.service_manifest(Operator::Ack, "ns", 13);
        assert_eq!(svc["apiVersion"], "ecs.services.k8s.aws/v1alpha1");
        assert_eq!(svc["kind"], "Service");
        assert_eq!(svc["spec"]["name"], "svc-00013");
        assert_eq!(svc["spec"]["taskDefinitionRef"]["from"]["name"], "td-00001");
        assert_eq!(svc["spec"]["clusterRef"]["from"]["name"], CLUSTER);
        let td = w.task_def_manifest(Operator::Ack, "ns", 1, 1);
        assert_eq!(td["kind"], "TaskDefinition");
        assert_eq!(td["spec"]["family"], "td-00001");
        assert_eq!(
            w.cluster_manifest(Operator::Ack, "ns")["spec"]["name"],
            CLUSTER
        );
    }

    #[test]
    fn edit_changes_only_the_image() {
        let w = Workload::new(20, 1);
        let before = w.task_def_manifest(Operator::EcsOperator, "ns", 0, 1);
        let patch = task_def_edit(2);
        let after = &patch["spec"]["containerDefinitions"][0];
        let old = &before["spec"]["containerDefinitions"][0];
        assert_eq!(after["image"], image(2));
        assert_ne!(after["image"], old["image"]);
        assert_eq!(after["name"], old["name"]);
        assert_eq!(after["memory"], old["memory"]);
    }
}
