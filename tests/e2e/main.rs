//! End to end: the tutorial replayed through the real operator binary against a real
//! kube-apiserver and moto, checked through both the Kubernetes and the AWS APIs.
//!
//! One test function runs the scenarios in order on one sandbox (starting the control
//! plane costs seconds, building it minutes the first time); the sharding test
//! (`sharding.rs`, three operator processes) has its own, and runs after or before it,
//! never alongside (lease timing under a doubled load would only measure the machine).

mod fault_proxy;
mod harness;
mod import_tutorial;
mod sharding;

use std::time::Duration;

use base64::Engine;
use fault_proxy::FaultProxy;
use harness::{eventually, http_get, kstatus, stderr, Operator, Sandbox};
use kube::api::Api;
use serde_json::{json, Value};
use std::str::FromStr;

use ecs_operator::api::{EcsCluster, EcsService, EcsTaskDef};

const WAIT: Duration = Duration::from_secs(120);

/// Held by each test for its whole run: one sandbox at a time.
static ONE_SANDBOX_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Aws {
    ecs: aws_sdk_ecs::Client,
    asg: aws_sdk_autoscaling::Client,
    elb: aws_sdk_elasticloadbalancing::Client,
    ec2: aws_sdk_ec2::Client,
    aas: aws_sdk_applicationautoscaling::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
}

impl Aws {
    async fn new(sb: &Sandbox) -> Aws {
        let cfg = sb.aws_config().await;
        Aws {
            ecs: aws_sdk_ecs::Client::new(&cfg),
            asg: aws_sdk_autoscaling::Client::new(&cfg),
            elb: aws_sdk_elasticloadbalancing::Client::new(&cfg),
            ec2: aws_sdk_ec2::Client::new(&cfg),
            aas: aws_sdk_applicationautoscaling::Client::new(&cfg),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&cfg),
        }
    }

    /// (min, max) of the scalable target of an ECS service, if registered.
    async fn scalable_target(&self, resource_id: &str) -> Option<(i32, i32)> {
        let out = self
            .aas
            .describe_scalable_targets()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
            .resource_ids(resource_id)
            .send()
            .await
            .ok()?;
        out.scalable_targets()
            .iter()
            .find(|t| t.resource_id() == resource_id)
            .map(|t| (t.min_capacity(), t.max_capacity()))
    }

    async fn service(&self, cluster: &str, name: &str) -> Option<aws_sdk_ecs::types::Service> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .ok()?;
        out.services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .cloned()
    }

    async fn active_revisions(&self, family: &str) -> Vec<String> {
        let out = self
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .send()
            .await
            .expect("list task definitions");
        out.task_definition_arns()
            .iter()
            .filter(|a| a.rsplit('/').next().and_then(|fr| fr.split(':').next()) == Some(family))
            .cloned()
            .collect()
    }

    async fn elb_names(&self) -> Vec<String> {
        let out = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .expect("describe ELBs");
        out.load_balancer_descriptions()
            .iter()
            .filter_map(|d| d.load_balancer_name().map(str::to_string))
            .collect()
    }

    async fn group(&self, name: &str) -> Option<aws_sdk_autoscaling::types::AutoScalingGroup> {
        let out = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .ok()?;
        out.auto_scaling_groups().first().cloned()
    }

    async fn launch_template_names(&self) -> Vec<String> {
        let out = self
            .ec2
            .describe_launch_templates()
            .send()
            .await
            .expect("describe launch templates");
        out.launch_templates()
            .iter()
            .filter_map(|t| t.launch_template_name().map(str::to_string))
            .collect()
    }

    async fn cluster_status(&self, name: &str) -> Option<String> {
        let out = self
            .ecs
            .describe_clusters()
            .clusters(name)
            .send()
            .await
            .ok()?;
        out.clusters()
            .first()
            .and_then(|c| c.status().map(str::to_string))
    }
}

