//! Leader election on a coordination.k8s.io Lease, with client-go's semantics: only the
//! holder runs controllers and writes to AWS.
//!
//! - Expiry of another replica's lease is judged by this process's monotonic clock from
//!   when it last *saw the lease record change*, never by comparing the holder's
//!   `renewTime` (another host's wall clock) with ours.
//! - Every renewal attempt runs under a timeout; renewal must succeed within the renew
//!   deadline (shorter than the lease duration) or leadership is given up.
//! - AWS writes are fenced ([`WriteFence`]) at the instant the last successful renewal was
//!   sent plus the renew deadline, so a partitioned or frozen leader stops writing before
//!   any other replica can consider the lease expired.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::aws::fence::WriteFence;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long others wait, from when they see the lease change, before taking it.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up (< lease_duration).
    pub renew_deadline: Duration,
    /// Interval between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Check the ordering client-go requires: retry period < renew deadline < lease duration.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period >= self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// What a replica should do with a lease it just read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it.
    Acquire,
    /// Someone else holds a valid lease.
    Wait,
}

/// The parts of a lease record whose change proves its holder alive.
fn record_key(spec: &LeaseSpec) -> impl PartialEq {
    (
        spec.holder_identity.clone(),
        spec.renew_time.as_ref().map(|t| t.0),
        spec.acquire_time.as_ref().map(|t| t.0),
        spec.lease_transitions,
        spec.lease_duration_seconds,
    )
}

/// Whether `current` differs from the record seen before (so its observation time resets).
pub fn record_changed(previous: Option<&LeaseSpec>, current: Option<&LeaseSpec>) -> bool {
    match (previous, current) {
        (Some(p), Some(c)) => record_key(p) != record_key(c),
        (None, None) => false,
        _ => true,
    }
}

/// Decide from the lease record and how long ago (by our monotonic clock) we saw it change.
pub fn decide(
    spec: Option<&LeaseSpec>,
    identity: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> LeaseDecision {
    let Some(spec) = spec else {
        return LeaseDecision::Acquire;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == identity => LeaseDecision::Renew,
        None | Some("") => LeaseDecision::Acquire,
        Some(_) => {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(default_duration);
            if unchanged_for < duration {
                LeaseDecision::Wait
            } else {
                LeaseDecision::Acquire
            }
        }
    }
}

/// When a lease record was last seen to change, by this process's monotonic clock: what
/// [`decide`] needs to judge another holder's lease expired.
#[derive(Default)]
pub struct LeaseObserver {
    /// The lease record last read, and when (monotonic) it was first seen in that state.
    observed: Mutex<Option<(LeaseSpec, Instant)>>,
}

impl LeaseObserver {
    /// Remember `spec` as read at `now`; returns how long it has been unchanged.
    pub fn observe(&self, spec: Option<&LeaseSpec>, now: Instant) -> Duration {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let previous = observed.as_ref().map(|(s, _)| s);
        if record_changed(previous, spec) {
            *observed = spec.map(|s| (s.clone(), now));
        }
        observed
            .as_ref()
            .map_or(Duration::ZERO, |(_, at)| now.saturating_duration_since(*at))
    }
}

/// Holds or waits for the lease.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    fence: Arc<WriteFence>,
    observer: LeaseObserver,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
}

