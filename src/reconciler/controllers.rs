//! Wiring: one controller per kind (and watched namespace), and the changes carried between
//! kinds (EcsTaskDef → EcsService, EcsCluster → EcsService) from the same watches.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::Api;
use kube::runtime::controller::{self, Config as ControllerConfig};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::{Resource, ResourceExt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::context::Context;
use super::error::Error;
use super::generic::{error_policy, reconcile};
use super::managed::ManagedResource;
use super::shards::Shards;
use super::sweep;
use crate::api::common::GROUP;
use crate::api::{EcsCluster, EcsService, EcsTaskDef};
use crate::telemetry::metrics::Metrics;

/// Hash of what should trigger a reconcile of an object of our own kinds: spec changes
/// (generation), deletion, and our annotations — not our own status writes.
pub fn trigger_hash<K: Resource>(obj: &K) -> u64 {
    let meta = obj.meta();
    let mut h = DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.deletion_timestamp.is_some().hash(&mut h);
    let prefix = format!("{GROUP}/");
    if let Some(annotations) = &meta.annotations {
        for (k, v) in annotations.iter().filter(|(k, _)| k.starts_with(&prefix)) {
            (k, v).hash(&mut h);
        }
    }
    h.finish()
}

/// Drop what the operator never reads from an object it caches: `managedFields` and
/// kubectl's copy of the last applied manifest are most of a small object's size, and the
/// stores hold every object for the life of the process.
pub fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a service reads from an EcsTaskDef: its latest revision and whether it is Ready
/// for its generation. Its other conditions move on the way there; waking its services
/// for each would only have them wait again (10 services each, at 1,000 task definitions).
fn task_def_hash(td: &EcsTaskDef) -> u64 {
    let mut h = DefaultHasher::new();
    td.metadata.generation.hash(&mut h);
    if let Some(s) = &td.status {
        s.task_definition_arn.hash(&mut h);
        s.common
            .conditions
            .iter()
            .any(|c| {
                c.type_ == "Ready"
                    && c.status == "True"
                    && c.observed_generation == td.metadata.generation
            })
            .hash(&mut h);
    }
    h.finish()
}

/// What a service reads from an EcsCluster: its ARN, the ECS cluster's status and (for a
/// status written before that was recorded) readiness.
fn cluster_hash(c: &EcsCluster) -> u64 {
    let mut h = DefaultHasher::new();
    c.metadata.deletion_timestamp.is_some().hash(&mut h);
    c.metadata.generation.hash(&mut h);
    if let Some(s) = &c.status {
        s.cluster_arn.hash(&mut h);
        s.cluster_status.hash(&mut h);
        for cond in s.common.conditions.iter().filter(|c| c.type_ == "Ready") {
            (&cond.status, cond.observed_generation).hash(&mut h);
        }
    }
    h.finish()
}

/// Services in `store` that reference the EcsTaskDef `td`.
pub fn services_using_task_def(
    services: &[Arc<EcsService>],
    td: &EcsTaskDef,
) -> Vec<ObjectRef<EcsService>> {
    services
        .iter()
        .filter(|s| s.namespace() == td.namespace())
        .filter(|s| {
            s.spec
                .task_def_ref
                .as_ref()
                .is_some_and(|r| r.name == td.name_any())
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Services in `store` that reference the EcsCluster `cluster`.
pub fn services_in_cluster(
    services: &[Arc<EcsService>],
    cluster: &EcsCluster,
) -> Vec<ObjectRef<EcsService>> {
    services
        .iter()
        .filter(|s| s.namespace() == cluster.namespace())
        .filter(|s| {
            s.spec
                .cluster_ref
                .as_ref()
                .is_some_and(|r| r.name == cluster.name_any())
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn api_for<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Called with each watch event of a kind and the objects its store holds because of it
/// (see [`Settled`]).
type AfterStore<K> = Box<dyn FnMut(&watcher::Event<K>, &[Arc<K>]) + Send>;

fn controller_for<K: ManagedResource>(
    client: &kube::Client,
    namespace: Option<&str>,
    concurrency: u16,
    metrics: &Metrics,
    shards: &Arc<Shards>,
    mut after_store: Option<AfterStore<K>>,
) -> (Controller<K>, Store<K>) {
    let (reader, writer) = reflector::store();
    let m = metrics.clone();
    let store = reader.clone();
    let mut settled = Settled::new();
    let mut changed = Changed::new(trigger_hash::<K>);
    // The controller is triggered by objects as its store holds them: kube-rs drops a
    // request for an object its store lacks, which an object first seen in a relist's
    // pages would be until the list is whole.
    let triggers = watcher(
        api_for::<K>(client, namespace),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(slim::<K>)
    // `reflect` writes each event to the store before passing it on.
    .reflect(writer)
    .filter_map(move |event| {
        let due = match event {
            Ok(event) => {
                let held = settled.take(&event, &store);
                if let Some(f) = after_store.as_mut() {
                    f(&event, &held)
                }
                changed.among(&event, &held)
            }
            Err(e) => {
                warn!(kind = K::KIND, error = %e, "watch failed; retried with backoff");
                Vec::new()
            }
        };
        futures::future::ready(Some(futures::stream::iter(due)))
    })
    .flatten()
    .inspect(move |o| m.reconcile_requested(K::KIND, o.namespace().as_deref(), &o.name_any()));
    let controller = Controller::for_shared_stream(triggers, reader.clone())
        .with_config(ControllerConfig::default().concurrency(concurrency));
    metrics.controller_started(K::KIND, concurrency);
    let shards = shards.clone();
    metrics.count_objects_where(reader.clone(), move |o: &K| {
        shards.owns(&o.namespace().unwrap_or_default())
    });
    (controller, reader)
}

/// The objects of a kind's watch events that its store holds once the event is written:
/// an applied object at once, an initial list's (or relist's) only when it is whole, since
/// the store swaps a list in at its end. Read from the store, not copied.
struct Settled<K: Resource<DynamicType = ()>> {
    listing: Vec<ObjectRef<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Settled<K> {
    fn new() -> Self {
        Settled {
            listing: Vec::new(),
        }
    }

    /// The objects `event`, just written to `store`, leaves there.
    fn take(&mut self, event: &watcher::Event<K>, store: &Store<K>) -> Vec<Arc<K>> {
        match event {
            watcher::Event::Apply(o) => store.get(&ObjectRef::from_obj(o)).into_iter().collect(),
            watcher::Event::Init => {
                self.listing.clear();
                Vec::new()
            }
            watcher::Event::InitApply(o) => {
                self.listing.push(ObjectRef::from_obj(o));
                Vec::new()
            }
            watcher::Event::InitDone => std::mem::take(&mut self.listing)
                .iter()
                .filter_map(|r| store.get(r))
                .collect(),
            watcher::Event::Delete(_) => Vec::new(),
        }
    }
}

/// Which objects changed in what their dependants read (`hash`) since last seen.
struct Changed<K: Resource<DynamicType = ()>> {
    hash: fn(&K) -> u64,
    seen: HashMap<ObjectRef<K>, u64>,
}

impl<K: Resource<DynamicType = ()>> Changed<K> {
    fn new(hash: fn(&K) -> u64) -> Self {
        Changed {
            hash,
            seen: HashMap::new(),
        }
    }

    /// Of `held` (what `event` left in the store), the objects that differ from when last
    /// seen (a first sighting is a change). A deleted object is forgotten, so that one
    /// created under its name counts as new.
    fn among(&mut self, event: &watcher::Event<K>, held: &[Arc<K>]) -> Vec<Arc<K>> {
        if let watcher::Event::Delete(o) = event {
            self.seen.remove(&ObjectRef::from_obj(o));
        }
        held.iter()
            .filter(|o| {
                let h = (self.hash)(o);
                self.seen.insert(ObjectRef::from_obj(o.as_ref()), h) != Some(h)
            })
            .cloned()
            .collect()
    }
}

/// Wake the services that read an object of kind `K` (`dependants`) when what they read of
/// it (`hash`) changes — only once the kind's store holds the change, or they would read
/// the old object and wait a whole resync period for nothing.
fn wake_dependants<K>(
    hash: fn(&K) -> u64,
    dependants: impl Fn(&K) -> Vec<ObjectRef<EcsService>> + Send + 'static,
    wake: mpsc::UnboundedSender<ObjectRef<EcsService>>,
) -> AfterStore<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + 'static,
{
    let mut changed = Changed::new(hash);
    Box::new(move |event, held| {
        for obj in changed.among(event, held) {
            for r in dependants(&obj) {
                // A closed channel means the controllers are stopping.
                let _ = wake.send(r);
            }
        }
    })
}

type Shutdown = futures::future::Shared<BoxFuture<'static, ()>>;

/// Whether the controller of a watched scope (one namespace, or all when `None`) holds
/// objects of `namespace`.
fn scope_holds(scope: Option<&str>, namespace: Option<&str>) -> bool {
    scope.is_none_or(|s| namespace == Some(s))
}

/// Senders of reconcile requests into one watched scope's three controllers.
struct ScopeTriggers {
    scope: Option<String>,
    clusters: mpsc::UnboundedSender<ObjectRef<EcsCluster>>,
    task_defs: mpsc::UnboundedSender<ObjectRef<EcsTaskDef>>,
    services: mpsc::UnboundedSender<ObjectRef<EcsService>>,
}

/// A stream of the requests sent to `rx`, each recorded as a reconcile request.
fn requests<K: ManagedResource>(
    rx: mpsc::UnboundedReceiver<ObjectRef<K>>,
    metrics: &Metrics,
) -> impl futures::Stream<Item = ObjectRef<K>> + Send + 'static {
    let m = metrics.clone();
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) }).inspect(
        move |r: &ObjectRef<K>| m.reconcile_requested(K::KIND, r.namespace.as_deref(), &r.name),
    )
}

/// Send `objs` of `shard` to the scopes that hold them.
fn request_shard<K: ManagedResource>(
    ctx: &Context,
    shard: u32,
    objs: &[Arc<K>],
    sender: impl Fn(&ScopeTriggers) -> &mpsc::UnboundedSender<ObjectRef<K>>,
    scopes: &[ScopeTriggers],
) -> usize {
    let mut sent = 0;
    for obj in objs {
        let ns = obj.namespace();
        if ctx.shards.shard_of(ns.as_deref().unwrap_or_default()) != shard {
            continue;
        }
        for scope in scopes
            .iter()
            .filter(|s| scope_holds(s.scope.as_deref(), ns.as_deref()))
        {
            if sender(scope)
                .send(ObjectRef::from_obj(obj.as_ref()))
                .is_ok()
            {
                sent += 1;
            }
        }
    }
    sent
}

/// Reconcile every object of each shard as this replica acquires it: until then its
/// reconciles did nothing, and nothing else would bring them back.
async fn reconcile_acquired_shards(
    ctx: Arc<Context>,
    mut acquired: mpsc::UnboundedReceiver<u32>,
    scopes: Vec<ScopeTriggers>,
    shutdown: Shutdown,
) {
    loop {
        let shard = tokio::select! {
            s = acquired.recv() => match s {
                Some(s) => s,
                None => return,
            },
            _ = shutdown.clone() => return,
        };
        // The caches may still be loading right after start; the shard's objects must
        // not be missed because of it.
        let (clusters, task_defs, services) = loop {
            let all = (
                ctx.stores.all_clusters(),
                ctx.stores.all_task_defs(),
                ctx.stores.all_services(),
            );
            if let (Ok(c), Ok(t), Ok(s)) = all {
                break (c, t, s);
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {},
                _ = shutdown.clone() => return,
            }
        };
        let n = request_shard(&ctx, shard, &clusters, |s| &s.clusters, &scopes)
            + request_shard(&ctx, shard, &task_defs, |s| &s.task_defs, &scopes)
            + request_shard(&ctx, shard, &services, |s| &s.services, &scopes);
        info!(
            shard,
            objects = n,
            "reconciling the objects of an acquired shard"
        );
    }
}

async fn drive<K: ManagedResource>(
    controller: Controller<K>,
    ctx: Arc<Context>,
    shutdown: Shutdown,
) {
    let metrics = ctx.metrics.clone();
    let policy = |obj: Arc<K>, err: &Error, ctx: Arc<Context>| {
        let (ns, name) = (obj.namespace(), obj.name_any());
        let action = error_policy(obj, err, ctx.clone());
        ctx.metrics
            .reconcile_requeued(K::KIND, ns.as_deref(), &name, &action);
        action
    };
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, policy, ctx)
        .for_each(|res| {
            if let Err(controller::Error::ObjectNotFound(r)) = &res {
                metrics.reconcile_dropped(K::KIND, r.namespace.as_deref(), &r.name);
            }
            async move {
                if let Err(e) = res {
                    warn!(kind = K::KIND, error = %e, "controller error");
                }
            }
        })
        .await;
}

/// Run the three controllers for `namespaces` (all namespaces when empty) until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    namespaces: Vec<String>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown: Shutdown = shutdown.boxed().shared();
    // Only now (leadership acquired, if elected) is this process the only writer.
    let _ = ctx.writer_since.set(tokio::time::Instant::now());
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.into_iter().map(Some).collect()
    };
    let mut tasks = Vec::new();
    let mut wake_senders = Vec::new();
    let mut shard_triggers = Vec::new();
    let scopes_started = scopes.len();
    for ns in scopes {
        let client = &ctx.client;
        let ns = ns.as_deref();
        let m = &ctx.metrics;
        let (services, service_store) =
            controller_for::<EcsService>(client, ns, concurrency, m, &ctx.shards, None);
        // Services waiting for their EcsCluster or EcsTaskDef are not polled: these wake them.
        let (dependants_tx, dependants_rx) = mpsc::unbounded_channel();
        let store = service_store.clone();
        let wake_on_task_def = wake_dependants(
            task_def_hash,
            move |td| services_using_task_def(&store.state(), td),
            dependants_tx.clone(),
        );
        let store = service_store.clone();
        let wake_on_cluster = wake_dependants(
            cluster_hash,
            move |c| services_in_cluster(&store.state(), c),
            dependants_tx,
        );
        let (clusters, cluster_store) = controller_for::<EcsCluster>(
            client,
            ns,
            concurrency,
            m,
            &ctx.shards,
            Some(wake_on_cluster),
        );
        let (task_defs, task_def_store) = controller_for::<EcsTaskDef>(
            client,
            ns,
            concurrency,
            m,
            &ctx.shards,
            Some(wake_on_task_def),
        );
        ctx.stores.add_clusters(cluster_store);
        ctx.stores.add_task_defs(task_def_store);
        ctx.stores.add_services(service_store);
        // Rollouts the bulk sweep sees moving are reconciled at once.
        let (wake_tx, wake_rx) = tokio::sync::mpsc::channel(1024);
        wake_senders.push((ns.map(str::to_string), wake_tx));
        let woken =
            futures::stream::unfold(
                wake_rx,
                |mut rx| async move { rx.recv().await.map(|r| (r, rx)) },
            );
        let m3 = ctx.metrics.clone();
        let woken = woken.inspect(move |r: &ObjectRef<EcsService>| {
            m3.reconcile_requested(EcsService::KIND, r.namespace.as_deref(), &r.name)
        });
        let (cluster_tx, cluster_rx) = mpsc::unbounded_channel();
        let (task_def_tx, task_def_rx) = mpsc::unbounded_channel();
        let (service_tx, service_rx) = mpsc::unbounded_channel();
        shard_triggers.push(ScopeTriggers {
            scope: ns.map(str::to_string),
            clusters: cluster_tx,
            task_defs: task_def_tx,
            services: service_tx,
        });
        let clusters = clusters.reconcile_on(requests(cluster_rx, &ctx.metrics));
        let task_defs = task_defs.reconcile_on(requests(task_def_rx, &ctx.metrics));
        let services = services
            .reconcile_on(woken)
            .reconcile_on(requests(dependants_rx, &ctx.metrics))
            .reconcile_on(requests(service_rx, &ctx.metrics));
        tasks.push(drive(clusters, ctx.clone(), shutdown.clone()).boxed());
        tasks.push(drive(task_defs, ctx.clone(), shutdown.clone()).boxed());
        tasks.push(drive(services, ctx.clone(), shutdown.clone()).boxed());
    }
    tasks.push(sweep::run(ctx.clone(), wake_senders, shutdown.clone()).boxed());
    if let Some(acquired) = ctx.shards.take_acquired() {
        tasks.push(
            reconcile_acquired_shards(ctx.clone(), acquired, shard_triggers, shutdown.clone())
                .boxed(),
        );
    }
    info!(controllers = scopes_started * 3, "controllers started");
    futures::future::join_all(tasks).await;
    info!("controllers stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::{EcsServiceSpec, LocalRef, TaskDefRef};
    use crate::api::task_def::EcsTaskDefSpec;

    fn service(ns: &str, name: &str, td: &str, cluster: &str) -> Arc<EcsService> {
        let mut s = EcsService::new(
            name,
            EcsServiceSpec {
                task_def_ref: Some(TaskDefRef {
                    name: td.into(),
                    revision: None,
                }),
                cluster_ref: Some(LocalRef {
                    name: cluster.into(),
                }),
                ..Default::default()
            },
        );
        s.metadata.namespace = Some(ns.into());
        Arc::new(s)
    }

    #[test]
    fn task_def_changes_map_to_the_services_that_use_it() {
        let services = vec![
            service("a", "s1", "web", "c"),
            service("a", "s2", "other", "c"),
            service("b", "s3", "web", "c"),
        ];
        let mut td = EcsTaskDef::new("web", EcsTaskDefSpec::default());
        td.metadata.namespace = Some("a".into());
        let refs = services_using_task_def(&services, &td);
        assert_eq!(refs, vec![ObjectRef::new("s1").within("a")]);
        let mut cluster = EcsCluster::new("c", Default::default());
        cluster.metadata.namespace = Some("b".into());
        assert_eq!(
            services_in_cluster(&services, &cluster),
            vec![ObjectRef::new("s3").within("b")]
        );
    }

    #[test]
    fn cached_objects_keep_what_the_reconcilers_read_only() {
        let mut s = EcsService::new("s", Default::default());
        s.metadata.managed_fields = Some(vec![Default::default()]);
        s.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{}".to_string()),
                ("ecsoperator.io/adopt".to_string(), "true".to_string()),
            ]
            .into(),
        );
        slim(&mut s);
        assert_eq!(s.metadata.managed_fields, None);
        assert_eq!(
            s.annotations().keys().collect::<Vec<_>>(),
            vec!["ecsoperator.io/adopt"]
        );
    }

    #[test]
    fn services_are_woken_by_what_they_read_of_a_task_definition_only() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
        let cond = |type_: &str, status: &str, generation: i64| Condition {
            type_: type_.into(),
            status: status.into(),
            observed_generation: Some(generation),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Default::default(),
            ),
            message: String::new(),
            reason: "Test".into(),
        };
        let mut td = EcsTaskDef::new("web", EcsTaskDefSpec::default());
        td.metadata.generation = Some(2);
        td.status = Some(Default::default());
        let start = task_def_hash(&td);
        fn conditions(td: &mut EcsTaskDef) -> &mut Vec<Condition> {
            &mut td.status.as_mut().expect("status").common.conditions
        }
        conditions(&mut td).push(cond("Reconciling", "True", 2));
        conditions(&mut td).push(cond("Ready", "False", 2));
        assert_eq!(
            task_def_hash(&td),
            start,
            "still not Ready: nothing to read"
        );
        conditions(&mut td)[1] = cond("Ready", "True", 1);
        assert_eq!(task_def_hash(&td), start, "Ready for an older generation");
        conditions(&mut td)[1] = cond("Ready", "True", 2);
        td.status.as_mut().expect("status").task_definition_arn = Some("arn:web:2".into());
        assert_ne!(task_def_hash(&td), start, "Ready with a revision");
    }

    fn td(name: &str, generation: i64) -> EcsTaskDef {
        let mut td = EcsTaskDef::new(name, EcsTaskDefSpec::default());
        td.metadata.namespace = Some("a".into());
        td.metadata.generation = Some(generation);
        td
    }

    /// Write each event to a store as the reflector does, and return, per event, the
    /// names of the objects `Settled` says the store holds because of it.
    fn settle(events: &[watcher::Event<EcsTaskDef>]) -> Vec<Vec<(String, i64)>> {
        let (reader, mut writer) = reflector::store();
        let mut settled = Settled::new();
        events
            .iter()
            .map(|e| {
                writer.apply_watcher_event(e);
                settled
                    .take(e, &reader)
                    .iter()
                    .map(|o| (o.name_any(), o.metadata.generation.unwrap_or(0)))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn objects_are_released_once_the_store_holds_them() {
        use watcher::Event::*;
        let held = settle(&[
            Init,
            InitApply(td("web", 1)),
            InitApply(td("api", 1)),
            InitDone,
            Apply(td("web", 2)),
            Delete(td("web", 2)),
            // A relist with an object new since the last list: not released before the
            // store has swapped it in (kube-rs would drop its request).
            Init,
            InitApply(td("api", 1)),
            InitApply(td("new", 1)),
            InitDone,
            // A relist interrupted by another starts over.
            Init,
            InitApply(td("gone", 1)),
            Init,
            InitApply(td("api", 3)),
            InitDone,
        ]);
        let none: Vec<(String, i64)> = Vec::new();
        let n = |name: &str, g: i64| (name.to_string(), g);
        assert_eq!(
            held,
            vec![
                none.clone(),
                none.clone(),
                none.clone(),
                vec![n("web", 1), n("api", 1)],
                vec![n("web", 2)],
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                vec![n("api", 1), n("new", 1)],
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                vec![n("api", 3)],
            ]
        );
    }

    #[test]
    fn dependants_are_woken_by_what_they_read_changing() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut hook = wake_dependants(
            task_def_hash,
            |td: &EcsTaskDef| vec![ObjectRef::new("s").within(&td.name_any())],
            tx,
        );
        let mut woken = || {
            let mut names = Vec::new();
            while let Ok(r) = rx.try_recv() {
                names.push(r.namespace.unwrap_or_default());
            }
            names
        };
        let held = |tds: &[EcsTaskDef]| tds.iter().cloned().map(Arc::new).collect::<Vec<_>>();
        hook(
            &watcher::Event::InitDone,
            &held(&[td("web", 1), td("api", 1)]),
        );
        assert_eq!(woken(), vec!["web", "api"], "first sightings");
        hook(&watcher::Event::Apply(td("web", 1)), &held(&[td("web", 1)]));
        assert!(woken().is_empty(), "nothing a service reads changed");
        hook(&watcher::Event::Apply(td("web", 2)), &held(&[td("web", 2)]));
        assert_eq!(woken(), vec!["web"]);
        // Deleted and created again under its name: new to its services.
        hook(&watcher::Event::Delete(td("web", 2)), &[]);
        hook(&watcher::Event::Apply(td("web", 2)), &held(&[td("web", 2)]));
        assert_eq!(woken(), vec!["web"]);
    }

    #[test]
    fn status_writes_do_not_trigger_but_spec_and_annotations_do() {
        let mut td = EcsTaskDef::new("web", EcsTaskDefSpec::default());
        td.metadata.generation = Some(1);
        let before = trigger_hash(&td);
        td.status = Some(Default::default());
        td.metadata.resource_version = Some("2".into());
        assert_eq!(trigger_hash(&td), before);
        td.metadata.annotations = Some(
            [(
                "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                "x".to_string(),
            )]
            .into(),
        );
        assert_eq!(trigger_hash(&td), before);
        td.metadata.annotations =
            Some([("ecsoperator.io/paused".to_string(), "true".to_string())].into());
        assert_ne!(trigger_hash(&td), before);
        let mut td2 = EcsTaskDef::new("web", EcsTaskDefSpec::default());
        td2.metadata.generation = Some(2);
        assert_ne!(trigger_hash(&td2), before);
    }
}
