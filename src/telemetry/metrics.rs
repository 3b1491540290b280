//! Prometheus metrics of the controllers and of the AWS calls.
//!
//! Two sets, encoded into one `/metrics` answer:
//!
//! - ours, prefixed `ecs_operator_`: reconciles and errors per kind and error, AWS calls
//!   per operation and outcome, the AWS budget per client-side token bucket (calls,
//!   throttles, tokens left, capacity, refill), drift corrections, and the objects per
//!   kind by condition status;
//! - controller-runtime's names, unprefixed, so that dashboards and alerts written for
//!   controller-runtime operators work: `controller_runtime_reconcile_total{controller,
//!   result}`, `controller_runtime_reconcile_errors_total`,
//!   `controller_runtime_reconcile_time_seconds`, `controller_runtime_max_concurrent_reconciles`,
//!   `controller_runtime_active_workers` and the `workqueue_*` family
//!   (`{name, controller}`). `controller` is the kind in lower case (`ecscluster`,
//!   `ecstaskdef`, `ecsservice`), as controller-runtime names a controller after its kind.
//!
//! kube-rs's controller keeps its queue (a scheduler that merges requests per object, the
//! earliest time winning, and holds an object's request while that object is being
//! reconciled) without any counters. [`WorkQueues`] rebuilds the queue's state from what
//! goes in (the watch events and wake-ups that trigger a reconcile, the requeue each
//! reconcile and the error policy ask for) and what comes out (reconciles started, requests dropped for
//! objects gone from the cache), with the scheduler's rules; see [`WorkQueues`] for what
//! each `workqueue_*` number then means.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::workqueue::{requeue_of, Requeue, WorkQueues};
use crate::aws::rate_limit::RateLimiter;
use crate::reconciler::conditions::{READY, RECONCILING, STALLED, SYNCED};
use crate::reconciler::managed::{HasCommonStatus, ManagedResource};

/// Labels of the per-kind reconcile metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// EcsCluster, EcsTaskDef or EcsService.
    pub kind: &'static str,
}

/// Labels of the drift correction counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// The kind of the object that owns the resource.
    pub kind: &'static str,
    /// The owned AWS resource, e.g. `ecs_service`, `auto_scaling_group`.
    pub resource: &'static str,
    /// The field set back to the spec, e.g. `desiredCount`.
    pub field: &'static str,
}

/// Labels of the reconcile error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The kind.
    pub kind: &'static str,
    /// The error's metric label.
    pub error: &'static str,
}

/// Labels of the AWS call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// e.g. `ecs:CreateService`.
    pub operation: &'static str,
    /// success, throttled, not_found, invalid_input, dependency, transient, access_denied.
    pub outcome: &'static str,
}

/// Labels of the AWS throttle counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// e.g. `ecs:CreateService`.
    pub operation: &'static str,
}

/// Labels of the per-bucket AWS budget metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BucketLabels {
    /// The client-side token bucket, e.g. `ecs_service_read` (see `aws::rate_limit::Bucket`).
    pub bucket: &'static str,
}

/// Labels of the objects gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// The kind.
    pub kind: &'static str,
    /// Ready, Synced, Stalled or Reconciling.
    pub condition: &'static str,
    /// True, False, or Unknown (also when the object has no such condition yet).
    pub status: &'static str,
}

/// Labels of controller-runtime's controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// The kind in lower case, e.g. `ecsservice`.
    pub controller: String,
}

/// Labels of `controller_runtime_reconcile_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// The kind in lower case.
    pub controller: String,
    /// success, error, requeue or requeue_after.
    pub result: &'static str,
}

/// Labels of the `workqueue_*` metrics (controller-runtime sets both to the controller's
/// name).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// The kind in lower case.
    pub name: String,
    /// The kind in lower case.
    pub controller: String,
}

/// The `controller` label of a kind: its name in lower case, as controller-runtime names
/// a controller after the kind it reconciles.
pub fn controller_name(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

/// Create the series of `labels` (at 0), so that the first event is a change.
fn touch<S, M, C>(family: &Family<S, M, C>, labels: &S)
where
    S: Clone + std::hash::Hash + Eq,
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    drop(family.get_or_create(labels));
}

fn queue_labels(kind: &str) -> QueueLabels {
    QueueLabels {
        name: controller_name(kind),
        controller: controller_name(kind),
    }
}

/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets.
const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

/// controller-runtime's result labels.
const RESULTS: [&str; 4] = ["success", "error", "requeue", "requeue_after"];
/// The conditions the objects gauge counts.
const OBJECT_CONDITIONS: [&str; 4] = [READY, SYNCED, STALLED, RECONCILING];
const CONDITION_STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// Counts objects of a kind by condition status, from a controller's reflector store.
type ObjectCounter = Box<dyn Fn(&mut HashMap<ObjectLabels, i64>) + Send + Sync>;