impl LeaderElector {
    /// An elector for `settings` that opens and closes `fence`.
    pub fn new(client: kube::Client, settings: LeaseSettings, fence: Arc<WriteFence>) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            fence,
            observer: LeaseObserver::default(),
            labels: Default::default(),
            annotations: Default::default(),
        }
    }

    /// Labels the Lease gets when this elector creates it (so a group of leases can be
    /// listed at once).
    pub fn with_labels(mut self, labels: std::collections::BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// Annotations set on the Lease with every acquire and renewal (so that others see
    /// how the current holder runs).
    pub fn with_annotations(
        mut self,
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Self {
        self.annotations = annotations;
        self
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The fence this elector opens and closes.
    pub fn fence(&self) -> &Arc<WriteFence> {
        &self.fence
    }

    /// What to do with the lease as just read (`None`: it does not exist), remembering
    /// when its record last changed.
    pub fn judge(&self, current: Option<&Lease>) -> LeaseDecision {
        let s = &self.settings;
        let spec = current.and_then(|l| l.spec.as_ref());
        let unchanged_for = self.observer.observe(spec, Instant::now());
        decide(spec, &s.identity, unchanged_for, s.lease_duration)
    }

    /// One attempt to acquire or renew. `Some(sent)` when we hold the lease afterwards,
    /// `sent` being when the attempt started (the holder's lease counts from no earlier).
    pub async fn try_acquire_or_renew(&self) -> Result<Option<Instant>, kube::Error> {
        let sent = Instant::now();
        let current = self.api.get_opt(&self.settings.name).await?;
        let decision = self.judge(current.as_ref());
        self.write(current, decision, sent).await
    }

    /// Carry out `decision` on the lease `current` as read (`None`: it does not exist):
    /// renew or take it, conditional on its resourceVersion so that a concurrent write by
    /// another replica makes this one fail. `Some(sent)` when we hold the lease afterwards;
    /// `sent` must be no later than when the read began.
    pub async fn write(
        &self,
        current: Option<Lease>,
        decision: LeaseDecision,
        sent: Instant,
    ) -> Result<Option<Instant>, kube::Error> {
        if decision == LeaseDecision::Wait {
            return Ok(None);
        }
        let now = jiff::Timestamp::now();
        let s = &self.settings;
        let current_spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let previous = current_spec.cloned().unwrap_or_default();
        let spec = LeaseSpec {
            holder_identity: Some(s.identity.clone()),
            lease_duration_seconds: i32::try_from(s.lease_duration.as_secs()).ok(),
            acquire_time: if decision == LeaseDecision::Renew {
                previous.acquire_time.clone()
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                previous.lease_transitions.unwrap_or(0)
                    + i32::from(decision == LeaseDecision::Acquire && current.is_some()),
            ),
            ..Default::default()
        };
        let result = match current {
            // resourceVersion makes the replace fail if another replica wrote in between.
            Some(mut lease) => {
                lease.spec = Some(spec.clone());
                if !self.annotations.is_empty() {
                    lease
                        .metadata
                        .annotations
                        .get_or_insert_with(Default::default)
                        .extend(self.annotations.clone());
                }
                self.api
                    .replace(&s.name, &PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(s.name.clone()),
                        labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                        annotations: (!self.annotations.is_empty())
                            .then(|| self.annotations.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec.clone()),
                };
                self.api
                    .create(&PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => {
                self.observer.observe(Some(&spec), sent);
                Ok(Some(sent))
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One attempt bounded by `limit`; `Ok(None)` when someone else holds the lease.
    async fn attempt(&self, limit: Duration) -> Result<Option<Instant>, String> {
        match tokio::time::timeout(limit, self.try_acquire_or_renew()).await {
            Ok(Ok(held)) => Ok(held),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer from the API server within {limit:?}")),
        }
    }

    /// Wait until this replica holds the lease; opens the write fence.
    pub async fn acquire(&self) {
        let s = &self.settings;
        loop {
            match self.attempt(s.renew_deadline).await {
                Ok(Some(sent)) => {
                    self.fence.extend_until(sent + s.renew_deadline);
                    info!(lease = %s.name, identity = %s.identity, "became leader");
                    return;
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "leader election: could not read or write the lease"),
            }
            tokio::time::sleep(s.retry_period).await;
        }
    }

    /// Keep renewing every retry period; returns (with the fence closed) when a renewal
    /// did not succeed within the renew deadline or another replica took the lease.
    pub async fn hold(&self) {
        let s = &self.settings;
        loop {
            tokio::time::sleep(s.retry_period).await;
            let cycle_deadline = Instant::now() + s.renew_deadline;
            loop {
                let left = cycle_deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.fence.close();
                    warn!("leader election: could not renew within the renew deadline");
                    return;
                }
                match self.attempt(left).await {
                    Ok(Some(sent)) => {
                        self.fence.extend_until(sent + s.renew_deadline);
                        break;
                    }
                    Ok(None) => {
                        self.fence.close();
                        warn!("leader election: another replica took the lease");
                        return;
                    }
                    Err(e) => {
                        warn!(error = %e, "leader election: renewal failed");
                        let left = cycle_deadline.saturating_duration_since(Instant::now());
                        tokio::time::sleep(s.retry_period.min(left)).await;
                    }
                }
            }
        }
    }

    /// Give the lease up on clean shutdown so another replica takes over at once. Writes
    /// are fenced first: nothing may reach AWS once another replica can lead.
    pub async fn release(&self) {
        self.fence.close();
        let release = async {
            let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else {
                return;
            };
            let ours = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(&self.settings.identity);
            if !ours {
                return;
            }
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
                spec.renew_time = None;
            }
            if let Err(e) = self
                .api
                .replace(&self.settings.name, &PostParams::default(), &lease)
                .await
            {
                warn!(error = %e, "could not release the lease");
            }
        };
        if tokio::time::timeout(self.settings.renew_deadline, release)
            .await
            .is_err()
        {
            warn!("could not release the lease in time; it will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                jiff::Timestamp::from_second(1_700_000_000 + renewed).expect("time"),
            )),
            ..Default::default()
        }
    }

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn lease_decisions_use_the_local_observation_time() {
        assert_eq!(decide(None, "a", Duration::ZERO, D), LeaseDecision::Acquire);
        assert_eq!(
            decide(Some(&lease(Some("a"), 0)), "a", Duration::from_secs(60), D),
            LeaseDecision::Renew
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 0)), "a", Duration::from_secs(3), D),
            LeaseDecision::Wait
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 0)), "a", Duration::from_secs(15), D),
            LeaseDecision::Acquire
        );
        assert_eq!(
            decide(Some(&lease(None, 0)), "a", Duration::ZERO, D),
            LeaseDecision::Acquire
        );
    }

    #[test]
    fn a_renewal_is_a_change_whatever_the_clocks_say() {
        // A holder whose wall clock is far behind ours still renews: the record changed.
        let before = lease(Some("b"), -3600);
        let after = lease(Some("b"), -3590);
        assert!(record_changed(Some(&before), Some(&after)));
        assert!(!record_changed(Some(&before), Some(&before.clone())));
        assert!(record_changed(None, Some(&before)));
        assert!(record_changed(Some(&before), None));
    }

    #[test]
    fn settings_follow_client_go_ordering() {
        let mut s = LeaseSettings {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        };
        assert!(s.validate().is_ok());
        s.renew_deadline = Duration::from_secs(15);
        assert!(s.validate().is_err());
        s.renew_deadline = Duration::from_secs(10);
        s.retry_period = Duration::from_secs(10);
        assert!(s.validate().is_err());
    }
}
