//! What is measured and how: readiness from watches on the objects, AWS calls from the
//! proxy's (or the fake's) counters between two snapshots, CPU from /proc, the task
//! definition edit's rollout from moto (or the fake), revisions over restarts from the
//! proxy's call record (or the fake).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::moto::on_new_revision;
use crate::operators::{Operator, Role};
use crate::proxy::{is_write, Summary};
use crate::report::Phase;
use crate::view::AwsView;
use crate::workload::{self, Workload, CLUSTER};

/// Whether `obj` has the condition `condition` with status `True`.
pub fn has_true_condition(obj: &serde_json::Value, condition: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c["type"] == condition && c["status"] == "True")
        })
}

#[derive(Default)]
struct ReadyState {
    /// Object key → ready now.
    ready: HashMap<String, bool>,
    /// When every expected object was ready at once, the first time.
    all_ready_at: Option<Instant>,
    expected: usize,
}

impl ReadyState {
    fn count(&self) -> usize {
        self.ready.values().filter(|r| **r).count()
    }
}

/// Watches the three kinds of one operator and notes when every object is ready at once
/// (an object that turns unready again counts as not ready).
pub struct ReadyTracker {
    state: Arc<Mutex<ReadyState>>,
    changed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

fn lock(state: &Mutex<ReadyState>) -> MutexGuard<'_, ReadyState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReadyTracker {
    /// Starts watching `namespace` for `op`'s objects; `expected` is how many there will be.
    pub fn start(client: &kube::Client, namespace: &str, op: Operator, expected: usize) -> Self {
        let state = Arc::new(Mutex::new(ReadyState {
            expected,
            ..ReadyState::default()
        }));
        let changed = Arc::new(Notify::new());
        let tasks = Role::ALL
            .iter()
            .map(|role| {
                let kind = op.kind(*role);
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), namespace, &kind.api_resource());
                let (state, changed) = (state.clone(), changed.clone());
                let condition = op.ready_condition();
                tokio::spawn(async move {
                    let mut events = watcher::watcher(api, watcher::Config::default())
                        .default_backoff()
                        .boxed();
                    while let Some(event) = events.next().await {
                        let obj = match event {
                            Ok(Event::Apply(obj) | Event::InitApply(obj)) => obj,
                            _ => continue,
                        };
                        let key =
                            format!("{}/{}", kind.kind, obj.metadata.name.unwrap_or_default());
                        let ready = has_true_condition(&obj.data, condition);
                        let mut s = lock(&state);
                        s.ready.insert(key, ready);
                        if s.all_ready_at.is_none() && s.count() >= s.expected {
                            s.all_ready_at = Some(Instant::now());
                        }
                        drop(s);
                        changed.notify_waiters();
                    }
                })
            })
            .collect();
        ReadyTracker {
            state,
            changed,
            tasks,
        }
    }

    /// Objects ready now.
    pub fn ready_count(&self) -> usize {
        lock(&self.state).count()
    }

    /// Waits until every expected object was ready at once; returns when that happened,
    /// or `None` at `deadline`.
    pub async fn wait_all_ready(&self, deadline: Instant) -> Option<Instant> {
        loop {
            let notified = self.changed.notified();
            if let Some(at) = lock(&self.state).all_ready_at {
                return Some(at);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            // Woken by every change; the timeout only bounds a quiet wait.
            let _ = tokio::time::timeout(left.min(Duration::from_secs(5)), notified).await;
        }
    }
}