fn ready(conds: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>) -> bool {
    conds.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e() {
    let _one_at_a_time = ONE_SANDBOX_AT_A_TIME.lock().await;
    let sb = Sandbox::up("e2e");
    sb.kubectl_ok(&["apply", "--server-side", "-f", "crds/ecs-operator.yaml"]);
    sb.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    let prereqs = sb
        .python("tutorial-prereqs.py", &[])
        .output()
        .expect("prereqs");
    assert!(
        prereqs.status.success(),
        "tutorial prerequisites: {}",
        stderr(&prereqs)
    );
    let aws = Aws::new(&sb).await;
    let client = sb.kube_client().await;

    bad_input_is_refused_by_the_apiserver(&sb);

    // A long resync: whatever happens below before the restart is driven by watches.
    let mut operator = Operator::start(&sb, "watch-driven", &["--resync-period", "1h"]);
    tutorial(&sb, &aws, &client).await;
    rolling_update(&sb, &aws, &client).await;
    observability(&operator);
    fargate_tutorial(&sb, &aws).await;
    let exit = operator.terminate();
    assert!(
        exit.success(),
        "SIGTERM must stop the operator cleanly: {exit:?}"
    );
    drop(operator);

    // Restart with a short resync: no new revision on restart, and drift gets corrected.
    let operator = Operator::start(&sb, "resync", &["--resync-period", "3s"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        aws.active_revisions("hello-world-task").await.len(),
        2,
        "a restart registered a revision"
    );
    drift_is_corrected(&sb, &aws).await;
    // With resyncs: moto's CreateService drops the strategy, the next sync puts it back.
    capacity_provider_cluster(&sb, &aws).await;
    autoscaled_service_keeps_the_scalers_count(&sb, &aws, &client).await;
    managed_target_group_on_an_existing_alb(&sb, &aws, &client).await;
    deletion_removes_everything(&sb, &aws, &client).await;
    retain_leaves_aws_alone(&sb, &aws, &client).await;
    conditions_explain_what_is_wrong(&sb, &client).await;
    drop(operator);

    crash_safety(&sb, &aws).await;
    leader_election_hands_over_and_fences(&sb, &aws).await;
}

/// Two replicas with leader election, each behind its own recording AWS proxy: the
/// standby does nothing; when the leader is frozen (SIGSTOP, as a stalled node or a
/// partition would) with AWS work in flight, the standby takes over after the lease
/// expires, and the old leader, thawed, makes no AWS write after the new one could lead —
/// its fence closed at the renew deadline — and exits.
async fn leader_election_hands_over_and_fences(sb: &Sandbox, aws: &Aws) {
    sb.kubectl_ok(&["create", "namespace", "leader"]);
    let proxy_a = FaultProxy::start(sb, "leader-a", &json!({}), 1);
    let proxy_b = FaultProxy::start(sb, "leader-b", &json!({}), 2);
    let args = |proxy: &FaultProxy| -> Vec<String> {
        [
            "--leader-election",
            "--leader-election-namespace",
            "leader",
            "--lease-duration",
            "6s",
            "--renew-deadline",
            "4s",
            "--retry-period",
            "1s",
            "--watch-namespace",
            "leader",
            "--aws-endpoint-url",
            &proxy.url(),
        ]
        .map(str::to_string)
        .to_vec()
    };
    let args_a = args(&proxy_a);
    let args_a: Vec<&str> = args_a.iter().map(String::as_str).collect();
    let mut a = Operator::start_with_env(sb, "leader-a", &args_a, &[("POD_NAME", "replica-a")]);
    let lease = |path: &str| {
        let out = sb.kubectl(&[
            "get",
            "lease",
            "-n",
            "leader",
            "ecs-operator-leader",
            "-o",
            &format!("jsonpath={{{path}}}"),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    eventually(
        "replica-a to take the lease",
        Duration::from_secs(30),
        || async { (lease(".spec.holderIdentity") == "replica-a").then_some(()) },
    )
    .await;
    let args_b = args(&proxy_b);
    let args_b: Vec<&str> = args_b.iter().map(String::as_str).collect();
    let b = Operator::start_with_env(sb, "leader-b", &args_b, &[("POD_NAME", "replica-b")]);
    let task_def = |name: &str| {
        format!(
            "apiVersion: ecsoperator.io/v1alpha1\nkind: EcsTaskDef\nmetadata: {{name: {name}}}\n\
             spec: {{containerDefinitions: [{{name: web, image: nginx, memory: 64}}]}}\n"
        )
    };
    let out = sb.kubectl_stdin(&["apply", "-n", "leader", "-f", "-"], &task_def("le-one"));
    assert!(out.status.success(), "{}", stderr(&out));
    sb.kubectl_ok(&[
        "wait",
        "-n",
        "leader",
        "--for=condition=Ready",
        "--timeout=60s",
        "ecstaskdef/le-one",
    ]);
    assert!(
        !b.log_text().contains("controllers started"),
        "the standby replica must not run controllers"
    );
    assert!(
        proxy_b.record().is_empty(),
        "the standby replica called AWS: {:?}",
        proxy_b.record()
    );

    // Work in flight: every AWS call of replica-a takes 2 s, and new objects arrive.
    proxy_a.set_rules(
        &json!({"faults": [{"kind": "latency", "probability": 1.0, "latency_ms": 2000}]}),
    );
    let names: Vec<String> = (2..=6).map(|i| format!("le-{i}")).collect();
    let manifests: String = names.iter().map(|n| task_def(n) + "---\n").collect();
    let out = sb.kubectl_stdin(&["apply", "-n", "leader", "-f", "-"], &manifests);
    assert!(out.status.success(), "{}", stderr(&out));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(a.pid(), "-STOP");

    // replica-b takes over once the lease has not changed for its duration.
    eventually(
        "replica-b to take the lease from the frozen leader",
        Duration::from_secs(60),
        || async { (lease(".spec.holderIdentity") == "replica-b").then_some(()) },
    )
    .await;
    let acquired = lease(".spec.acquireTime");
    let taken_at_ms = jiff::Timestamp::from_str(&acquired)
        .unwrap_or_else(|e| panic!("lease acquireTime {acquired:?}: {e}"))
        .as_millisecond();
    for name in &names {
        sb.kubectl_ok(&[
            "wait",
            "-n",
            "leader",
            "--for=condition=Ready",
            "--timeout=60s",
            &format!("ecstaskdef/{name}"),
        ]);
    }

    // Thawed, replica-a finds its fence closed: no write reaches AWS, and it exits.
    signal(a.pid(), "-CONT");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exited = loop {
        if let Some(status) = a.try_exit() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old leader did not exit within 30 s of losing its lease"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!exited.success(), "losing the lease is an error exit");
    let record = proxy_a.record();
    let late: Vec<&Value> = record
        .iter()
        .filter(|c| c["mutating"] == json!(true))
        .filter(|c| {
            let sent = c["t_ms"].as_i64().unwrap_or(0);
            // The proxy holds each call 2 s before moto sees it.
            sent + c["latency_ms"].as_i64().unwrap_or(0) >= taken_at_ms
        })
        .collect();
    assert!(
        late.is_empty(),
        "the old leader wrote to AWS after the lease was taken at {acquired}: {late:?}"
    );
    assert!(
        a.log_text().contains("NotLeader") || a.log_text().contains("lost the leader lease"),
        "the old leader says why it stopped"
    );
    for name in std::iter::once("le-one".to_string()).chain(names) {
        assert_eq!(
            aws.active_revisions(&name).await.len(),
            1,
            "double registration of {name}"
        );
    }
    assert_eq!(lease(".spec.holderIdentity"), "replica-b");
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

fn observability(operator: &Operator) {
    let (status, _) = http_get(operator.health_port, "/healthz").expect("/healthz");
    assert!(status.contains("200"), "{status}");
    let (status, _) = http_get(operator.health_port, "/readyz").expect("/readyz");
    assert!(status.contains("200"), "{status}");
    let (status, metrics) = http_get(operator.metrics_port, "/metrics").expect("/metrics");
    assert!(status.contains("200"), "{status}");
    for needle in [
        "ecs_operator_reconciles_total{kind=\"EcsService\"}",
        "ecs_operator_reconcile_duration_seconds_bucket{",
        "ecs_operator_aws_calls_total{operation=\"ecs:RegisterTaskDefinition\",outcome=\"success\"} 2",
        "ecs_operator_aws_calls_total{operation=\"ecs:CreateService\",outcome=\"success\"} 1",
        "ecs_operator_reconcile_errors_total{kind=\"EcsService\",error=\"waiting_for_dependency\"}",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}:\n{metrics}");
    }
    // Every log line of a reconcile names its object.
    let log = operator.log_text();
    assert!(log.lines().any(
        |l| l.contains("namespace=\"tutorial\"") && l.contains("name=\"hello-world-service\"")
    ));
}

fn bad_input_is_refused_by_the_apiserver(sb: &Sandbox) {
    // Field docs reach users through the published schema.
    let explain = sb.kubectl_ok(&["explain", "ecsservice.spec.autoScaling"]);
    assert!(explain.contains("never written again"), "{explain}");
    let explain = sb.kubectl_ok(&["explain", "ecsservice.spec.loadBalancer"]);
    for needle in [
        "exactly one of",
        "managed",
        "A classic ELB that this object creates",
    ] {
        assert!(
            explain.contains(needle),
            "kubectl explain lacks {needle:?}:\n{explain}"
        );
    }

    sb.kubectl_ok(&["create", "namespace", "bad"]);
    let cases = [
        (
            "negative desiredCount",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, desiredCount: -1}",
            "spec.desiredCount",
        ),
        (
            "both clusterRef and cluster",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, clusterRef: {name: c}, taskDefinition: t:1}",
            "set exactly one of clusterRef and cluster",
        ),
        (
            "neither taskDefRef nor taskDefinition",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c}",
            "set exactly one of taskDefRef and taskDefinition",
        ),
        (
            "unknown launch type",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, launchType: SPOT}",
            "Unsupported value: \"SPOT\"",
        ),
        (
            "two load balancer choices",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, loadBalancer: {containerName: a, containerPort: 80, loadBalancerName: lb-x, targetGroupArn: tg-y}}",
            "set exactly one of loadBalancerName, targetGroupArn, managed and managedTargetGroup",
        ),
        (
            "missing image",
            "kind: EcsTaskDef\nmetadata: {name: t}\nspec: {containerDefinitions: [{name: web}]}",
            "image: Required value",
        ),
        (
            "no containers",
            "kind: EcsTaskDef\nmetadata: {name: t}\nspec: {containerDefinitions: []}",
            "spec.containerDefinitions",
        ),
        (
            "reserved tag key",
            "kind: EcsCluster\nmetadata: {name: c}\nspec: {tags: {ecsoperator.io/owner: me}}",
            "tag keys starting with ecsoperator.io/ are reserved",
        ),
        (
            "health check timeout not below interval",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, loadBalancer: {containerName: a, containerPort: 80, managed: {subnetIds: [s1], listeners: [{protocol: HTTP, loadBalancerPort: 80, instancePort: 80}], healthCheck: {target: 'HTTP:80/', intervalSeconds: 10, timeoutSeconds: 10}}}}",
            "timeoutSeconds must be less than intervalSeconds",
        ),
        (
            "minSize above maxSize",
            "kind: EcsCluster\nmetadata: {name: c}\nspec: {capacity: {instanceType: t2.micro, subnetIds: [s], minSize: 3, maxSize: 1}}",
            "minSize must not exceed maxSize",
        ),
        (
            "autoScaling minCount above maxCount",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 5, maxCount: 2, targetTracking: [{metric: CPU, target: 60}]}}",
            "minCount must not be greater than maxCount",
        ),
        (
            "autoScaling maxCount 0",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 0, maxCount: 0, targetTracking: [{metric: CPU, target: 60}]}}",
            "spec.autoScaling.maxCount",
        ),
        (
            "autoScaling without policies",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: []}}",
            "spec.autoScaling.targetTracking",
        ),
        (
            "autoScaling metric twice",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: CPU, target: 60}, {metric: CPU, target: 70}]}}",
            "Duplicate value",
        ),
        (
            "autoScaling target 0",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: Memory, target: 0}]}}",
            "target must be greater than 0",
        ),
        (
            "autoScaling CPU target above 100",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: CPU, target: 150}]}}",
            "at most 100",
        ),
        (
            "autoScaling negative cooldown",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: CPU, target: 60, scaleInCooldown: -1}]}}",
            "scaleInCooldown",
        ),
        (
            "autoScaling desiredCount out of range",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, desiredCount: 9, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: CPU, target: 60}]}}",
            "must be within [autoScaling.minCount, autoScaling.maxCount]",
        ),
        (
            "autoScaling ALBRequestCount without a target group",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: ALBRequestCount, target: 500, loadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/a/1'}]}}",
            "needs a target group",
        ),
        (
            "autoScaling ALBRequestCount without the ALB",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, loadBalancer: {containerName: a, containerPort: 80, targetGroupArn: tg}, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: ALBRequestCount, target: 500}]}}",
            "ALBRequestCount needs loadBalancerArn",
        ),
        (
            "autoScaling loadBalancerArn on another metric",
            "kind: EcsService\nmetadata: {name: s}\nspec: {cluster: c, taskDefinition: t:1, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: CPU, target: 60, loadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/a/1'}]}}",
            "loadBalancerArn is only for metric ALBRequestCount",
        ),
    ];
    for (what, body, expected) in cases {
        let manifest = format!("apiVersion: ecsoperator.io/v1alpha1\n{body}\n");
        let out = sb.kubectl_stdin(&["apply", "-n", "bad", "-f", "-"], &manifest);
        let err = stderr(&out);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(
            err.contains(expected),
            "{what}: message {err:?} lacks {expected:?}"
        );
    }
    // ALBRequestCount on a managed target group: its listener names the ALB.
    let alb_scaled = "apiVersion: ecsoperator.io/v1alpha1\nkind: EcsService\nmetadata: {name: alb-scaled}\nspec: {cluster: c, taskDefinition: t:1, loadBalancer: {containerName: a, containerPort: 80, managedTargetGroup: {listenerArn: 'arn:aws:elasticloadbalancing:us-east-1:1:listener/app/a/1/2', rule: {priority: 1, pathPatterns: ['/a/*']}}}, autoScaling: {minCount: 1, maxCount: 2, targetTracking: [{metric: ALBRequestCount, target: 500}]}}\n";
    let out = sb.kubectl_stdin(
        &["apply", "--dry-run=server", "-n", "bad", "-f", "-"],
        alb_scaled,
    );
    assert!(out.status.success(), "refused: {}", stderr(&out));
    // Immutable fields: accepted at creation, refused when changed.
    let cluster = "apiVersion: ecsoperator.io/v1alpha1\nkind: EcsCluster\nmetadata: {name: imm}\nspec: {clusterName: first}\n";
    let out = sb.kubectl_stdin(&["apply", "-n", "bad", "-f", "-"], cluster);
    assert!(out.status.success(), "{}", stderr(&out));
    let changed = cluster.replace("first", "second");
    let out = sb.kubectl_stdin(&["apply", "-n", "bad", "-f", "-"], &changed);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("clusterName is immutable"),
        "{}",
        stderr(&out)
    );
    sb.kubectl_ok(&["delete", "-n", "bad", "ecscluster", "imm", "--wait=false"]);

    // What ECS cannot change on a live service is immutable, and the message says what to
    // do; what it can change (the load balancer choice, the managed ELB's subnets) is not.
    let service = "apiVersion: ecsoperator.io/v1alpha1\nkind: EcsService\nmetadata: {name: imm-svc}\nspec: {cluster: c, taskDefinition: t:1, launchType: EC2, role: r1, loadBalancer: {containerName: a, containerPort: 80, managed: {name: lb1, subnetIds: [s1], listeners: [{protocol: HTTP, loadBalancerPort: 80, instancePort: 80}]}}}\n";
    let out = sb.kubectl_stdin(&["apply", "-n", "bad", "-f", "-"], service);
    assert!(out.status.success(), "{}", stderr(&out));
    let remedy =
        "delete and recreate the EcsService, or create a new one under another serviceName";
    for (what, from, to, expected) in [
        (
            "launchType",
            "launchType: EC2",
            "launchType: FARGATE",
            "launchType is immutable",
        ),
        (
            "launchType removed",
            "launchType: EC2, ",
            "",
            "launchType is immutable",
        ),
        ("role", "role: r1", "role: r2", "role is immutable"),
        (
            "scheme",
            "subnetIds: [s1]",
            "scheme: internal, subnetIds: [s1]",
            "scheme is immutable",
        ),
    ] {
        let out = sb.kubectl_stdin(
            &["apply", "-n", "bad", "-f", "-"],
            &service.replace(from, to),
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(err.contains(expected), "{what}: {err}");
        let remedy = if what == "scheme" {
            "give the load balancer a new name"
        } else {
            remedy
        };
        assert!(err.contains(remedy), "{what}: {err}");
    }
    for (what, from, to) in [
        ("subnets", "subnetIds: [s1]", "subnetIds: [s2, s3]"),
        ("scheme with a new name", "name: lb1, subnetIds: [s1]", "name: lb2, scheme: internal, subnetIds: [s1]"),
        ("an existing ELB instead", "managed: {name: lb1, subnetIds: [s1], listeners: [{protocol: HTTP, loadBalancerPort: 80, instancePort: 80}]}", "loadBalancerName: lb0"),
    ] {
        let out = sb.kubectl_stdin(
            &["apply", "-n", "bad", "-f", "-"],
            &service.replace(from, to),
        );
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        let out = sb.kubectl_stdin(&["apply", "-n", "bad", "-f", "-"], service);
        assert!(out.status.success(), "{what} back: {}", stderr(&out));
    }
    sb.kubectl_ok(&[
        "delete",
        "-n",
        "bad",
        "ecsservice",
        "imm-svc",
        "--wait=false",
    ]);
}