/// The condition × status series of a kind.
fn object_series(kind: &'static str) -> impl Iterator<Item = ObjectLabels> {
    OBJECT_CONDITIONS.into_iter().flat_map(move |condition| {
        CONDITION_STATUSES
            .into_iter()
            .map(move |status| ObjectLabels {
                kind,
                condition,
                status,
            })
    })
}

/// Everything sampled at scrape time: the controllers' stores, the rate limiters.
#[derive(Default)]
struct Sources {
    objects: Mutex<Vec<(&'static str, ObjectCounter)>>,
    limiters: Mutex<Vec<Weak<RateLimiter>>>,
    /// Serialises scrapes (counters derived from totals must not be raised twice).
    scrape: Mutex<()>,
}

/// controller-runtime's controller and workqueue metrics.
#[derive(Clone)]
pub struct ControllerRuntimeMetrics {
    /// `controller_runtime_reconcile_total{controller,result}`.
    pub reconcile_total: Family<ResultLabels, Counter>,
    /// `controller_runtime_reconcile_errors_total{controller}`.
    pub reconcile_errors: Family<ControllerLabels, Counter>,
    /// `controller_runtime_reconcile_time_seconds{controller}`.
    pub reconcile_time: Family<ControllerLabels, Histogram>,
    /// `controller_runtime_max_concurrent_reconciles{controller}`.
    pub max_concurrent_reconciles: Family<ControllerLabels, Gauge>,
    /// `controller_runtime_active_workers{controller}`.
    pub active_workers: Family<ControllerLabels, Gauge>,
    /// `workqueue_depth{name,controller}`.
    pub queue_depth: Family<QueueLabels, Gauge>,
    /// `workqueue_adds_total{name,controller}`.
    pub queue_adds: Family<QueueLabels, Counter>,
    /// `workqueue_queue_duration_seconds{name,controller}`.
    pub queue_duration: Family<QueueLabels, Histogram>,
    /// `workqueue_work_duration_seconds{name,controller}`.
    pub work_duration: Family<QueueLabels, Histogram>,
    /// `workqueue_unfinished_work_seconds{name,controller}`.
    pub unfinished_work: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    /// `workqueue_longest_running_processor_seconds{name,controller}`.
    pub longest_running: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    /// `workqueue_retries_total{name,controller}`.
    pub queue_retries: Family<QueueLabels, Counter>,
}

impl ControllerRuntimeMetrics {
    fn new() -> Self {
        // client-go's workqueue buckets: 10ns to 10^3 s.
        let queue_buckets = || Histogram::new(exponential_buckets(10e-9, 10.0, 12));
        Self {
            reconcile_total: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_time: Family::new_with_constructor(|| Histogram::new(RECONCILE_TIME_BUCKETS)),
            max_concurrent_reconciles: Family::default(),
            active_workers: Family::default(),
            queue_depth: Family::default(),
            queue_adds: Family::default(),
            queue_duration: Family::new_with_constructor(queue_buckets),
            work_duration: Family::new_with_constructor(queue_buckets),
            unfinished_work: Family::default(),
            longest_running: Family::default(),
            queue_retries: Family::default(),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            self.reconcile_total.clone(),
        );
        r.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            self.reconcile_errors.clone(),
        );
        r.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            self.reconcile_time.clone(),
        );
        r.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            self.max_concurrent_reconciles.clone(),
        );
        r.register(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            self.active_workers.clone(),
        );
        r.register(
            "workqueue_depth",
            "Current depth of workqueue: objects whose reconcile is due and not started",
            self.queue_depth.clone(),
        );
        r.register(
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            self.queue_adds.clone(),
        );
        r.register(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            self.queue_duration.clone(),
        );
        r.register(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            self.work_duration.clone(),
        );
        r.register(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
            self.unfinished_work.clone(),
        );
        r.register(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running",
            self.longest_running.clone(),
        );
        r.register(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            self.queue_retries.clone(),
        );
    }
}

