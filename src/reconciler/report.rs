//! How the corrections of one sync are reported, once, by the generic reconciler: the
//! user's spec edit (`Updated`) or drift (`DriftCorrected`, counted per field). Kinds only
//! return the [`Drift`] values; the wording and the counting live here.

use super::managed::Note;
use crate::planning::drift::{describe, truncate_bytes, Drift};
use crate::telemetry::metrics::{DriftLabels, Metrics};

/// Event reason of corrections that apply an edit of the spec.
pub const UPDATED: &str = "Updated";
/// Event reason of corrections of AWS resources something else changed.
pub const DRIFT_CORRECTED: &str = "DriftCorrected";
/// Kubernetes refuses Event notes longer than 1 KiB.
pub const MAX_NOTE_BYTES: usize = 1024;

/// The reason for corrections: a spec changed since its last reconciled generation is the
/// user's edit being applied; an unchanged spec means AWS moved away from it. Spec edits
/// are never drift.
pub fn change_reason(spec_changed: bool) -> &'static str {
    if spec_changed {
        UPDATED
    } else {
        DRIFT_CORRECTED
    }
}

/// The one Event for a sync's corrections, `None` when it made none.
pub fn correction_note(spec_changed: bool, drift: &[Drift]) -> Option<Note> {
    if drift.is_empty() {
        return None;
    }
    let lead = if spec_changed {
        "applied the spec"
    } else {
        "corrected drift"
    };
    let message = format!("{lead}: {}", describe(drift));
    Some(Note::normal(
        change_reason(spec_changed),
        truncate_bytes(&message, MAX_NOTE_BYTES),
    ))
}

/// The drift counter's series to increment, one per drifted field; none for a spec edit.
pub fn drift_labels(kind: &'static str, spec_changed: bool, drift: &[Drift]) -> Vec<DriftLabels> {
    if spec_changed {
        return Vec::new();
    }
    drift
        .iter()
        .map(|d| DriftLabels {
            kind,
            resource: d.resource.label(),
            field: d.field,
        })
        .collect()
}

/// Count the drift of a sync of a `kind` object and return its Event, if any.
pub fn report(
    metrics: &Metrics,
    kind: &'static str,
    spec_changed: bool,
    drift: &[Drift],
) -> Option<Note> {
    for labels in drift_labels(kind, spec_changed, drift) {
        metrics.drift_corrections.get_or_create(&labels).inc();
    }
    correction_note(spec_changed, drift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::drift::Resource;

    fn service_drift() -> Vec<Drift> {
        vec![
            Drift::new(Resource::EcsService, "desiredCount", "3", "2"),
            Drift::new(Resource::EcsService, "taskDefinition", "web:4", "web:5"),
        ]
    }

    #[test]
    fn nothing_corrected_nothing_reported() {
        assert_eq!(correction_note(false, &[]), None);
        assert_eq!(correction_note(true, &[]), None);
        assert!(drift_labels("EcsService", false, &[]).is_empty());
    }

    #[test]
    fn drift_is_one_event_naming_every_field_with_old_and_new_values() {
        assert_eq!(
            correction_note(false, &service_drift()),
            Some(Note::normal(
                "DriftCorrected",
                "corrected drift: ECS service desiredCount 3 → 2, taskDefinition web:4 → web:5"
            ))
        );
        assert_eq!(
            drift_labels("EcsService", false, &service_drift()),
            vec![
                DriftLabels {
                    kind: "EcsService",
                    resource: "ecs_service",
                    field: "desiredCount"
                },
                DriftLabels {
                    kind: "EcsService",
                    resource: "ecs_service",
                    field: "taskDefinition"
                },
            ]
        );
    }

    #[test]
    fn a_spec_edit_is_an_update_and_not_counted() {
        assert_eq!(
            correction_note(true, &service_drift()),
            Some(Note::normal(
                "Updated",
                "applied the spec: ECS service desiredCount 3 → 2, taskDefinition web:4 → web:5"
            ))
        );
        assert!(drift_labels("EcsService", true, &service_drift()).is_empty());
        assert_eq!(change_reason(true), "Updated");
        assert_eq!(change_reason(false), "DriftCorrected");
    }

    #[test]
    fn many_fields_stay_within_the_event_limit() {
        let fields: [&'static str; 4] = ["a", "b", "c", "d"];
        let drift: Vec<Drift> = (0..40)
            .map(|i| {
                Drift::new(
                    Resource::LoadBalancer,
                    fields[i % 4],
                    "→".repeat(200),
                    "y".repeat(200),
                )
            })
            .collect();
        let note = correction_note(false, &drift).expect("a note");
        assert!(
            note.message.len() <= MAX_NOTE_BYTES,
            "{}",
            note.message.len()
        );
        assert!(note
            .message
            .starts_with("corrected drift: load balancer a "));
    }

    #[test]
    fn report_counts_drift_only() {
        let m = Metrics::default();
        assert!(report(&m, "EcsService", true, &service_drift()).is_some());
        let desired_count = DriftLabels {
            kind: "EcsService",
            resource: "ecs_service",
            field: "desiredCount",
        };
        assert_eq!(m.drift_corrections.get_or_create(&desired_count).get(), 0);
        report(&m, "EcsService", false, &service_drift());
        report(&m, "EcsService", false, &service_drift()[..1]);
        assert_eq!(m.drift_corrections.get_or_create(&desired_count).get(), 2);
    }
}
