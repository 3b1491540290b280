//! The one reconcile every kind goes through: pause, finalizer, deletion policy,
//! dereference → sync, conditions, events, error treatment and backoff, status via
//! server-side apply. What to write and when to look again is decided in
//! [`super::outcome`]; this module only does the I/O.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{debug, info, warn, Instrument};

use super::conditions::{merge, Cond, READY, RECONCILING, SYNCED};
use super::context::{Context, FIELD_MANAGER};
use super::error::{Error, Treatment};
use super::managed::{
    spec_changed, AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness,
};
use super::outcome::{self, ObjectState, Outcome, Requeue};
use super::report::{self, MAX_NOTE_BYTES};
use crate::api::common::{DeletionPolicy, ADOPT_ANNOTATION, FINALIZER, PAUSED_ANNOTATION};
use crate::aws::priority::Priority;
use crate::planning::drift::truncate_bytes;
use crate::planning::ownership::owner_value;
use crate::telemetry::metrics::{ErrorLabels, KindLabels};

/// Kubernetes refuses Event actions longer than this many bytes.
const MAX_ACTION_BYTES: usize = 128;

/// Whether an annotation is set to "true".
pub fn annotation_true<K: Resource>(obj: &K, key: &str) -> bool {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Reconcile one object of kind `K`.
pub async fn reconcile<K: ManagedResource>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let labels = KindLabels { kind: K::KIND };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    let timer = ctx
        .metrics
        .reconcile_started(K::KIND, obj.namespace().as_deref(), &obj.name_any());
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any()
    );
    // AWS writes of this reconcile are fenced by the lease of the object's shard.
    let fence = ctx.shards.fence_for(&obj.namespace().unwrap_or_default());
    let result = crate::aws::fence::scoped(fence, reconcile_object(obj.as_ref(), &ctx))
        .instrument(span)
        .await;
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    // One count per reconcile: the step's own error, or else the write that failed after it.
    let error = match &result {
        Ok(step) => step.error,
        Err(e) => Some(e.metric_label()),
    };
    if let Some(error) = error {
        ctx.metrics
            .reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: K::KIND,
                error,
            })
            .inc();
    }
    timer.finish(
        error.is_some(),
        result.as_ref().ok().map(|step| &step.action),
    );
    result.map(|step| step.action)
}