/// All metrics of the operator, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    /// Reconciles started per kind.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconcile errors per kind and error.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile durations per kind.
    pub reconcile_duration: Family<KindLabels, Histogram>,
    /// AWS calls per operation and outcome.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// HTTP requests sent to AWS per operation: pagination pages and SDK retries included
    /// (what AWS's buckets charge).
    pub aws_requests: Family<OperationLabels, Counter>,
    /// Throttled AWS calls per operation (AWS said so).
    pub aws_throttles: Family<OperationLabels, Counter>,
    /// Time spent waiting on the client-side rate limiter.
    pub rate_limit_wait: Family<OperationLabels, Histogram>,
    /// Tokens taken from each client-side bucket (sampled from the limiters at scrape).
    pub aws_bucket_calls: Family<BucketLabels, Counter>,
    /// AWS calls whose answer (after the SDK's retries) was throttling, per bucket.
    pub aws_bucket_throttles: Family<BucketLabels, Counter>,
    /// Tokens left per client-side bucket (sampled at scrape; fewest over regions).
    pub aws_bucket_tokens: Family<BucketLabels, Gauge<f64, AtomicU64>>,
    /// Burst size per client-side bucket.
    pub aws_bucket_capacity: Family<BucketLabels, Gauge<f64, AtomicU64>>,
    /// Refill per second per client-side bucket.
    pub aws_bucket_refill: Family<BucketLabels, Gauge<f64, AtomicU64>>,
    /// Fields set back to the spec after something else changed them in AWS.
    pub drift_corrections: Family<DriftLabels, Counter>,
    /// Objects per kind, condition and status (sampled from the controllers' caches).
    pub objects: Family<ObjectLabels, Gauge>,
    /// Shards whose Lease this replica holds (`--shards`; 0 without sharding).
    pub shards_held: Gauge,
    /// controller-runtime's names.
    pub controller_runtime: ControllerRuntimeMetrics,
    queues: Arc<WorkQueues>,
    sources: Arc<Sources>,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 12))
            }),
            aws_calls: Family::default(),
            aws_requests: Family::default(),
            aws_throttles: Family::default(),
            rate_limit_wait: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 4.0, 8))
            }),
            aws_bucket_calls: Family::default(),
            aws_bucket_throttles: Family::default(),
            aws_bucket_tokens: Family::default(),
            aws_bucket_capacity: Family::default(),
            aws_bucket_refill: Family::default(),
            drift_corrections: Family::default(),
            objects: Family::default(),
            shards_held: Gauge::default(),
            controller_runtime: ControllerRuntimeMetrics::new(),
            queues: Arc::default(),
            sources: Arc::default(),
            registry: Arc::default(),
        };
        // controller-runtime's names unprefixed at the root, ours under `ecs_operator_`.
        let mut root = Registry::default();
        m.controller_runtime.register(&mut root);
        m.register(root.sub_registry_with_prefix("ecs_operator"));
        Self {
            registry: Arc::new(root),
            ..m
        }
    }
}

impl Metrics {
    fn register(&self, r: &mut Registry) {
        r.register("reconciles", "Reconciles started", self.reconciles.clone());
        r.register(
            "reconcile_errors",
            "Reconciles that failed",
            self.reconcile_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            self.reconcile_duration.clone(),
        );
        r.register(
            "aws_calls",
            "AWS API calls by outcome",
            self.aws_calls.clone(),
        );
        r.register(
            "aws_requests",
            "HTTP requests sent to AWS (pagination pages and SDK retries included)",
            self.aws_requests.clone(),
        );
        r.register(
            "aws_throttles",
            "AWS API calls throttled by AWS",
            self.aws_throttles.clone(),
        );
        r.register(
            "aws_rate_limit_wait_seconds",
            "Time AWS calls waited on the client-side rate limiter",
            self.rate_limit_wait.clone(),
        );
        r.register(
            "aws_bucket_calls",
            "AWS API calls charged to each client-side token bucket (tokens taken), all regions",
            self.aws_bucket_calls.clone(),
        );
        r.register(
            "aws_bucket_throttles",
            "AWS API calls of each bucket whose answer (after the SDK's retries) was a throttling error",
            self.aws_bucket_throttles.clone(),
        );
        r.register(
            "aws_bucket_tokens",
            "Tokens left in each client-side token bucket (fewest over regions); negative: that many calls wait for the refill",
            self.aws_bucket_tokens.clone(),
        );
        r.register(
            "aws_bucket_capacity",
            "Burst size of each client-side token bucket (awsRateShare of AWS's bucket)",
            self.aws_bucket_capacity.clone(),
        );
        r.register(
            "aws_bucket_refill_per_second",
            "Refill rate of each client-side token bucket (awsRateShare of AWS's bucket)",
            self.aws_bucket_refill.clone(),
        );
        r.register(
            "drift_corrections",
            "Fields of owned AWS resources set back to the spec after something else changed them (one per field of each DriftCorrected event; spec edits are not counted), per kind, resource and field",
            self.drift_corrections.clone(),
        );
        r.register(
            "objects",
            "Objects in the controllers' caches per kind, by the status of their Ready, Synced, Stalled and Reconciling conditions",
            self.objects.clone(),
        );
        r.register(
            "shards_held",
            "Shards whose Lease this replica holds (--shards; 0 without sharding)",
            self.shards_held.clone(),
        );
    }
}