async fn tutorial(sb: &Sandbox, aws: &Aws, client: &kube::Client) {
    sb.kubectl_ok(&["create", "namespace", "tutorial"]);
    let manifests = sb.render("config/samples");
    let out = sb.kubectl_stdin(&["apply", "-n", "tutorial", "-f", "-"], &manifests);
    assert!(out.status.success(), "apply samples: {}", stderr(&out));

    // Play the ECS agent on the group's instances, as the AMI's agent would.
    let mut agent = sb
        .python(
            "fake-ecs-agent.py",
            &[
                "--cluster",
                "my-ecs-cluster",
                "--asg",
                "my-ecs-cluster-ecs-capacity",
                "--min-instances",
                "5",
                "--timeout",
                "120",
            ],
        )
        .spawn()
        .expect("fake ECS agent");

    let out = sb.kubectl(&[
        "wait",
        "-n",
        "tutorial",
        "--for=condition=Ready",
        "--timeout=120s",
        "ecscluster/my-ecs-cluster",
        "ecstaskdef/hello-world-task",
        "ecsservice/hello-world-service",
    ]);
    assert!(out.status.success(), "objects not Ready: {}", stderr(&out));
    assert!(
        agent.wait().expect("agent").success(),
        "the 5 instances did not register"
    );

    // Kubernetes side: status with ARNs, counts and the ELB DNS name.
    let services: Api<EcsService> = Api::namespaced(client.clone(), "tutorial");
    let svc = services.get("hello-world-service").await.expect("service");
    let st = svc.status.expect("service status");
    assert!(
        st.service_arn
            .as_deref()
            .is_some_and(|a| a.starts_with("arn:aws:ecs:")),
        "{st:?}"
    );
    assert_eq!(st.task_definition.as_deref(), Some("hello-world-task:1"));
    assert_eq!((st.desired_count, st.running_count), (Some(4), Some(4)));
    let dns = st
        .load_balancer
        .and_then(|l| l.dns_name)
        .expect("ELB DNS name in status");
    assert!(dns.contains("ecs-load-balancer"), "{dns}");
    let task_defs: Api<EcsTaskDef> = Api::namespaced(client.clone(), "tutorial");
    let td = task_defs.get("hello-world-task").await.expect("task def");
    assert_eq!(td.status.as_ref().and_then(|s| s.latest_revision), Some(1));
    let clusters: Api<EcsCluster> = Api::namespaced(client.clone(), "tutorial");
    let registered = eventually(
        "5 registered container instances in status",
        WAIT,
        || async {
            let c = clusters.get("my-ecs-cluster").await.ok()?;
            let st = c.status?;
            (st.registered_container_instances == Some(5)).then_some(st)
        },
    )
    .await;
    assert!(registered
        .cluster_arn
        .is_some_and(|a| a.contains("cluster/my-ecs-cluster")));
    assert_eq!(
        registered.capacity.as_ref().map(|c| c.in_service_instances),
        Some(5)
    );

    // AWS side.
    let group = aws
        .group("my-ecs-cluster-ecs-capacity")
        .await
        .expect("Auto Scaling group");
    assert_eq!(group.instances().len(), 5);
    assert_eq!(group.load_balancer_names().len(), 0);
    let lt = group
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("launch template")
        .to_string();
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&lt)
        .send()
        .await
        .expect("lt versions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("lt data");
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t2.micro"));
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(data.user_data().expect("user data"))
        .expect("base64 user data");
    assert!(String::from_utf8_lossy(&user_data)
        .contains("echo ECS_CLUSTER=my-ecs-cluster >> /etc/ecs/ecs.config"));
    let elb = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names("ecs-load-balancer")
        .send()
        .await
        .expect("ELB");
    let desc = &elb.load_balancer_descriptions()[0];
    assert_eq!(desc.health_check().map(|h| h.target()), Some("HTTP:80/"));
    let service = aws
        .service("my-ecs-cluster", "hello-world-service")
        .await
        .expect("ECS service");
    assert_eq!(service.desired_count(), 4);
    assert!(
        service
            .role_arn()
            .is_some_and(|r| r.contains("ecs-service-role")),
        "{:?}",
        service.role_arn()
    );
    assert_eq!(
        service.load_balancers()[0].load_balancer_name(),
        Some("ecs-load-balancer")
    );
    let tags = service.tags();
    assert!(tags.iter().any(|t| t.key() == Some("ecsoperator.io/owner")
        && t.value() == Some("e2e/tutorial/EcsService/hello-world-service")));

    // kubectl get ecs: the three kinds with their printer columns.
    let table = sb.kubectl_ok(&["get", "ecs", "-n", "tutorial"]);
    for column in [
        "CLUSTER",
        "INSTANCES",
        "SERVICES",
        "TASKS",
        "FAMILY",
        "REVISION",
        "TASKDEF",
        "DESIRED",
        "RUNNING",
        "ROLLOUT",
        "URL",
        "READY",
    ] {
        assert!(
            table.contains(column),
            "kubectl get ecs lacks {column}:\n{table}"
        );
    }
    assert!(
        table.contains("hello-world-task:1") && table.contains(&dns),
        "{table}"
    );

    // What GitOps tools read (the real kstatus library): converged means Current.
    for (resource, name) in [
        ("ecscluster", "my-ecs-cluster"),
        ("ecstaskdef", "hello-world-task"),
        ("ecsservice", "hello-world-service"),
    ] {
        let (status, message) = kstatus(sb, resource, "tutorial", name);
        assert_eq!(status, "Current", "{resource}/{name}: {message}");
    }
}

