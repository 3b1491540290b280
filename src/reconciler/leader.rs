//! Leader election on a coordination.k8s.io Lease: only the holder runs controllers, so
//! two replicas never write to AWS at the same time.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::{info, warn};

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews (and others retry).
    pub renew_interval: Duration,
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

/// Decide from the lease's holder and last renewal.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: jiff::Timestamp) -> LeaseDecision {
    let Some(spec) = spec else {
        return LeaseDecision::Acquire;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == identity => LeaseDecision::Renew,
        None | Some("") => LeaseDecision::Acquire,
        Some(_) => {
            let duration = spec.lease_duration_seconds.unwrap_or(15) as i64;
            let renewed = spec
                .renew_time
                .as_ref()
                .or(spec.acquire_time.as_ref())
                .map(|t| t.0);
            match renewed {
                Some(t) if t + jiff::SignedDuration::from_secs(duration) > now => {
                    LeaseDecision::Wait
                }
                _ => LeaseDecision::Acquire,
            }
        }
    }
}

/// Holds or waits for the lease.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl LeaderElector {
    /// An elector for `settings`.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// One attempt to acquire or renew; true when we hold the lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let s = &self.settings;
        let current = self.api.get_opt(&s.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &s.identity,
            now,
        );
        if decision == LeaseDecision::Wait {
            return Ok(false);
        }
        let previous = current
            .as_ref()
            .and_then(|l| l.spec.clone())
            .unwrap_or_default();
        let spec = LeaseSpec {
            holder_identity: Some(s.identity.clone()),
            lease_duration_seconds: Some(s.lease_duration.as_secs() as i32),
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
                lease.spec = Some(spec);
                self.api
                    .replace(&s.name, &PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(s.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec),
                };
                self.api
                    .create(&PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Wait until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.settings.name, identity = %self.settings.identity, "became leader");
                    return;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election: could not read or write the lease"),
            }
            tokio::time::sleep(self.settings.renew_interval).await;
        }
    }

    /// Keep renewing; returns when the lease is lost (renewal impossible within the
    /// lease duration), after which this replica must stop writing.
    pub async fn hold(&self) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_interval).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!("leader election: another replica took the lease");
                    return;
                }
                Err(e) => warn!(error = %e, "leader election: renewal failed"),
            }
            // Stop before the lease can expire for the others, so two leaders never overlap.
            if last_renewed.elapsed() + self.settings.renew_interval >= self.settings.lease_duration
            {
                warn!("leader election: could not renew in time");
                return;
            }
        }
    }

    /// Give the lease up on clean shutdown so another replica takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await {
            let ours = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(&self.settings.identity);
            if ours {
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
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed_secs_ago: i64, now: jiff::Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                now - jiff::SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..Default::default()
        }
    }

    #[test]
    fn lease_decisions() {
        let now = jiff::Timestamp::now();
        assert_eq!(decide(None, "a", now), LeaseDecision::Acquire);
        assert_eq!(
            decide(Some(&lease(Some("a"), 3, now)), "a", now),
            LeaseDecision::Renew
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 3, now)), "a", now),
            LeaseDecision::Wait
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), 30, now)), "a", now),
            LeaseDecision::Acquire
        );
        assert_eq!(
            decide(Some(&lease(None, 3, now)), "a", now),
            LeaseDecision::Acquire
        );
    }
}