/// Records one reconcile's end; dropping it without [`ReconcileTimer::finish`] (a
/// cancelled reconcile) only frees its worker.
#[must_use = "call finish() when the reconcile ended"]
pub struct ReconcileTimer {
    metrics: Metrics,
    kind: &'static str,
    namespace: Option<String>,
    name: String,
    started: Instant,
    done: bool,
}

impl ReconcileTimer {
    /// The reconcile ended: `failed` when it failed (an error it returned, or one it
    /// handled itself by backing off), `action` what it returned (`None` when it returned
    /// an error: the error policy's action is recorded by [`Metrics::reconcile_requeued`]).
    pub fn finish(mut self, failed: bool, action: Option<&Action>) {
        let now = Instant::now();
        self.end();
        let m = &self.metrics;
        let cr = &m.controller_runtime;
        let controller = controller_name(self.kind);
        let requeue = action.and_then(requeue_of);
        let result = match (failed, requeue) {
            (true, _) => "error",
            (false, Some(Requeue::After(d))) if d.is_zero() => "requeue",
            (false, Some(Requeue::After(_))) => "requeue_after",
            (false, _) => "success",
        };
        cr.reconcile_total
            .get_or_create(&ResultLabels {
                controller: controller.clone(),
                result,
            })
            .inc();
        let labels = ControllerLabels { controller };
        if failed {
            cr.reconcile_errors.get_or_create(&labels).inc();
        }
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        cr.reconcile_time.get_or_create(&labels).observe(elapsed);
        cr.work_duration
            .get_or_create(&queue_labels(self.kind))
            .observe(elapsed);
        if let Some(Requeue::After(d)) = requeue {
            if failed {
                cr.queue_retries
                    .get_or_create(&queue_labels(self.kind))
                    .inc();
            }
            let due = now.checked_add(d).unwrap_or(now);
            m.queues
                .requeued(self.kind, self.namespace.as_deref(), &self.name, due);
        }
    }

    fn end(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let labels = ControllerLabels {
            controller: controller_name(self.kind),
        };
        self.metrics
            .controller_runtime
            .active_workers
            .get_or_create(&labels)
            .dec();
        self.metrics
            .queues
            .finished(self.kind, self.namespace.as_deref(), &self.name);
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.end();
    }
}

impl Metrics {
    /// A controller of `kind` runs with `concurrency` workers (one per watched namespace
    /// adds up): its series start at 0, as controller-runtime's do, so rates and
    /// increases see the first event.
    pub fn controller_started(&self, kind: &'static str, concurrency: u16) {
        let cr = &self.controller_runtime;
        let controller = controller_name(kind);
        for result in RESULTS {
            touch(
                &cr.reconcile_total,
                &ResultLabels {
                    controller: controller.clone(),
                    result,
                },
            );
        }
        let labels = ControllerLabels { controller };
        touch(&cr.reconcile_errors, &labels);
        cr.max_concurrent_reconciles
            .get_or_create(&labels)
            .inc_by(i64::from(concurrency));
        touch(&cr.active_workers, &labels);
        let q = queue_labels(kind);
        touch(&cr.queue_depth, &q);
        touch(&cr.queue_adds, &q);
        touch(&cr.queue_retries, &q);
        touch(&cr.unfinished_work, &q);
        touch(&cr.longest_running, &q);
        touch(&self.reconciles, &KindLabels { kind });
    }

    /// A watch event asks for a reconcile of the object now.
    pub fn reconcile_requested(&self, kind: &'static str, namespace: Option<&str>, name: &str) {
        if self.queues.requested(kind, namespace, name, Instant::now()) {
            self.controller_runtime
                .queue_adds
                .get_or_create(&queue_labels(kind))
                .inc();
        }
    }

    /// The error policy's `action` after a reconcile of the object returned an error.
    pub fn reconcile_requeued(
        &self,
        kind: &'static str,
        namespace: Option<&str>,
        name: &str,
        action: &Action,
    ) {
        if let Some(Requeue::After(d)) = requeue_of(action) {
            let now = Instant::now();
            self.controller_runtime
                .queue_retries
                .get_or_create(&queue_labels(kind))
                .inc();
            self.queues
                .requeued(kind, namespace, name, now.checked_add(d).unwrap_or(now));
        }
    }

    /// kube-rs dropped a request for an object no longer in its cache.
    pub fn reconcile_dropped(&self, kind: &'static str, namespace: Option<&str>, name: &str) {
        self.queues.dropped(kind, namespace, name);
    }