/// Requeue policy when a Kubernetes write of the reconciler itself failed (the step's own
/// errors are handled, reported and backed off inside the reconcile).
pub fn error_policy<K: ManagedResource>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = backoff_key(obj.as_ref());
    let base = match err.treatment() {
        Treatment::Retry { base, .. } => base,
        Treatment::Stall { .. } | Treatment::Wait { .. } => std::time::Duration::from_secs(30),
    };
    let delay = ctx.backoff.failure(&key, base);
    warn!(kind = K::KIND, name = %obj.name_any(), error = %err, ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn backoff_key<K: ManagedResource>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::KIND,
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// How a reconcile ended: when to look again, and the error it handled, if any.
struct Step {
    action: Action,
    error: Option<&'static str>,
}

/// Since when this process is the only writer of the objects of `namespace`: the
/// controllers' start (after any leader election), or later, when its shard was acquired.
fn writer_since(ctx: &Context, namespace: &str) -> Option<tokio::time::Instant> {
    let started = ctx.writer_since.get().copied()?;
    match ctx.shards.fence_for(namespace) {
        Some(fence) => fence.open_since().map(|t| t.max(started)),
        None => Some(started),
    }
}

/// Whether another replica reconciles `obj` now (sharding: its shard is not held here).
/// Checked before the reconcile and again before each Kubernetes write, since a shard can
/// be released while a reconcile runs (its AWS writes are stopped by the shard's fence).
fn not_ours<K: ManagedResource>(obj: &K, ctx: &Context) -> bool {
    !ctx.shards.owns(&obj.namespace().unwrap_or_default())
}

/// The step of a reconcile left to the shard's owner: nothing to do here until the shard
/// is acquired, which reconciles all its objects.
fn leave_to_owner() -> Step {
    debug!("another replica holds this object's shard");
    Step {
        action: Action::await_change(),
        error: None,
    }
}

/// When the current spell of work began: the Reconciling condition's last transition to
/// True.
fn reconciling_since<K: ManagedResource>(obj: &K) -> Option<jiff::Timestamp> {
    current_condition(obj, RECONCILING)
        .filter(|c| c.status == "True")
        .map(|c| c.last_transition_time.0)
}

/// Time since `start` by the wall clock (zero when unknown or in the future).
fn since(start: Option<jiff::Timestamp>) -> std::time::Duration {
    start
        .and_then(|t| {
            let elapsed = jiff::Timestamp::now().duration_since(t);
            std::time::Duration::try_from(elapsed).ok()
        })
        .unwrap_or_default()
}

/// What the pure decisions need to know of the object.
fn object_state<K: ManagedResource>(obj: &K) -> ObjectState {
    let generation = obj.meta().generation;
    let observed_generation = obj.status().and_then(|s| s.common().observed_generation);
    let ready = current_condition(obj, READY);
    ObjectState {
        generation,
        observed_generation,
        ready_for_generation: ready
            .is_some_and(|c| c.status == "True" && c.observed_generation == generation),
        has_ready: ready.is_some(),
        rechecking: ready.is_none_or(|c| c.status != "True")
            && observed_generation == generation
            && current_condition(obj, SYNCED)
                .is_some_and(|c| c.status == "True" && c.observed_generation == generation),
    }
}

async fn reconcile_object<K: ManagedResource>(obj: &K, ctx: &Context) -> Result<Step, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = obj.common_spec();
    let state = object_state(obj);
    let key = backoff_key(obj);
    let deleting = obj.meta().deletion_timestamp.is_some();
    if not_ours(obj, ctx) {
        return Ok(leave_to_owner());
    }
    if deleting && !has_finalizer(obj) {
        return Ok(Step {
            action: Action::await_change(),
            error: None,
        });
    }
    if annotation_true(obj, PAUSED_ANNOTATION) {
        let action = apply(
            obj,
            ctx,
            &api,
            &key,
            outcome::paused(&state, deleting),
            None,
        )
        .await?;
        return Ok(Step {
            action,
            error: None,
        });
    }
    let region = spec
        .region()
        .map(str::to_string)
        .unwrap_or_else(|| ctx.aws.default_region());
    let aws_cx = AwsContext {
        aws: ctx.aws.clients(Some(&region)),
        owner: owner_value(&ctx.settings.cluster_id, &ns, K::KIND, &obj.name_any()),
        adopt: annotation_true(obj, ADOPT_ANNOTATION),
        cluster_id: ctx.settings.cluster_id.clone(),
        seen: ctx.observed.region(&region),
        // Deletions always read AWS: a stale view would only make them wait longer.
        trust_seen: !deleting
            && state.ready_for_generation
            && state.observed_generation == state.generation,
        // A sweep starts every resync period and records what it saw as of its start, so
        // its view of a resource is up to a period plus its own duration old when the next
        // one replaces it; at 10,000 services a sweep takes most of a period (its calls
        // are held to the background share), hence two and a half.
        seen_max_age: ctx.settings.resync_period * 5 / 2,
        // Re-checks come at least a poll interval apart: what is younger was read since.
        recheck_max_age: if !deleting && state.rechecking {
            ctx.settings.poll_interval
        } else {
            std::time::Duration::ZERO
        },
        writer_since: writer_since(ctx, &ns),
    };

    // The user's own changes go before resync work when AWS's buckets run short.
    let priority = Priority::of_reconcile(deleting, aws_cx.trust_seen);
    if deleting {
        return priority.scope(delete(obj, ctx, &api, &key, &aws_cx)).await;
    }

    if !has_finalizer(obj) {
        if not_ours(obj, ctx) {
            return Ok(leave_to_owner());
        }
        add_finalizer(obj, &api).await?;
    }
    let synced = match obj.dereference(&ctx.stores).await {
        Ok(deps) => priority.scope(obj.sync(&deps, &aws_cx)).await,
        Err(e) => Err(e),
    };
    match synced {
        Ok(synced) => {
            ctx.backoff.success(&key);
            let mut notes = synced.notes;
            // Reported here, once for every kind: the kinds only say what they corrected.
            notes.extend(report::report(
                &ctx.metrics,
                K::KIND,
                spec_changed(obj, state.observed_generation),
                &synced.drift,
            ));
            publish(ctx, obj, &notes).await;
            let working_for = since(reconciling_since(obj));
            let mut decided =
                outcome::synced(&synced.readiness, ctx.settings.resync_period, working_for);
            decided.conditions.extend(synced.conditions.iter().cloned());
            let action = apply(obj, ctx, &api, &key, decided, Some(synced.status)).await?;
            debug!(
                ready = matches!(synced.readiness, Readiness::Ready(_)),
                "reconciled"
            );
            Ok(Step {
                action,
                error: None,
            })
        }
        Err(e) => {
            let decided = outcome::failed(
                &state,
                e.treatment(),
                &e.to_string(),
                ctx.settings.resync_period,
            );
            // Waiting for another object is the normal course of a bulk apply: the
            // condition says it; a warning per retry would flood the log.
            if matches!(
                e,
                Error::WaitingForDependency(_) | Error::WaitingForObject(_)
            ) {
                debug!(error = %e, "waiting for a dependency");
            } else {
                warn!(error = %e, "reconcile failed");
            }
            let action = apply(obj, ctx, &api, &key, decided, None).await?;
            Ok(Step {
                action,
                error: Some(e.metric_label()),
            })
        }
    }
}

