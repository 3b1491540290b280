//! `fake-only`: the fake AWS alone, holding the benchmark's workload (one cluster, T task
//! definitions, N services with completed deployments) as the operator leaves it, with no
//! controllers and no Kubernetes. Its anonymous resident memory (the heap: code pages the
//! first calls fault in are left out) minus the process's before is the fake's share of
//! the peak RSS ecs-bench measures for ecs-operator-on-fake.

use anyhow::{Context, Result};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{CreateServiceInput, RegisterTaskDefinitionInput, Tags};
use ecs_operator::aws::{EcsApi, DESCRIBE_SERVICES_MAX};
use serde::Serialize;
use serde_json::json;

/// What `fake-only` prints (one JSON line).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Services created.
    pub services: u32,
    /// Task definition families registered.
    pub task_defs: u32,
    /// RssAnon before the fake held anything, MiB.
    pub baseline_rss_mib: f64,
    /// RssAnon with the workload in the fake, MiB.
    pub rss_mib: f64,
    /// The difference: the fake's state.
    pub fake_mib: f64,
}

/// Tags close in size to the operator's (owner, managed-by, and for task definitions the
/// spec hash), so the fake holds about as many bytes as in the real run.
fn tags(owner: &str, hash: bool) -> Tags {
    let mut t = Tags::new();
    t.insert(
        "ecsoperator.io/owner".into(),
        format!("bench/bench/{owner}"),
    );
    t.insert("ecsoperator.io/managed-by".into(), "ecs-operator".into());
    if hash {
        t.insert("ecsoperator.io/spec-hash".into(), "0".repeat(64));
    }
    t
}

/// [`run`] on a runtime of the calling thread, so that no worker thread's allocator arena
/// adds to the figure.
pub fn run_alone(services: u32, task_defs: u32) -> Result<Report> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting a runtime")?
        .block_on(run(services, task_defs))
}

/// Fills a fresh fake with the workload and measures it.
pub async fn run(services: u32, task_defs: u32) -> Result<Report> {
    let baseline = rss_mib()?;
    let fake = FakeAws::new();
    // As in `run`: the gate counts, the log would only grow.
    fake.set_call_log(false);
    let task_defs = task_defs.max(1);
    fake.create_cluster("bench", &tags("EcsCluster/bench", false))
        .await
        .context("CreateCluster")?;
    let definition = serde_json::from_value(json!({ "containerDefinitions": [{
        "name": "web",
        "image": "public.ecr.aws/nginx/nginx:1.1",
        "memory": 128,
        "essential": true,
        "portMappings": [{ "containerPort": 80, "hostPort": 0, "protocol": "tcp" }],
    }]}))
    .context("the task definition")?;
    let mut arns = Vec::new();
    for t in 0..task_defs {
        let family = format!("td-{t:05}");
        let rev = fake
            .register_task_definition(&RegisterTaskDefinitionInput {
                family: family.clone(),
                definition: Clone::clone(&definition),
                tags: tags(&format!("EcsTaskDef/{family}"), true),
            })
            .await
            .context("RegisterTaskDefinition")?;
        arns.push(rev.arn);
    }
    let mut names = Vec::new();
    for i in 0..services {
        let name = format!("svc-{i:05}");
        fake.create_service(&CreateServiceInput {
            cluster: "bench".into(),
            name: name.clone(),
            task_definition: arns[(i % task_defs) as usize].clone(),
            desired_count: 1,
            launch_type: Some(ecs_operator::api::task_def::LaunchType::Ec2),
            tags: tags(&format!("EcsService/{name}"), false),
            client_token: format!("{:036}", i),
            ..Default::default()
        })
        .await
        .context("CreateService")?;
        names.push(name);
    }
    // Described once, as the operator does: the deployments complete and leave their events.
    for chunk in names.chunks(DESCRIBE_SERVICES_MAX) {
        fake.describe_services("bench", chunk)
            .await
            .context("DescribeServices")?;
    }
    let rss = rss_mib()?;
    drop(fake);
    Ok(Report {
        services,
        task_defs,
        baseline_rss_mib: baseline,
        rss_mib: rss,
        fake_mib: rss - baseline,
    })
}

/// This process's anonymous resident memory (RssAnon) in MiB.
fn rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no RssAnon in /proc/self/status")?;
    Ok(kib / 1024.0)
}