/// The Fargate variant of the tutorial (config/samples/fargate): no EC2 capacity, an awsvpc
/// task definition with a Fargate task size, a FARGATE service with its network
/// configuration; Ready, as described in ECS; then deleted with nothing left behind.
async fn fargate_tutorial(sb: &Sandbox, aws: &Aws) {
    sb.kubectl_ok(&["create", "namespace", "fargate"]);
    let manifests = sb.render("config/samples/fargate");
    let out = sb.kubectl_stdin(&["apply", "-n", "fargate", "-f", "-"], &manifests);
    assert!(
        out.status.success(),
        "apply Fargate samples: {}",
        stderr(&out)
    );
    let objects = [
        "ecscluster/fargate-cluster",
        "ecstaskdef/hello-world-fargate",
        "ecsservice/hello-world-fargate",
    ];
    let mut wait = vec![
        "wait",
        "-n",
        "fargate",
        "--for=condition=Ready",
        "--timeout=90s",
    ];
    wait.extend(objects);
    let out = sb.kubectl(&wait);
    assert!(
        out.status.success(),
        "Fargate objects not Ready: {}",
        stderr(&out)
    );
    let svc = aws
        .service("fargate-cluster", "hello-world-fargate")
        .await
        .expect("the Fargate service exists");
    assert_eq!(svc.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let vpc = svc
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpc configuration");
    assert_eq!(vpc.subnets().len(), 2);
    assert_eq!(vpc.assign_public_ip().map(|a| a.as_str()), Some("ENABLED"));
    let td = aws
        .ecs
        .describe_task_definition()
        .task_definition("hello-world-fargate")
        .send()
        .await
        .expect("task definition")
        .task_definition
        .expect("task definition");
    assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
    assert_eq!(td.network_mode().map(|m| m.as_str()), Some("awsvpc"));

    let mut delete = vec!["delete", "-n", "fargate", "--timeout=90s"];
    delete.extend(objects);
    sb.kubectl_ok(&delete);
    assert!(
        aws.service("fargate-cluster", "hello-world-fargate")
            .await
            .is_none(),
        "the Fargate service is left in ECS"
    );
    assert!(
        aws.active_revisions("hello-world-fargate").await.is_empty(),
        "revisions are left in ECS"
    );
    assert!(
        aws.cluster_status("fargate-cluster")
            .await
            .is_none_or(|s| s == "INACTIVE"),
        "the Fargate cluster is left in ECS"
    );
}

/// config/samples/capacity-provider: a group behind an ECS capacity provider with managed
/// scaling and termination protection, attached to the cluster with FARGATE and a default
/// strategy, and a service on the provider; then deletion in order (service, the
/// provider's association, the provider, the group, the template, the cluster).
async fn capacity_provider_cluster(sb: &Sandbox, aws: &Aws) {
    sb.kubectl_ok(&["create", "namespace", "capacity"]);
    let manifests = sb.render("config/samples/capacity-provider");
    let out = sb.kubectl_stdin(&["apply", "-n", "capacity", "-f", "-"], &manifests);
    assert!(
        out.status.success(),
        "apply capacity provider samples: {}",
        stderr(&out)
    );
    let objects = [
        "ecscluster/cp-cluster",
        "ecstaskdef/hello-world-cp",
        "ecsservice/hello-world-cp",
    ];
    let mut wait = vec![
        "wait",
        "-n",
        "capacity",
        "--for=condition=Ready",
        "--timeout=90s",
    ];
    wait.extend(objects);
    let out = sb.kubectl(&wait);
    assert!(
        out.status.success(),
        "capacity provider objects not Ready: {}",
        stderr(&out)
    );
    let provider = aws
        .ecs
        .describe_capacity_providers()
        .capacity_providers("cp-cluster-ec2")
        .include(aws_sdk_ecs::types::CapacityProviderField::Tags)
        .send()
        .await
        .expect("describe capacity providers")
        .capacity_providers()
        .first()
        .cloned()
        .expect("the capacity provider exists");
    let asg_provider = provider
        .auto_scaling_group_provider()
        .expect("an Auto Scaling group provider");
    let scaling = asg_provider.managed_scaling().expect("managed scaling");
    assert_eq!(scaling.status().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(scaling.maximum_scaling_step_size(), Some(2));
    assert_eq!(
        asg_provider
            .managed_termination_protection()
            .map(|m| m.as_str()),
        Some("ENABLED")
    );
    assert!(
        provider
            .tags()
            .iter()
            .any(|t| t.key() == Some("ecsoperator.io/owner")),
        "the provider carries the owner tag"
    );
    let group = aws
        .group("cp-cluster-ecs-capacity")
        .await
        .expect("the group exists");
    assert_eq!(
        group.auto_scaling_group_arn(),
        Some(asg_provider.auto_scaling_group_arn())
    );
    assert_eq!(group.new_instances_protected_from_scale_in(), Some(true));
    assert!(
        group
            .tags()
            .iter()
            .any(|t| t.key() == Some("AmazonECSManaged")),
        "the group carries ECS's tag"
    );
    let cluster = aws
        .ecs
        .describe_clusters()
        .clusters("cp-cluster")
        .send()
        .await
        .expect("describe cluster")
        .clusters()
        .first()
        .cloned()
        .expect("cluster");
    let mut providers = cluster.capacity_providers().to_vec();
    providers.sort();
    assert_eq!(providers, ["FARGATE", "cp-cluster-ec2"]);
    assert_eq!(cluster.default_capacity_provider_strategy().len(), 2);
    // moto's CreateService drops capacityProviderStrategy (AWS keeps it): the operator
    // sees the difference on its next sync and updates the service with a new deployment.
    eventually(
        "the service to run on the capacity provider",
        Duration::from_secs(30),
        || async {
            let svc = aws.service("cp-cluster", "hello-world-cp").await?;
            let names: Vec<String> = svc
                .capacity_provider_strategy()
                .iter()
                .map(|i| i.capacity_provider().to_string())
                .collect();
            (names == ["cp-cluster-ec2"]).then_some(())
        },
    )
    .await;
    let status = sb.kubectl_ok(&[
        "get",
        "-n",
        "capacity",
        "ecscluster/cp-cluster",
        "-o",
        "jsonpath={.status.capacity.capacityProviderName} {.status.capacityProviders}",
    ]);
    assert!(
        status.starts_with("cp-cluster-ec2 ") && status.contains("FARGATE"),
        "{status}"
    );

    let mut delete = vec!["delete", "-n", "capacity", "--timeout=120s"];
    delete.extend(objects);
    sb.kubectl_ok(&delete);
    let left = aws
        .ecs
        .describe_capacity_providers()
        .capacity_providers("cp-cluster-ec2")
        .send()
        .await
        .expect("describe capacity providers");
    assert!(
        left.capacity_providers()
            .iter()
            .all(|p| p.status().map(|s| s.as_str()) == Some("INACTIVE")),
        "the capacity provider is left in ECS"
    );
    assert!(
        aws.group("cp-cluster-ecs-capacity").await.is_none(),
        "the group is left"
    );
    assert!(
        !aws.launch_template_names()
            .await
            .contains(&"cp-cluster-ecs-capacity".to_string()),
        "the launch template is left"
    );
    assert!(
        aws.cluster_status("cp-cluster")
            .await
            .is_none_or(|s| s == "INACTIVE"),
        "the cluster is left in ECS"
    );
}

async fn rolling_update(sb: &Sandbox, aws: &Aws, client: &kube::Client) {
    let v2 = sb.render("config/samples/rolling-update/task-def-v2.yaml");
    let out = sb.kubectl_stdin(&["apply", "-n", "tutorial", "-f", "-"], &v2);
    assert!(out.status.success(), "{}", stderr(&out));
    // The resync period is an hour: only the EcsTaskDef watch can make this happen.
    eventually(
        "the service to move to revision 2",
        Duration::from_secs(30),
        || async {
            let s = aws.service("my-ecs-cluster", "hello-world-service").await?;
            s.task_definition()?
                .ends_with("/hello-world-task:2")
                .then_some(())
        },
    )
    .await;
    let revisions = aws.active_revisions("hello-world-task").await;
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    let td = aws
        .ecs
        .describe_task_definition()
        .task_definition("hello-world-task:2")
        .send()
        .await
        .expect("revision 2");
    let env = td.task_definition().expect("td").container_definitions()[0].environment();
    assert!(env
        .iter()
        .any(|e| e.name() == Some("PROVIDER") && e.value() == Some("ECS")));
    let services: Api<EcsService> = Api::namespaced(client.clone(), "tutorial");
    eventually(
        "status to show revision 2 and Ready",
        Duration::from_secs(30),
        || async {
            let s = services.get("hello-world-service").await.ok()?;
            let st = s.status?;
            (st.task_definition.as_deref() == Some("hello-world-task:2")
                && ready(Some(&st.common.conditions)))
            .then_some(())
        },
    )
    .await;
}

async fn drift_is_corrected(sb: &Sandbox, aws: &Aws) {
    aws.ecs
        .update_service()
        .cluster("my-ecs-cluster")
        .service("hello-world-service")
        .desired_count(1)
        .send()
        .await
        .expect("change desired count behind the operator's back");
    eventually(
        "desiredCount drift to be corrected",
        Duration::from_secs(30),
        || async {
            let s = aws.service("my-ecs-cluster", "hello-world-service").await?;
            (s.desired_count() == 4).then_some(())
        },
    )
    .await;
    let events = sb.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "tutorial",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    ]);
    assert!(
        events
            .lines()
            .any(|l| l.contains("DriftCorrected") && l.contains("desiredCount")),
        "{events}"
    );
}