    /// A reconcile of the object starts now.
    pub fn reconcile_started(
        &self,
        kind: &'static str,
        namespace: Option<&str>,
        name: &str,
    ) -> ReconcileTimer {
        let started = Instant::now();
        let (added, waited) = self.queues.started(kind, namespace, name, started);
        let cr = &self.controller_runtime;
        let q = queue_labels(kind);
        if added {
            cr.queue_adds.get_or_create(&q).inc();
        }
        if let Some(waited) = waited {
            cr.queue_duration
                .get_or_create(&q)
                .observe(waited.as_secs_f64());
        }
        cr.active_workers
            .get_or_create(&ControllerLabels {
                controller: controller_name(kind),
            })
            .inc();
        ReconcileTimer {
            metrics: self.clone(),
            kind,
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            started,
            done: false,
        }
    }

    /// Count the objects of `store` by condition status at every scrape.
    pub fn count_objects<K: ManagedResource>(&self, store: Store<K>) {
        self.count_objects_where(store, |_| true);
    }

    /// Count the objects of `store` for which `counted` holds (with sharding: those of
    /// the shards this replica holds, so that the replicas' series add up) by condition
    /// status at every scrape.
    pub fn count_objects_where<K: ManagedResource>(
        &self,
        store: Store<K>,
        counted: impl Fn(&K) -> bool + Send + Sync + 'static,
    ) {
        let counter: ObjectCounter = Box::new(move |counts| {
            for obj in store.state().into_iter().filter(|o| counted(o)) {
                let conditions = obj
                    .status()
                    .map(|s| s.common().conditions.as_slice())
                    .unwrap_or_default();
                for condition in OBJECT_CONDITIONS {
                    let status =
                        conditions
                            .iter()
                            .find(|c| c.type_ == condition)
                            .map_or("Unknown", |c| match c.status.as_str() {
                                "True" => "True",
                                "False" => "False",
                                _ => "Unknown",
                            });
                    *counts
                        .entry(ObjectLabels {
                            kind: K::KIND,
                            condition,
                            status,
                        })
                        .or_default() += 1;
                }
            }
        });
        for labels in object_series(K::KIND) {
            touch(&self.objects, &labels);
        }
        self.sources
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((K::KIND, counter));
    }