/// One deletion step: Retain, or the kind's cleanup until it is done.
async fn delete<K: ManagedResource>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    key: &str,
    aws_cx: &AwsContext,
) -> Result<Step, Error> {
    if obj.common_spec().deletion_policy() == DeletionPolicy::Retain {
        if not_ours(obj, ctx) {
            return Ok(leave_to_owner());
        }
        remove_finalizer(obj, api).await?;
        publish(
            ctx,
            obj,
            &[Note::normal(
                "Retained",
                "deletionPolicy is Retain: AWS resources left in place",
            )],
        )
        .await;
        return Ok(Step {
            action: Action::await_change(),
            error: None,
        });
    }
    let cleaned = match obj.cleanup_deps(&ctx.stores).await {
        Ok(deps) => obj.cleanup(&deps, aws_cx).await,
        Err(e) => Err(e),
    };
    match cleaned {
        Ok(Cleanup::Done(notes)) => {
            if not_ours(obj, ctx) {
                return Ok(leave_to_owner());
            }
            remove_finalizer(obj, api).await?;
            publish(ctx, obj, &notes).await;
            ctx.backoff.success(key);
            info!("AWS resources deleted, finalizer removed");
            Ok(Step {
                action: Action::await_change(),
                error: None,
            })
        }
        Ok(Cleanup::Waiting { message, notes }) => {
            // The step went through: earlier failures no longer count toward the backoff.
            ctx.backoff.success(key);
            publish(ctx, obj, &notes).await;
            let deleting_for = since(obj.meta().deletion_timestamp.as_ref().map(|t| t.0));
            let poll = outcome::recheck_delay(deleting_for, ctx.settings.poll_interval);
            let decided = outcome::deletion_waiting(&message, poll);
            let action = apply(obj, ctx, api, key, decided, None).await?;
            Ok(Step {
                action,
                error: None,
            })
        }
        Err(e) => {
            warn!(error = %e, "deletion step failed");
            let decided = outcome::deletion_failed(e.treatment(), &e.to_string());
            let action = apply(obj, ctx, api, key, decided, None).await?;
            Ok(Step {
                action,
                error: Some(e.metric_label()),
            })
        }
    }
}

/// Write what `decided` says, publish its warning once per distinct message, and turn its
/// requeue into an action (charging the object's backoff only once the write succeeded, so
/// a failed write is not counted twice).
async fn apply<K: ManagedResource>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    key: &str,
    decided: Outcome,
    status: Option<K::Status>,
) -> Result<Action, Error> {
    if not_ours(obj, ctx) {
        return Ok(leave_to_owner().action);
    }
    let repeated = decided.warning.as_ref().is_some_and(|(_, message)| {
        current_condition(obj, SYNCED).is_some_and(|c| c.message == *message)
    });
    write_conditions(
        obj,
        api,
        status,
        &decided.conditions,
        decided.advance_generation,
    )
    .await?;
    if let Some((reason, message)) = decided.warning.filter(|_| !repeated) {
        publish(ctx, obj, &[Note::warning(reason, message)]).await;
    }
    Ok(match decided.requeue {
        Requeue::After(d) => Action::requeue(d),
        Requeue::Backoff { base } => Action::requeue(ctx.backoff.failure(key, base)),
        Requeue::AwaitChange => Action::await_change(),
    })
}