/// An autoscaled service: the operator registers its scalable target and CPU policy; the
/// scaler (played by UpdateService through the SDK, as Application Auto Scaling would
/// call it) changes the desired count, and the operator leaves it there over several
/// resyncs (the operator runs with a 3 s resync period here) while status follows it;
/// deleting the object deregisters the target.
async fn autoscaled_service_keeps_the_scalers_count(
    sb: &Sandbox,
    aws: &Aws,
    client: &kube::Client,
) {
    let manifest = r#"
apiVersion: ecsoperator.io/v1alpha1
kind: EcsService
metadata: {name: autoscaled-service}
spec:
  clusterRef: {name: my-ecs-cluster}
  taskDefRef: {name: hello-world-task}
  desiredCount: 4
  launchType: EC2
  autoScaling:
    minCount: 2
    maxCount: 8
    targetTracking:
    - {metric: CPU, target: 60, scaleInCooldown: 300, scaleOutCooldown: 60}
"#;
    let out = sb.kubectl_stdin(&["apply", "-n", "tutorial", "-f", "-"], manifest);
    assert!(out.status.success(), "{}", stderr(&out));
    let resource = "service/my-ecs-cluster/autoscaled-service";
    let services: Api<EcsService> = Api::namespaced(client.clone(), "tutorial");
    eventually(
        "the scalable target and its policy in AWS and status",
        WAIT,
        || async {
            let st = services.get("autoscaled-service").await.ok()?.status?;
            let a = st.auto_scaling?;
            (aws.scalable_target(resource).await? == (2, 8)
                && a.policies == ["autoscaled-service-cpu"]
                && (a.min_count, a.max_count) == (2, 8))
                .then_some(())
        },
    )
    .await;
    let policies = aws
        .aas
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(resource)
        .send()
        .await
        .expect("describe scaling policies");
    let cpu = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_name() == "autoscaled-service-cpu")
        .expect("the CPU policy");
    let config = cpu
        .target_tracking_scaling_policy_configuration()
        .expect("target tracking");
    assert_eq!(config.target_value(), 60.0);
    assert_eq!(
        config
            .predefined_metric_specification()
            .map(|m| m.predefined_metric_type().as_str()),
        Some("ECSServiceAverageCPUUtilization")
    );

    // The scaler scales out.
    aws.ecs
        .update_service()
        .cluster("my-ecs-cluster")
        .service("autoscaled-service")
        .desired_count(7)
        .send()
        .await
        .expect("scale out as Application Auto Scaling would");
    eventually("status to show the scaler's count", WAIT, || async {
        let st = services.get("autoscaled-service").await.ok()?.status?;
        (st.auto_scaling?.current_count == Some(7) && st.desired_count == Some(7)).then_some(())
    })
    .await;
    // Several resyncs later the count is still the scaler's.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let s = aws
            .service("my-ecs-cluster", "autoscaled-service")
            .await
            .expect("the service");
        assert_eq!(s.desired_count(), 7, "the operator reverted the scaler");
    }
    let events = sb.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "tutorial",
        "--field-selector",
        "involvedObject.name=autoscaled-service",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    ]);
    assert!(
        !events.lines().any(|l| l.contains("desiredCount")),
        "{events}"
    );

    sb.kubectl_ok(&[
        "delete",
        "-n",
        "tutorial",
        "ecsservice/autoscaled-service",
        "--timeout=120s",
    ]);
    assert_eq!(
        aws.scalable_target(resource).await,
        None,
        "the scalable target is left behind"
    );
    assert!(aws
        .service("my-ecs-cluster", "autoscaled-service")
        .await
        .is_none());
}