impl Drop for ReadyTracker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Waits until the cluster, every task definition family and every service exist in AWS
/// (moto read directly, or the fake). Returns when the check that found them all started,
/// or `None` at `deadline`.
pub async fn wait_present_in_aws(
    aws: &AwsView,
    w: &Workload,
    deadline: Instant,
) -> Result<Option<Instant>> {
    let services: Vec<String> = (0..w.services).map(|i| w.service_name(i)).collect();
    let families: Vec<String> = (0..w.task_defs).map(|t| w.task_def_name(t)).collect();
    loop {
        let check = Instant::now();
        if aws.cluster_active(CLUSTER).await?
            && aws.services_exist(CLUSTER, &services).await?
            && aws.families_exist(&families).await?
        {
            return Ok(Some(check));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When.
    pub at: Instant,
    /// The proxy's summary.
    pub proxy: Summary,
    /// The operator's CPU seconds so far.
    pub cpu_seconds: f64,
    /// The operator's own AWS call counter, if it has one.
    pub own_calls: Option<f64>,
}

/// The figures between two snapshots.
pub fn window(a: &Snapshot, b: &Snapshot) -> Phase {
    let mut calls_by_operation = BTreeMap::new();
    for (key, counts) in &b.proxy.calls {
        let before = a.proxy.calls.get(key).map_or(0, |c| c.total);
        let d = counts.total.saturating_sub(before);
        if d > 0 {
            calls_by_operation.insert(key.clone(), d);
        }
    }
    Phase {
        seconds: b.at.duration_since(a.at).as_secs_f64(),
        aws_calls: b.proxy.total_calls.saturating_sub(a.proxy.total_calls),
        writes: calls_by_operation
            .iter()
            .filter(|(k, _)| is_write(k))
            .map(|(_, n)| n)
            .sum(),
        throttled: b
            .proxy
            .throttled_bucket
            .saturating_sub(a.proxy.throttled_bucket),
        cpu_seconds: b.cpu_seconds - a.cpu_seconds,
        own_metric_calls: match (a.own_calls, b.own_calls) {
            (Some(x), Some(y)) => Some(y - x),
            _ => None,
        },
        calls_by_operation,
    }
}

/// Edits task definition `t` (a new image) and measures, for each of its services, the
/// time from the edit until ECS reports it on the new revision; `None` for services not
/// there within `timeout`.
pub async fn edit_rollout(
    client: &kube::Client,
    namespace: &str,
    op: Operator,
    w: &Workload,
    aws: &AwsView,
    t: u32,
    timeout: Duration,
) -> Result<Vec<Option<f64>>> {
    let family = w.task_def_name(t);
    let services: Vec<String> = w
        .services_of_task_def(t)
        .into_iter()
        .map(|i| w.service_name(i))
        .collect();
    let before = aws.task_definitions(CLUSTER, &services).await?;
    let new_revision = aws.latest_revision(&family).await? + 1;
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &op.kind(Role::TaskDef).api_resource(),
    );
    let start = Instant::now();
    api.patch(
        &family,
        &PatchParams::default(),
        &Patch::Merge(workload::task_def_edit(2)),
    )
    .await
    .with_context(|| format!("editing {family}"))?;
    let mut rolled: Vec<Option<f64>> = vec![None; services.len()];
    while start.elapsed() < timeout && rolled.iter().any(Option::is_none) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = aws.task_definitions(CLUSTER, &services).await?;
        let elapsed = start.elapsed().as_secs_f64();
        for (i, name) in services.iter().enumerate() {
            if rolled[i].is_some() {
                continue;
            }
            let (Some(b), Some(n)) = (before.get(name), now.get(name)) else {
                continue;
            };
            if on_new_revision(b, n, new_revision) {
                rolled[i] = Some(elapsed);
            }
        }
    }
    Ok(rolled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::CallCounts;
    use serde_json::json;

    #[test]
    fn ready_condition() {
        let obj = json!({"status": {"conditions": [
            {"type": "Synced", "status": "True"},
            {"type": "Ready", "status": "False"}
        ]}});
        assert!(!has_true_condition(&obj, "Ready"));
        assert!(has_true_condition(&obj, "Synced"));
        assert!(!has_true_condition(&json!({}), "Ready"));
        let ack =
            json!({"status": {"conditions": [{"type": "ACK.ResourceSynced", "status": "True"}]}});
        assert!(has_true_condition(&ack, "ACK.ResourceSynced"));
    }

    fn snap(at: Instant, total: u64, ops: &[(&str, u64)], cpu: f64) -> Snapshot {
        Snapshot {
            at,
            proxy: Summary {
                total_calls: total,
                throttled_bucket: 0,
                calls: ops
                    .iter()
                    .map(|(k, n)| (k.to_string(), CallCounts { total: *n }))
                    .collect(),
            },
            cpu_seconds: cpu,
            own_calls: Some(total as f64),
        }
    }

    #[test]
    fn window_differences() {
        let t = Instant::now();
        let a = snap(t, 5, &[("ecs:DescribeServices", 5)], 1.0);
        let b = snap(
            t + Duration::from_secs(10),
            17,
            &[("ecs:DescribeServices", 12), ("ecs:UpdateService", 5)],
            3.5,
        );
        let p = window(&a, &b);
        assert_eq!(p.aws_calls, 12);
        assert_eq!(p.writes, 5);
        assert_eq!(p.calls_by_operation["ecs:DescribeServices"], 7);
        assert!((p.seconds - 10.0).abs() < 1e-9);
        assert!((p.cpu_seconds - 2.5).abs() < 1e-9);
        assert_eq!(p.own_metric_calls, Some(12.0));
    }
}
