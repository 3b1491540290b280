//! What each kind implements for the generic reconciler: dereference (cached Kubernetes reads),
//! then sync (observe → create | update | nothing against AWS) or cleanup.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube::core::NamespaceResourceScope;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::conditions::Cond;
use super::error::Error;
use super::stores::Stores;
use crate::api::common::{CommonSpec, CommonStatus};
use crate::aws::observed::RegionCache;
use crate::aws::types::Tags;
use crate::aws::AwsClients;
use crate::planning::drift::Drift;
use crate::planning::ownership::{ownership, Ownership};

/// What a kind's AWS logic may use.
pub struct AwsContext {
    /// Clients for the object's region.
    pub aws: AwsClients,
    /// Owner tag value of the object.
    pub owner: String,
    /// Whether the object allows adopting unowned resources.
    pub adopt: bool,
    /// Owner tag values other objects of this management cluster would use start with this;
    /// used to say who owns a conflicting resource.
    pub cluster_id: String,
    /// What bulk sweeps and earlier writes saw in the object's region.
    pub seen: Arc<RegionCache>,
    /// Whether this reconcile is a resync of a converged generation, which may read what
    /// the last sweep saw instead of asking AWS (a spec change or a retry always asks).
    pub trust_seen: bool,
    /// How old a sweep's observation may be to be trusted.
    pub seen_max_age: Duration,
    /// On a re-check of work AWS is doing for a reconciled generation (a rollout): how old
    /// an observation may be to stand for a read, so one made since the last re-check (a
    /// peer's read that took this one along, a sweep) saves a call. Zero: always read.
    pub recheck_max_age: Duration,
    /// Since when this process is the only one writing this object's AWS resources (the
    /// controllers started, after any leader election): a listing of AWS taken after it
    /// sees every resource an earlier writer created. `None`: never rely on listings.
    pub writer_since: Option<tokio::time::Instant>,
}

impl AwsContext {
    /// A context that always asks AWS (tests, tools).
    pub fn new(aws: AwsClients, owner: String, adopt: bool, cluster_id: String) -> Self {
        Self {
            aws,
            owner,
            adopt,
            cluster_id,
            seen: Arc::default(),
            trust_seen: false,
            seen_max_age: Duration::ZERO,
            recheck_max_age: Duration::ZERO,
            writer_since: None,
        }
    }
}

impl AwsContext {
    /// Whether this reconcile re-checks work AWS is doing for a reconciled generation.
    pub fn rechecking(&self) -> bool {
        !self.recheck_max_age.is_zero()
    }

    /// What the sweeps (and reads of peers) saw, through `read`, on a resync of a converged
    /// generation or a re-check of AWS's work on a reconciled one: a spec change, a retry or
    /// a deletion always asks AWS.
    pub fn swept<T>(&self, read: impl FnOnce(&RegionCache, Duration) -> Option<T>) -> Option<T> {
        if self.trust_seen {
            read(&self.seen, self.seen_max_age)
        } else if !self.recheck_max_age.is_zero() {
            read(&self.seen, self.recheck_max_age)
        } else {
            None
        }
    }

    /// Check that an existing AWS resource carrying `tags` may be managed by this object:
    /// ours, or adoptable (noted as an Event); another owner's is a Conflict.
    pub fn claim(&self, what: &str, tags: &Tags, notes: &mut Vec<Note>) -> Result<(), Error> {
        match ownership(what, tags, &self.owner, self.adopt) {
            Ownership::Owned => Ok(()),
            Ownership::Adopt => {
                notes.push(Note::normal("Adopted", format!("adopted {what}")));
                Ok(())
            }
            Ownership::Conflict(m) => Err(Error::Conflict(m)),
        }
    }
}

/// A Kubernetes Event to publish about the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// CamelCase reason, e.g. Created, Updated, DriftCorrected.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
    /// Warning instead of Normal.
    pub warning: bool,
}

impl Note {
    /// A Normal event.
    pub fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            warning: false,
        }
    }
    /// A Warning event.
    pub fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            warning: true,
        }
    }
}

/// Whether the spec changed since the last fully reconciled generation.
pub fn spec_changed<K: kube::Resource>(obj: &K, observed_generation: Option<i64>) -> bool {
    observed_generation != obj.meta().generation
}

/// Whether the object is where its spec wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Converged; check again at the next resync.
    Ready(String),
    /// Not there yet (AWS is working on it); check again after `recheck`.
    NotReady {
        /// Ready condition reason.
        reason: &'static str,
        /// Ready condition message.
        message: String,
        /// When to look again.
        recheck: Duration,
    },
}

/// Result of a successful sync.
#[derive(Clone, Debug)]
pub struct Synced<S> {
    /// The kind-specific status (conditions are filled in by the generic reconciler).
    pub status: S,
    /// Ready or not.
    pub readiness: Readiness,
    /// Extra conditions of the kind (Progressing for services).
    pub conditions: Vec<Cond>,
    /// Events to publish.
    pub notes: Vec<Note>,
    /// The fields of owned AWS resources this sync set to the spec, with their old and
    /// new values: the generic reconciler reports them once, as the user's edit or as
    /// drift.
    pub drift: Vec<Drift>,
}

/// Result of a cleanup step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Every owned AWS resource is gone: the finalizer can go.
    Done(Vec<Note>),
    /// Waiting for AWS or for other objects; the message says for what.
    Waiting {
        /// What we are waiting for.
        message: String,
        /// Events to publish.
        notes: Vec<Note>,
    },
}

/// Status types give access to their common part.
pub trait HasCommonStatus {
    /// observedGeneration and conditions.
    fn common_mut(&mut self) -> &mut CommonStatus;
    /// observedGeneration and conditions.
    fn common(&self) -> &CommonStatus;
}

/// A kind the generic reconciler manages.
#[async_trait]
pub trait ManagedResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The status type.
    type Status: HasCommonStatus + Serialize + Default + Clone + Debug + PartialEq + Send + Sync;
    /// Other objects this one needs, read from Kubernetes before talking to AWS.
    type Deps: Send + Sync;
    /// What deletion needs from Kubernetes (resolved leniently: dependencies may be going).
    type CleanupDeps: Default + Send + Sync;

    /// Kind name, for owner tags, logs and metrics.
    const KIND: &'static str;

    /// The shared spec fields.
    fn common_spec(&self) -> &dyn CommonSpec;
    /// The current status, if any.
    fn status(&self) -> Option<&Self::Status>;

    /// Resolve the objects this one depends on, from the controllers' caches.
    async fn dereference(&self, stores: &Stores) -> Result<Self::Deps, Error>;
    /// Observe AWS, make the calls the plan asks for, report status.
    async fn sync(&self, deps: &Self::Deps, cx: &AwsContext)
        -> Result<Synced<Self::Status>, Error>;
    /// Resolve what deletion needs, from the controllers' caches.
    async fn cleanup_deps(&self, stores: &Stores) -> Result<Self::CleanupDeps, Error>;
    /// Delete the owned AWS resources, one step at a time.
    async fn cleanup(&self, deps: &Self::CleanupDeps, cx: &AwsContext) -> Result<Cleanup, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EcsService;

    #[test]
    fn the_spec_changed_until_its_generation_is_reconciled() {
        let mut s = EcsService::new("s", Default::default());
        s.metadata.generation = Some(3);
        assert!(spec_changed(&s, Some(2)));
        assert!(spec_changed(&s, None));
        assert!(!spec_changed(&s, Some(3)));
    }
}