/// A service behind a managed target group on an ALB listener that exists already (made
/// here through the SDK): the group (instance targets, the ALB's VPC) and the rule are
/// created, the service references the group, several 3 s resyncs correct nothing, a
/// health check changed behind the operator's back is put back, and deleting the object
/// removes the service, the rule and the group, leaving the ALB and listener.
async fn managed_target_group_on_an_existing_alb(sb: &Sandbox, aws: &Aws, client: &kube::Client) {
    use aws_sdk_elasticloadbalancingv2::types as v2;
    let subnets: Vec<String> = aws
        .ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .take(2)
        .collect();
    let lb = aws
        .elbv2
        .create_load_balancer()
        .name("front")
        .set_subnets(Some(subnets))
        .send()
        .await
        .expect("ALB");
    let lb = lb.load_balancers()[0].clone();
    let listener = aws
        .elbv2
        .create_listener()
        .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
        .protocol(v2::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            v2::Action::builder()
                .r#type(v2::ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    v2::FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("listener");
    let listener_arn = listener.listeners()[0]
        .listener_arn()
        .unwrap_or_default()
        .to_string();
    let manifest = format!(
        r#"
apiVersion: ecsoperator.io/v1alpha1
kind: EcsService
metadata: {{name: alb-service}}
spec:
  clusterRef: {{name: my-ecs-cluster}}
  taskDefRef: {{name: hello-world-task}}
  desiredCount: 4
  launchType: EC2
  loadBalancer:
    containerName: hello-world-container
    containerPort: 5000
    managedTargetGroup:
      name: alb-service-tg
      listenerArn: {listener_arn}
      rule: {{priority: 10, pathPatterns: ["/hello/*"]}}
      healthCheck: {{path: /health}}
"#
    );
    let out = sb.kubectl_stdin(&["apply", "-n", "tutorial", "-f", "-"], &manifest);
    assert!(out.status.success(), "{}", stderr(&out));
    let services: Api<EcsService> = Api::namespaced(client.clone(), "tutorial");
    let (tg_arn, rule_arn) = eventually("the target group and rule in status", WAIT, || async {
        let lb = services
            .get("alb-service")
            .await
            .ok()?
            .status?
            .load_balancer?;
        Some((lb.target_group_arn?, lb.listener_rule_arn?))
    })
    .await;
    let tg = aws
        .elbv2
        .describe_target_groups()
        .names("alb-service-tg")
        .send()
        .await
        .expect("the group");
    let tg = &tg.target_groups()[0];
    assert_eq!(tg.target_group_arn(), Some(tg_arn.as_str()));
    assert_eq!(tg.vpc_id(), lb.vpc_id());
    assert_eq!(tg.target_type(), Some(&v2::TargetTypeEnum::Instance));
    assert_eq!(tg.health_check_path(), Some("/health"));
    let svc = aws
        .service("my-ecs-cluster", "alb-service")
        .await
        .expect("the service");
    assert_eq!(
        svc.load_balancers()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );
    let rules = aws
        .elbv2
        .describe_rules()
        .listener_arn(&listener_arn)
        .send()
        .await
        .expect("rules");
    let rule = rules
        .rules()
        .iter()
        .find(|r| r.rule_arn() == Some(rule_arn.as_str()))
        .expect("our rule");
    assert_eq!(rule.priority(), Some("10"));

    // Drift behind the operator's back is put back by a resync.
    aws.elbv2
        .modify_target_group()
        .target_group_arn(&tg_arn)
        .health_check_path("/")
        .send()
        .await
        .expect("drift");
    eventually("the health check put back", WAIT, || async {
        let tg = aws
            .elbv2
            .describe_target_groups()
            .names("alb-service-tg")
            .send()
            .await
            .ok()?;
        (tg.target_groups()[0].health_check_path() == Some("/health")).then_some(())
    })
    .await;

    sb.kubectl_ok(&[
        "delete",
        "-n",
        "tutorial",
        "ecsservice/alb-service",
        "--timeout=120s",
    ]);
    let groups = aws
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .expect("groups");
    assert!(
        !groups
            .target_groups()
            .iter()
            .any(|t| t.target_group_name() == Some("alb-service-tg")),
        "the target group is left behind"
    );
    let rules = aws
        .elbv2
        .describe_rules()
        .listener_arn(&listener_arn)
        .send()
        .await
        .expect("the listener outlives the object");
    assert!(rules
        .rules()
        .iter()
        .all(|r| r.priority() == Some("default")));
}

async fn deletion_removes_everything(sb: &Sandbox, aws: &Aws, client: &kube::Client) {
    sb.kubectl_ok(&[
        "delete",
        "-n",
        "tutorial",
        "ecsservice,ecstaskdef,ecscluster",
        "--all",
        "--wait=false",
    ]);
    let out = sb.kubectl(&[
        "wait",
        "-n",
        "tutorial",
        "--for=delete",
        "--timeout=120s",
        "ecsservice,ecstaskdef,ecscluster",
        "--all",
    ]);
    assert!(out.status.success(), "objects not gone: {}", stderr(&out));
    let clusters: Api<EcsCluster> = Api::namespaced(client.clone(), "tutorial");
    assert!(clusters
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .is_empty());
    assert!(
        aws.service("my-ecs-cluster", "hello-world-service")
            .await
            .is_none(),
        "service left behind"
    );
    assert!(
        !aws.elb_names()
            .await
            .contains(&"ecs-load-balancer".to_string()),
        "ELB left behind"
    );
    assert!(
        aws.group("my-ecs-cluster-ecs-capacity").await.is_none(),
        "Auto Scaling group left behind"
    );
    assert!(!aws
        .launch_template_names()
        .await
        .contains(&"my-ecs-cluster-ecs-capacity".to_string()));
    assert_eq!(
        aws.cluster_status("my-ecs-cluster").await.as_deref(),
        Some("INACTIVE")
    );
    assert!(
        aws.active_revisions("hello-world-task").await.is_empty(),
        "revisions left ACTIVE"
    );
}

async fn retain_leaves_aws_alone(sb: &Sandbox, aws: &Aws, client: &kube::Client) {
    sb.kubectl_ok(&["create", "namespace", "retain"]);
    let manifest = r#"
apiVersion: ecsoperator.io/v1alpha1
kind: EcsCluster
metadata: {name: kept-cluster}
spec: {deletionPolicy: Retain, tags: {team: web}}
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsTaskDef
metadata: {name: kept-task}
spec:
  deletionPolicy: Retain
  containerDefinitions: [{name: web, image: nginx, memory: 64}]
"#;
    let out = sb.kubectl_stdin(&["apply", "-n", "retain", "-f", "-"], manifest);
    assert!(out.status.success(), "{}", stderr(&out));
    sb.kubectl_ok(&[
        "wait",
        "-n",
        "retain",
        "--for=condition=Ready",
        "--timeout=60s",
        "ecscluster/kept-cluster",
        "ecstaskdef/kept-task",
    ]);
    sb.kubectl_ok(&[
        "delete",
        "-n",
        "retain",
        "ecscluster/kept-cluster",
        "ecstaskdef/kept-task",
        "--timeout=60s",
    ]);
    let api: Api<EcsTaskDef> = Api::namespaced(client.clone(), "retain");
    assert!(api.get_opt("kept-task").await.expect("get").is_none());
    assert_eq!(
        aws.cluster_status("kept-cluster").await.as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(aws.active_revisions("kept-task").await.len(), 1);
    let c = aws
        .ecs
        .describe_clusters()
        .clusters("kept-cluster")
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .expect("cluster");
    let tags = c.clusters()[0].tags();
    assert!(
        tags.iter().any(|t| t.key() == Some("ecsoperator.io/owner")),
        "Retain must leave tags in place"
    );
}

async fn conditions_explain_what_is_wrong(sb: &Sandbox, client: &kube::Client) {
    sb.kubectl_ok(&["create", "namespace", "wrong"]);
    let manifest = r#"
apiVersion: ecsoperator.io/v1alpha1
kind: EcsService
metadata: {name: no-such-taskdef}
spec: {cluster: default, taskDefinition: "no-such-family:7"}
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsService
metadata: {name: waits}
spec: {clusterRef: {name: not-yet}, taskDefRef: {name: not-yet-either}}
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsTaskDef
metadata: {name: rolling}
spec: {containerDefinitions: [{name: web, image: nginx, memory: 64}]}
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsCluster
metadata: {name: rolling}
spec: {}
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsService
metadata: {name: rolling}
spec: {clusterRef: {name: rolling}, taskDefRef: {name: rolling}, desiredCount: 5}
"#;
    let out = sb.kubectl_stdin(&["apply", "-n", "wrong", "-f", "-"], manifest);
    assert!(out.status.success(), "{}", stderr(&out));
    let api: Api<EcsService> = Api::namespaced(client.clone(), "wrong");
    let condition = |name: &'static str, type_: &'static str| {
        let api = api.clone();
        async move {
            let s = api.get(name).await.ok()?;
            s.status?
                .common
                .conditions
                .into_iter()
                .find(|c| c.type_ == type_)
        }
    };
    let stalled = eventually("Stalled on a missing task definition", WAIT, || async {
        condition("no-such-taskdef", "Stalled")
            .await
            .filter(|c| c.status == "True")
    })
    .await;
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(
        stalled.message.contains("no-such-family:7"),
        "{}",
        stalled.message
    );
    let synced = eventually(
        "WaitingForDependency on a missing EcsCluster",
        WAIT,
        || async {
            condition("waits", "Synced")
                .await
                .filter(|c| c.reason == "WaitingForDependency")
        },
    )
    .await;
    assert!(
        synced.message.contains("EcsCluster not-yet not found"),
        "{}",
        synced.message
    );
    let ready = condition("waits", "Ready")
        .await
        .expect("Ready is always present");
    assert_eq!(ready.status, "False");

    // kstatus, as Flux, kpt and Argo CD's kstatus-based checks compute it: Failed when
    // Stalled; InProgress after a retryable failure on a new generation and while a
    // deployment rolls out (moto runs 4 of the 5 wanted tasks, forever).
    let (status, message) = kstatus(sb, "ecsservice", "wrong", "no-such-taskdef");
    assert_eq!(status, "Failed", "{message}");
    let (status, message) = kstatus(sb, "ecsservice", "wrong", "waits");
    assert_eq!(status, "InProgress", "{message}");
    eventually("the rolling service to reach ECS", WAIT, || async {
        condition("rolling", "Reconciling")
            .await
            .filter(|c| c.status == "True" && c.reason == "DeploymentInProgress")
    })
    .await;
    let (status, message) = kstatus(sb, "ecsservice", "wrong", "rolling");
    assert_eq!(status, "InProgress", "{message}");
    sb.kubectl_ok(&[
        "delete",
        "-n",
        "wrong",
        "ecsservice",
        "--all",
        "--timeout=60s",
    ]);
    sb.kubectl_ok(&[
        "delete",
        "-n",
        "wrong",
        "ecstaskdef,ecscluster",
        "--all",
        "--timeout=60s",
    ]);
}

async fn crash_safety(sb: &Sandbox, aws: &Aws) {
    sb.kubectl_ok(&["create", "namespace", "crash"]);
    let manifests = sb
        .render("config/samples")
        .replace("my-ecs-cluster", "crash-cluster")
        .replace("hello-world-task", "crash-task")
        .replace("hello-world-service", "crash-service")
        .replace("ecs-load-balancer", "crash-elb");
    let out = sb.kubectl_stdin(&["apply", "-n", "crash", "-f", "-"], &manifests);
    assert!(out.status.success(), "{}", stderr(&out));
    // Kill the operator (SIGKILL) repeatedly in the middle of creating everything.
    for delay_ms in [300u64, 700, 1200] {
        let mut op = Operator::start(sb, &format!("crash-{delay_ms}"), &["--resync-period", "3s"]);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        op.kill();
    }
    let _op = Operator::start(sb, "crash-final", &["--resync-period", "3s"]);
    let out = sb.kubectl(&[
        "wait",
        "-n",
        "crash",
        "--for=condition=Ready",
        "--timeout=120s",
        "ecscluster/crash-cluster",
        "ecstaskdef/crash-task",
        "ecsservice/crash-service",
    ]);
    assert!(
        out.status.success(),
        "not Ready after crashes: {}",
        stderr(&out)
    );
    // Let a few resyncs pass: nothing new may appear.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        aws.active_revisions("crash-task").await.len(),
        1,
        "extra task definition revisions"
    );
    let all_revisions = aws
        .ecs
        .list_task_definitions()
        .family_prefix("crash-task")
        .send()
        .await
        .expect("list");
    assert_eq!(
        all_revisions.task_definition_arns().len(),
        1,
        "revisions registered and dropped"
    );
    assert_eq!(
        aws.elb_names()
            .await
            .iter()
            .filter(|n| *n == "crash-elb")
            .count(),
        1
    );
    assert_eq!(
        aws.launch_template_names()
            .await
            .iter()
            .filter(|n| n.starts_with("crash-cluster"))
            .count(),
        1
    );
    let lt = aws
        .ec2
        .describe_launch_templates()
        .launch_template_names("crash-cluster-ecs-capacity")
        .send()
        .await
        .expect("launch template");
    assert_eq!(
        lt.launch_templates()[0].latest_version_number(),
        Some(1),
        "extra launch template versions"
    );
    let services = aws
        .ecs
        .list_services()
        .cluster("crash-cluster")
        .send()
        .await
        .expect("services");
    assert_eq!(
        services.service_arns().len(),
        1,
        "{:?}",
        services.service_arns()
    );
    let groups = aws
        .asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    let crash_groups = groups
        .auto_scaling_groups()
        .iter()
        .filter(|g| {
            g.auto_scaling_group_name()
                .is_some_and(|n| n.starts_with("crash-cluster"))
        })
        .count();
    assert_eq!(crash_groups, 1);
}
