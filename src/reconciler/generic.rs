//! The one reconcile every kind goes through: pause, finalizer, deletion policy,
//! dereference → sync, conditions, events, error treatment and backoff, status via
//! server-side apply.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{debug, info, warn, Instrument};

use super::conditions::{merge, Cond, READY, STALLED, SYNCED};
use super::context::{Context, FIELD_MANAGER};
use super::error::{Error, Treatment};
use super::managed::{AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness};
use crate::api::common::{DeletionPolicy, ADOPT_ANNOTATION, FINALIZER, PAUSED_ANNOTATION};
use crate::planning::ownership::owner_value;
use crate::telemetry::metrics::{ErrorLabels, KindLabels};

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
    let started = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any()
    );
    let result = reconcile_object(obj.as_ref(), &ctx).instrument(span).await;
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        ctx.metrics
            .reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: K::KIND,
                error: e.metric_label(),
            })
            .inc();
    }
    result
}

/// Requeue policy when writing status itself failed.
pub fn error_policy<K: ManagedResource>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = backoff_key(obj.as_ref());
    let base = match err.treatment() {
        Treatment::Retry { base, .. } => base,
        Treatment::Stall { .. } => std::time::Duration::from_secs(30),
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

async fn reconcile_object<K: ManagedResource>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = obj.common_spec();
    if annotation_true(obj, PAUSED_ANNOTATION) {
        let mut conds = vec![Cond::no(
            SYNCED,
            "Paused",
            "reconciliation is paused by the annotation ecsoperator.io/paused",
        )];
        if !has_condition(obj, READY) {
            conds.push(Cond::no(READY, "Paused", "reconciliation is paused"));
        }
        write_conditions(obj, &api, None, &conds).await?;
        return Ok(Action::await_change());
    }
    let aws_cx = AwsContext {
        aws: ctx.aws.clients(spec.region()),
        owner: owner_value(&ctx.settings.cluster_id, &ns, K::KIND, &obj.name_any()),
        adopt: annotation_true(obj, ADOPT_ANNOTATION),
        cluster_id: ctx.settings.cluster_id.clone(),
    };
    let key = backoff_key(obj);

    if obj.meta().deletion_timestamp.is_some() {
        if !has_finalizer(obj) {
            return Ok(Action::await_change());
        }
        if spec.deletion_policy() == DeletionPolicy::Retain {
            publish(
                ctx,
                obj,
                &[Note::normal(
                    "Retained",
                    "deletionPolicy is Retain: AWS resources left in place",
                )],
            )
            .await;
            remove_finalizer(obj, &api).await?;
            return Ok(Action::await_change());
        }
        let deps = match obj.cleanup_deps(&ctx.client).await {
            Ok(d) => d,
            Err(e) => return handle_error(obj, ctx, &api, &key, e).await,
        };
        return match obj.cleanup(&deps, &aws_cx).await {
            Ok(Cleanup::Done(notes)) => {
                publish(ctx, obj, &notes).await;
                remove_finalizer(obj, &api).await?;
                ctx.backoff.success(&key);
                info!("AWS resources deleted, finalizer removed");
                Ok(Action::await_change())
            }
            Ok(Cleanup::Waiting { message, notes }) => {
                publish(ctx, obj, &notes).await;
                let conds = [
                    Cond::no(READY, "Deleting", message.clone()),
                    Cond::no(SYNCED, "Deleting", message),
                    Cond::no(STALLED, "Deleting", ""),
                ];
                write_conditions(obj, &api, None, &conds).await?;
                Ok(Action::requeue(ctx.settings.poll_interval))
            }
            Err(e) => handle_error(obj, ctx, &api, &key, e).await,
        };
    }

    if !has_finalizer(obj) {
        add_finalizer(obj, &api).await?;
    }
    let deps = match obj.dereference(&ctx.client).await {
        Ok(d) => d,
        Err(e) => return handle_error(obj, ctx, &api, &key, e).await,
    };
    match obj.sync(&deps, &aws_cx).await {
        Ok(synced) => {
            ctx.backoff.success(&key);
            publish(ctx, obj, &synced.notes).await;
            let (ready, requeue) = match &synced.readiness {
                Readiness::Ready(msg) => (
                    Cond::yes(READY, "ReconcileSuccess", msg.clone()),
                    ctx.settings.resync_period,
                ),
                Readiness::NotReady {
                    reason,
                    message,
                    recheck,
                } => (Cond::no(READY, reason, message.clone()), *recheck),
            };
            let mut conds = vec![
                ready,
                Cond::yes(SYNCED, "ReconcileSuccess", "AWS matches the spec"),
                Cond::no(STALLED, "ReconcileSuccess", ""),
            ];
            conds.extend(synced.conditions.iter().cloned());
            write_conditions(obj, &api, Some(synced.status), &conds).await?;
            debug!(
                ready = matches!(synced.readiness, Readiness::Ready(_)),
                ?requeue,
                "reconciled"
            );
            Ok(Action::requeue(requeue))
        }
        Err(e) => handle_error(obj, ctx, &api, &key, e).await,
    }
}

async fn handle_error<K: ManagedResource>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    key: &str,
    err: Error,
) -> Result<Action, Error> {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            kind: K::KIND,
            error: err.metric_label(),
        })
        .inc();
    let message = err.to_string();
    let (conds, action) = match err.treatment() {
        Treatment::Stall { reason } => {
            warn!(error = %message, reason, "stalled until the object changes");
            (
                vec![
                    Cond::no(READY, reason, message.clone()),
                    Cond::no(SYNCED, reason, message.clone()),
                    Cond::yes(STALLED, reason, message.clone()),
                ],
                Action::await_change(),
            )
        }
        Treatment::Retry { reason, base } => {
            let delay = ctx.backoff.failure(key, base);
            warn!(error = %message, reason, ?delay, "will retry");
            let mut conds = vec![
                Cond::no(SYNCED, reason, message.clone()),
                Cond::no(STALLED, reason, ""),
            ];
            // A passing AWS hiccup does not make a running resource unready.
            if reason == "WaitingForDependency" || !condition_true(obj, READY) {
                conds.push(Cond::no(READY, reason, message.clone()));
            }
            (conds, Action::requeue(delay))
        }
    };
    let reason = conds[0].reason;
    let unchanged = current_condition(obj, SYNCED).is_some_and(|c| c.message == message);
    if !unchanged {
        publish(ctx, obj, &[Note::warning(reason, message)]).await;
    }
    write_conditions(obj, api, None, &conds).await?;
    Ok(action)
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

fn has_condition<K: ManagedResource>(obj: &K, type_: &str) -> bool {
    current_condition(obj, type_).is_some()
}

fn condition_true<K: ManagedResource>(obj: &K, type_: &str) -> bool {
    current_condition(obj, type_).is_some_and(|c| c.status == "True")
}

/// Write `status` (or the current status when `None`) with `conds` merged in, unless
/// nothing changed.
async fn write_conditions<K: ManagedResource>(
    obj: &K,
    api: &Api<K>,
    status: Option<K::Status>,
    conds: &[Cond],
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
    next.common_mut().observed_generation = generation;
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
            note: Some(note.message.chars().take(1000).collect()),
            // Recorder folds events with equal (reason, action) into one series and keeps
            // the first note, so the action carries the specifics.
            action: note.message.chars().take(128).collect(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(error = %e, "could not publish event");
        }
    }
}