fn current_condition<'a, K: ManagedResource>(
    obj: &'a K,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    obj.status()?
        .common()
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Write `status` (or the current status when `None`) with `conds` merged in, unless
/// nothing changed; observedGeneration moves to the object's generation only when
/// `advance_generation`.
async fn write_conditions<K: ManagedResource>(
    obj: &K,
    api: &Api<K>,
    status: Option<K::Status>,
    conds: &[Cond],
    advance_generation: bool,
) -> Result<(), Error> {
    let current = obj.status().cloned().unwrap_or_default();
    let mut next = status.unwrap_or_else(|| current.clone());
    let generation = obj.meta().generation;
    next.common_mut().conditions = merge(
        &current.common().conditions,
        conds,
        generation,
        &Time(jiff::Timestamp::now()),
    );
    next.common_mut().observed_generation = if advance_generation {
        generation
    } else {
        current.common().observed_generation
    };
    if next == current {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": next,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

async fn add_finalizer<K: ManagedResource>(obj: &K, api: &Api<K>) -> Result<(), Error> {
    let patch = match &obj.meta().finalizers {
        Some(f) if !f.is_empty() => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": f},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
        _ => serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
    };
    patch_json(obj, api, patch).await
}

async fn remove_finalizer<K: ManagedResource>(obj: &K, api: &Api<K>) -> Result<(), Error> {
    let Some(idx) = obj
        .meta()
        .finalizers
        .as_ref()
        .and_then(|f| f.iter().position(|x| x == FINALIZER))
    else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{idx}");
    let patch = serde_json::json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]);
    patch_json(obj, api, patch).await
}

async fn patch_json<K: ManagedResource>(
    obj: &K,
    api: &Api<K>,
    patch: serde_json::Value,
) -> Result<(), Error> {
    let patch: json_patch::Patch = serde_json::from_value(patch)?;
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(())
}

async fn publish<K: ManagedResource>(ctx: &Context, obj: &K, notes: &[Note]) {
    for note in notes {
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.to_string(),
            note: Some(truncate_bytes(&note.message, MAX_NOTE_BYTES)),
            // Recorder folds events with equal (reason, action) into one series and keeps
            // the first note, so the action carries the specifics. The API server counts
            // its 128 limit in bytes, and correction messages are full of `→`.
            action: truncate_bytes(&note.message, MAX_ACTION_BYTES),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(error = %e, "could not publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EcsTaskDef;
    use crate::aws::fake::FakeAws;
    use crate::reconciler::shards::Shards;
    use crate::telemetry::metrics::Metrics;

    /// A Kubernetes client whose every request fails: nothing listens on port 1.
    fn unreachable_client() -> kube::Client {
        // As main does: kube and the AWS SDK pull in different rustls backends.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("uri"));
        kube::Client::try_from(config).expect("client")
    }

    #[tokio::test]
    async fn objects_of_shards_not_held_are_left_to_their_owner() {
        let fake = FakeAws::new();
        let ctx = Context::new(
            unreachable_client(),
            Arc::new(fake.clone()),
            Default::default(),
            Metrics::default(),
        )
        .with_shards(Arc::new(Shards::sharded(4)));
        let ctx = Arc::new(ctx);
        let mut td = EcsTaskDef::new("web", Default::default());
        td.metadata.namespace = Some("team".into());
        td.metadata.generation = Some(1);
        // Ok: no Kubernetes request was made (each would fail), no finalizer, no status.
        let action = reconcile(Arc::new(td.clone()), ctx.clone())
            .await
            .expect("nothing written");
        assert_eq!(action, Action::await_change());
        // Nor is a deletion carried out by a replica not holding the shard.
        td.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        td.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
        let action = reconcile(Arc::new(td), ctx).await.expect("nothing written");
        assert_eq!(action, Action::await_change());
        assert!(fake.calls().is_empty(), "AWS calls: {:?}", fake.calls());
    }
}