    /// Sample `limiter`'s buckets at every scrape (a guard calls this once per limiter).
    pub fn track_limiter(&self, limiter: &Arc<RateLimiter>) {
        for s in limiter.snapshot(Instant::now()) {
            let labels = BucketLabels {
                bucket: s.bucket.name(),
            };
            touch(&self.aws_bucket_throttles, &labels);
        }
        self.sources
            .limiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(limiter));
    }

    /// Set what is sampled at scrape time: queue depths, objects, tokens.
    fn refresh(&self) {
        let _scrape = self
            .sources
            .scrape
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let cr = &self.controller_runtime;
        for (controller, s) in self.queues.sample(now) {
            let q = QueueLabels {
                name: controller.clone(),
                controller,
            };
            cr.queue_depth.get_or_create(&q).set(s.depth);
            cr.queue_adds.get_or_create(&q).inc_by(s.added);
            cr.unfinished_work
                .get_or_create(&q)
                .set(s.unfinished_seconds);
            cr.longest_running
                .get_or_create(&q)
                .set(s.longest_running_seconds);
        }

        let mut counts = HashMap::new();
        let mut kinds = Vec::new();
        for (kind, count) in self
            .sources
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            count(&mut counts);
            kinds.push(*kind);
        }
        kinds.sort_unstable();
        kinds.dedup();
        // Every series of a counted kind is set, so a count that drops to 0 reads 0.
        for labels in kinds.into_iter().flat_map(object_series) {
            let n = counts.get(&labels).copied().unwrap_or(0);
            self.objects.get_or_create(&labels).set(n);
        }

        let limiters: Vec<Arc<RateLimiter>> = {
            let mut weak = self
                .sources
                .limiters
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            weak.retain(|w| w.strong_count() > 0);
            weak.iter().filter_map(Weak::upgrade).collect()
        };
        let mut buckets: HashMap<&'static str, (f64, f64, f64, u64)> = HashMap::new();
        for limiter in &limiters {
            for s in limiter.snapshot(now) {
                let e = buckets.entry(s.bucket.name()).or_insert((
                    f64::INFINITY,
                    s.capacity,
                    s.refill_per_sec,
                    0,
                ));
                e.0 = e.0.min(s.tokens);
                e.3 += s.calls;
            }
        }
        for (bucket, (tokens, capacity, refill, calls)) in buckets {
            let labels = BucketLabels { bucket };
            self.aws_bucket_tokens.get_or_create(&labels).set(tokens);
            self.aws_bucket_capacity
                .get_or_create(&labels)
                .set(capacity);
            self.aws_bucket_refill.get_or_create(&labels).set(refill);
            let counter = self.aws_bucket_calls.get_or_create(&labels);
            let seen = counter.get();
            if calls > seen {
                counter.inc_by(calls - seen);
            }
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        self.refresh();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EcsService;
    use crate::aws::rate_limit::Bucket;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use std::time::Duration;

    /// The dashboard and the alerts: every metric they query must be exposed.
    const DASHBOARD: &str = include_str!("../../charts/ecs-operator/dashboards/ecs-operator.json");
    const RULES: &str = include_str!("../../charts/ecs-operator/templates/prometheusrule.yaml");

    #[test]
    fn encodes_counters_with_labels() {
        let m = Metrics::default();
        m.reconciles
            .get_or_create(&KindLabels { kind: "EcsService" })
            .inc();
        m.aws_calls
            .get_or_create(&AwsCallLabels {
                operation: "ecs:CreateService",
                outcome: "success",
            })
            .inc();
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"ecs_operator_reconciles_total{kind="EcsService"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"operation="ecs:CreateService",outcome="success""#),
            "{text}"
        );
    }

    fn service(name: &str, conditions: &[(&str, &str)]) -> EcsService {
        let mut s = EcsService::new(name, Default::default());
        s.metadata.namespace = Some("team".into());
        if !conditions.is_empty() {
            let mut status = crate::api::service::EcsServiceStatus::default();
            status.common_mut().conditions = conditions
                .iter()
                .map(|(t, st)| Condition {
                    type_: t.to_string(),
                    status: st.to_string(),
                    reason: "R".into(),
                    message: String::new(),
                    last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                    observed_generation: None,
                })
                .collect();
            s.status = Some(status);
        }
        s
    }

    #[test]
    fn objects_are_counted_by_condition_at_scrape_time() {
        let m = Metrics::default();
        let (reader, mut writer) = reflector::store::<EcsService>();
        m.count_objects(reader);
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(service(
            "a",
            &[("Ready", "True"), ("Stalled", "False")],
        )));
        writer.apply_watcher_event(&Event::InitApply(service(
            "b",
            &[("Ready", "False"), ("Stalled", "True")],
        )));
        writer.apply_watcher_event(&Event::InitApply(service("c", &[])));
        writer.apply_watcher_event(&Event::InitDone);
        let text = m.encode().unwrap();
        for line in [
            r#"ecs_operator_objects{kind="EcsService",condition="Ready",status="True"} 1"#,
            r#"ecs_operator_objects{kind="EcsService",condition="Ready",status="False"} 1"#,
            r#"ecs_operator_objects{kind="EcsService",condition="Ready",status="Unknown"} 1"#,
            r#"ecs_operator_objects{kind="EcsService",condition="Stalled",status="True"} 1"#,
            r#"ecs_operator_objects{kind="EcsService",condition="Reconciling",status="Unknown"} 3"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        writer.apply_watcher_event(&Event::Delete(service("b", &[])));
        let text = m.encode().unwrap();
        let zero = r#"ecs_operator_objects{kind="EcsService",condition="Stalled",status="True"} 0"#;
        assert!(text.contains(zero), "{text}");
    }

    #[test]
    fn only_the_objects_counted_are_counted() {
        // With sharding, each replica counts the objects of its own shards.
        let m = Metrics::default();
        let (reader, mut writer) = reflector::store::<EcsService>();
        m.count_objects_where(reader, |s: &EcsService| {
            s.metadata.name.as_deref() != Some("b")
        });
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(service("a", &[("Ready", "True")])));
        writer.apply_watcher_event(&Event::InitApply(service("b", &[("Ready", "True")])));
        writer.apply_watcher_event(&Event::InitDone);
        let text = m.encode().unwrap();
        let one = r#"ecs_operator_objects{kind="EcsService",condition="Ready",status="True"} 1"#;
        assert!(text.contains(one), "{text}");
    }

    #[test]
    fn bucket_budget_is_sampled_from_the_limiters() {
        let m = Metrics::default();
        let limiter = Arc::new(RateLimiter::new(0.5));
        assert!(limiter.start_tracking());
        m.track_limiter(&limiter);
        for _ in 0..3 {
            limiter.reserve(
                Bucket::EcsServiceRead,
                crate::aws::priority::Priority::UserInitiated,
                Instant::now(),
            );
        }
        let text = m.encode().unwrap();
        for line in [
            r#"ecs_operator_aws_bucket_calls_total{bucket="ecs_service_read"} 3"#,
            r#"ecs_operator_aws_bucket_calls_total{bucket="elb_create"} 0"#,
            r#"ecs_operator_aws_bucket_throttles_total{bucket="ecs_service_read"} 0"#,
            r#"ecs_operator_aws_bucket_capacity{bucket="ecs_service_read"} 50.0"#,
            r#"ecs_operator_aws_bucket_refill_per_second{bucket="ecs_service_read"} 10.0"#,
            r#"ecs_operator_aws_bucket_tokens{bucket="ecs_task_def_modify"} 10.0"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        // Tokens: 50 minus 3, plus what refilled since (10 per second).
        let tokens: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(r#"ecs_operator_aws_bucket_tokens{bucket="ecs_service_read"} "#)
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!((47.0..=50.0).contains(&tokens), "{tokens}");
        // Counters only move forward, once per call, however often it is scraped.
        limiter.reserve(
            Bucket::EcsServiceRead,
            crate::aws::priority::Priority::UserInitiated,
            Instant::now(),
        );
        m.encode().unwrap();
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"ecs_operator_aws_bucket_calls_total{bucket="ecs_service_read"} 4"#)
        );
        // A second region's limiter adds its calls.
        let other = Arc::new(RateLimiter::new(0.5));
        m.track_limiter(&other);
        other.reserve(
            Bucket::EcsServiceRead,
            crate::aws::priority::Priority::UserInitiated,
            Instant::now(),
        );
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"ecs_operator_aws_bucket_calls_total{bucket="ecs_service_read"} 5"#)
        );
    }

    #[test]
    fn controller_runtime_metrics_of_a_reconcile() {
        let m = Metrics::default();
        m.controller_started("EcsService", 4);
        m.controller_started("EcsService", 4);
        m.reconcile_requested("EcsService", Some("team"), "web");
        let timer = m.reconcile_started("EcsService", Some("team"), "web");
        let text = m.encode().unwrap();
        assert!(text.contains(r#"controller_runtime_active_workers{controller="ecsservice"} 1"#));
        timer.finish(false, Some(&Action::requeue(Duration::from_secs(600))));
        m.reconcile_started("EcsService", Some("team"), "web")
            .finish(true, Some(&Action::requeue(Duration::from_secs(5))));
        m.reconcile_started("EcsService", Some("team"), "web")
            .finish(false, Some(&Action::await_change()));
        m.reconcile_started("EcsService", Some("team"), "web")
            .finish(true, None);
        m.reconcile_requeued(
            "EcsService",
            Some("team"),
            "web",
            &Action::requeue(Duration::from_secs(2)),
        );
        // Cancelled: the worker is freed, no result.
        drop(m.reconcile_started("EcsService", Some("team"), "api"));
        let text = m.encode().unwrap();
        for line in [
            r#"controller_runtime_reconcile_total{controller="ecsservice",result="requeue_after"} 1"#,
            r#"controller_runtime_reconcile_total{controller="ecsservice",result="error"} 2"#,
            r#"controller_runtime_reconcile_total{controller="ecsservice",result="success"} 1"#,
            r#"controller_runtime_reconcile_total{controller="ecsservice",result="requeue"} 0"#,
            r#"controller_runtime_reconcile_errors_total{controller="ecsservice"} 2"#,
            r#"controller_runtime_reconcile_time_seconds_count{controller="ecsservice"} 4"#,
            r#"controller_runtime_reconcile_time_seconds_bucket{le="60.0",controller="ecsservice"} 4"#,
            r#"controller_runtime_max_concurrent_reconciles{controller="ecsservice"} 8"#,
            r#"controller_runtime_active_workers{controller="ecsservice"} 0"#,
            r#"workqueue_adds_total{name="ecsservice",controller="ecsservice"} 5"#,
            r#"workqueue_retries_total{name="ecsservice",controller="ecsservice"} 2"#,
            r#"workqueue_depth{name="ecsservice",controller="ecsservice"} 0"#,
            r#"workqueue_work_duration_seconds_count{name="ecsservice",controller="ecsservice"} 4"#,
            // The first start waited since the watch event, the two next since their
            // requeues (here at once), the last had no request seen.
            r#"workqueue_queue_duration_seconds_count{name="ecsservice",controller="ecsservice"} 3"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(!text.contains("ecs_operator_controller_runtime"), "{text}");
        assert!(!text.contains("ecs_operator_workqueue"), "{text}");
    }

    /// Names of the samples in `text` (Prometheus text format), and of its histograms
    /// (as the dashboard's descriptions name them).
    fn sample_names(text: &str) -> std::collections::BTreeSet<String> {
        let histograms = text.lines().filter_map(|l| {
            l.strip_prefix("# TYPE ")?
                .strip_suffix(" histogram")
                .map(str::to_string)
        });
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
            .chain(histograms)
            .collect()
    }

    /// Our metric names mentioned in `text`: words starting with one of our prefixes.
    fn referenced_names(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let bytes = text.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        while i < bytes.len() {
            if word(bytes[i]) && (i == 0 || !word(bytes[i - 1])) {
                let end = (i..bytes.len())
                    .find(|&j| !word(bytes[j]))
                    .unwrap_or(bytes.len());
                let w = &text[i..end];
                if ["ecs_operator_", "controller_runtime_", "workqueue_"]
                    .iter()
                    .any(|p| w.starts_with(p))
                {
                    names.insert(w.to_string());
                }
                i = end;
            } else {
                i += 1;
            }
        }
        names
    }

    /// Every family with one series, as a running operator has them (and the limiter
    /// they sample, which must live).
    fn touched() -> (Metrics, Arc<RateLimiter>) {
        let m = Metrics::default();
        m.controller_started("EcsService", 4);
        m.reconcile_requested("EcsService", Some("a"), "b");
        m.reconcile_started("EcsService", Some("a"), "b")
            .finish(true, Some(&Action::requeue(Duration::from_secs(1))));
        m.reconciles
            .get_or_create(&KindLabels { kind: "EcsService" })
            .inc();
        m.reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: "EcsService",
                error: "conflict",
            })
            .inc();
        m.reconcile_duration
            .get_or_create(&KindLabels { kind: "EcsService" })
            .observe(0.1);
        let op = OperationLabels {
            operation: "ecs:CreateService",
        };
        m.aws_calls
            .get_or_create(&AwsCallLabels {
                operation: "ecs:CreateService",
                outcome: "throttled",
            })
            .inc();
        m.aws_throttles.get_or_create(&op).inc();
        m.rate_limit_wait.get_or_create(&op).observe(0.0);
        let limiter = Arc::new(RateLimiter::new(0.8));
        m.track_limiter(&limiter);
        m.aws_bucket_throttles
            .get_or_create(&BucketLabels {
                bucket: "ecs_service_modify",
            })
            .inc();
        m.drift_corrections
            .get_or_create(&DriftLabels {
                kind: "EcsService",
                resource: "ecs_service",
                field: "desiredCount",
            })
            .inc();
        let (reader, _writer) = reflector::store::<EcsService>();
        m.count_objects(reader);
        (m, limiter)
    }

    #[test]
    fn every_family_is_exposed_under_its_name() {
        let (m, _limiter) = touched();
        let names = sample_names(&m.encode().unwrap());
        let expected = [
            "ecs_operator_reconciles_total",
            "ecs_operator_reconcile_errors_total",
            "ecs_operator_reconcile_duration_seconds_bucket",
            "ecs_operator_reconcile_duration_seconds_sum",
            "ecs_operator_reconcile_duration_seconds_count",
            "ecs_operator_aws_calls_total",
            "ecs_operator_aws_throttles_total",
            "ecs_operator_aws_rate_limit_wait_seconds_bucket",
            "ecs_operator_aws_bucket_calls_total",
            "ecs_operator_aws_bucket_throttles_total",
            "ecs_operator_aws_bucket_tokens",
            "ecs_operator_aws_bucket_capacity",
            "ecs_operator_aws_bucket_refill_per_second",
            "ecs_operator_drift_corrections_total",
            "ecs_operator_objects",
            "controller_runtime_reconcile_total",
            "controller_runtime_reconcile_errors_total",
            "controller_runtime_reconcile_time_seconds_bucket",
            "controller_runtime_reconcile_time_seconds_sum",
            "controller_runtime_reconcile_time_seconds_count",
            "controller_runtime_max_concurrent_reconciles",
            "controller_runtime_active_workers",
            "workqueue_depth",
            "workqueue_adds_total",
            "workqueue_queue_duration_seconds_bucket",
            "workqueue_work_duration_seconds_bucket",
            "workqueue_unfinished_work_seconds",
            "workqueue_longest_running_processor_seconds",
            "workqueue_retries_total",
        ];
        for name in expected {
            assert!(
                names.contains(name),
                "{name} not exposed; exposed: {names:?}"
            );
        }
    }

    #[test]
    fn the_dashboard_and_the_alerts_query_only_exposed_metrics() {
        let (m, _limiter) = touched();
        let exposed = sample_names(&m.encode().unwrap());
        for (file, text) in [("dashboard", DASHBOARD), ("PrometheusRule", RULES)] {
            let referenced = referenced_names(text);
            assert!(referenced.len() >= 5, "{file}: {referenced:?}");
            let unknown: Vec<_> = referenced.difference(&exposed).collect();
            assert!(
                unknown.is_empty(),
                "{file} queries {unknown:?}, not exposed"
            );
        }
    }
}
