//! Sharding across replicas (`--shards N`): objects are split into N shards by a stable
//! hash of their namespace (references between objects never leave a namespace, so an
//! EcsService always lands on the shard of its EcsCluster and EcsTaskDef), and each shard
//! is a coordination.k8s.io Lease held with the leader election's semantics
//! ([`super::leader`]). Every replica watches every object but reconciles — writes to AWS,
//! to status, to finalizers — only those of the shards it holds, each shard's AWS writes
//! fenced by its own [`WriteFence`].
//!
//! Replicas announce themselves with a membership Lease each, renewed on the same period;
//! a replica takes its fair share of the shards (N divided by the live members, the
//! remainder going to the first identities in order), takes free or expired shard leases
//! while below it, and releases the excess — fence first — while above it, so a joining
//! replica gets shards and a dead one's are taken over once its leases expire.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::leader::{decide, LeaderElector, LeaseDecision, LeaseObserver, LeaseSettings};
use crate::aws::fence::WriteFence;
use crate::telemetry::metrics::Metrics;

/// Label naming the group (`--leader-election-id`) a Lease belongs to.
pub const LEASE_GROUP_LABEL: &str = "ecsoperator.io/lease-group";
/// Label telling shard Leases (`shard`) from membership Leases (`member`).
pub const LEASE_ROLE_LABEL: &str = "ecsoperator.io/lease-role";

/// Annotation on every shard and membership Lease, written with each acquire and
/// renewal: the `--shards` its holder runs with.
pub const SHARDS_ANNOTATION: &str = "ecsoperator.io/shards";

/// Labels of a Lease of the group `id` in `role` (`shard`, `member`).
pub fn group_labels(id: &str, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LEASE_GROUP_LABEL.to_string(), id.to_string()),
        (LEASE_ROLE_LABEL.to_string(), role.to_string()),
    ])
}

/// Annotations of every Lease written by a replica running with `shards`.
pub fn mode_annotations(shards: u32) -> BTreeMap<String, String> {
    BTreeMap::from([(SHARDS_ANNOTATION.to_string(), shards.to_string())])
}

/// The `--shards` of the holder of `lease`; a Lease without the annotation is the leader
/// election Lease: 1.
pub fn holder_shards(lease: &Lease) -> u32 {
    lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SHARDS_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Whether someone holds the lease `spec`, seen unchanged for `unchanged_for` by our
/// clock ([`decide`]'s rules, for any holder).
pub fn held_by_anyone(
    spec: Option<&LeaseSpec>,
    unchanged_for: Duration,
    default_duration: Duration,
) -> bool {
    let holder = spec.and_then(|s| s.holder_identity.as_deref());
    match holder {
        None | Some("") => false,
        // An identity no holder has, so that only the lease's age decides.
        Some(_) => decide(spec, "", unchanged_for, default_duration) == LeaseDecision::Wait,
    }
}

/// Of the `--shards` of the holders of Leases in use, one that differs from ours: shard
/// numbers then mean other namespaces to that replica (or, for 1, a leader reconciles
/// everything), so while it lives this replica takes no shard — during a rollout that
/// changes `--shards` or switches from leader election, the new replicas wait for the old
/// ones to stop.
pub fn other_mode(shards: u32, in_use: &[u32]) -> Option<u32> {
    in_use.iter().copied().find(|&n| n != shards)
}

/// The shard of objects in `namespace`, of `shards`: FNV-1a (64 bit) of the namespace,
/// stable across processes, builds and versions (std's hasher is randomly seeded).
pub fn shard_of(namespace: &str, shards: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = namespace
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    // shards >= 1 (checked at start); the remainder fits u32.
    u32::try_from(hash % u64::from(shards.max(1))).unwrap_or(0)
}

/// Name of shard `shard`'s Lease.
pub fn shard_lease_name(id: &str, shard: u32) -> String {
    format!("{id}-shard-{shard}")
}

/// Name of the membership Lease of the replica `identity` (made a valid object name).
pub fn member_lease_name(id: &str, identity: &str) -> String {
    let identity: String = identity
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = format!("{id}-member-{identity}");
    name.chars()
        .take(253)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

/// A shard lease as this replica sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardLease {
    /// Held by this replica.
    Mine,
    /// Missing, released, or expired: anyone may take it.
    Free,
    /// Held by another live replica.
    Taken,
}

/// How many shards this replica should hold, and its rank among the live replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Shards to hold: `shards / live`, plus one for the first `shards % live` identities
    /// in sorted order, so the shares add up to exactly `shards` (with a plain ceiling,
    /// 4 shards over 3 replicas could stay at 2, 2, 0).
    pub target: usize,
    /// Position of this replica among the live ones (sorted identities): replicas taking
    /// free shards at once pick different ones by it, rarely racing for the same lease.
    pub rank: usize,
}

/// This replica's share of `shards` among the `live` identities (this one included,
/// whether or not listed).
pub fn share(shards: u32, live: &[String], me: &str) -> Share {
    let mut live: Vec<&str> = live.iter().map(String::as_str).collect();
    live.push(me);
    live.sort_unstable();
    live.dedup();
    let n = live.len();
    let index = live.iter().position(|l| *l == me).unwrap_or(0);
    let shards = shards as usize;
    Share {
        target: shards / n + usize::from(index < shards % n),
        rank: index,
    }
}

/// Which shard leases to take and which to give up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Free shards to take.
    pub acquire: Vec<u32>,
    /// Held shards to release (their fences closed first).
    pub release: Vec<u32>,
}

/// What to take and release given every shard's lease (`leases[i]` is shard `i`): above
/// the share, release the highest-numbered held shards; below it, take free ones — the
/// replica of rank r needing k skips the first r·k free shards (wrapping), so replicas
/// that all see the same free shards take disjoint ones. Never both.
pub fn plan(leases: &[ShardLease], share: Share) -> Plan {
    let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let mine: Vec<u32> = (0..leases.len())
        .filter(|&i| leases[i] == ShardLease::Mine)
        .map(index)
        .collect();
    let mut out = Plan::default();
    if mine.len() > share.target {
        out.release = mine[share.target..].to_vec();
    } else if mine.len() < share.target {
        let free: Vec<u32> = (0..leases.len())
            .filter(|&i| leases[i] == ShardLease::Free)
            .map(index)
            .collect();
        let need = share.target - mine.len();
        if !free.is_empty() {
            let offset = share.rank.saturating_mul(need) % free.len();
            out.acquire = free
                .iter()
                .cycle()
                .skip(offset)
                .take(need.min(free.len()))
                .copied()
                .collect();
        }
    }
    out
}

/// A membership Lease as this replica sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// Renewed within the lease duration (or this replica's own).
    Live,
    /// Not renewed for a lease duration: its replica no longer counts.
    Gone,
    /// Gone for [`STALE_AFTER_LEASES`] lease durations: deleted, so that the ever-new
    /// pod names of a Deployment do not pile Leases up.
    Stale,
}

/// Lease durations after which a gone replica's membership Lease is deleted.
pub const STALE_AFTER_LEASES: u32 = 4;

/// Classify a membership Lease from its record and how long (by our clock) it has been
/// unchanged, with [`decide`]'s rules.
pub fn member(
    spec: Option<&LeaseSpec>,
    me: &str,
    unchanged_for: Duration,
    lease_duration: Duration,
) -> Member {
    match decide(spec, me, unchanged_for, lease_duration) {
        LeaseDecision::Renew | LeaseDecision::Wait => Member::Live,
        LeaseDecision::Acquire if unchanged_for >= lease_duration * STALE_AFTER_LEASES => {
            Member::Stale
        }
        LeaseDecision::Acquire => Member::Gone,
    }
}

/// Which shards this replica holds, one write fence per shard; shared with every
/// reconcile. Without sharding (one shard, the default) it owns everything and fences
/// nothing: writes are then fenced, if at all, by the leader election's fence.
pub struct Shards {
    count: u32,
    /// One per shard when sharded; empty otherwise.
    fences: Vec<Arc<WriteFence>>,
    acquired_tx: mpsc::UnboundedSender<u32>,
    acquired_rx: Mutex<Option<mpsc::UnboundedReceiver<u32>>>,
}

impl Default for Shards {
    fn default() -> Self {
        Self::with_fences(1, Vec::new())
    }
}

impl Shards {
    fn with_fences(count: u32, fences: Vec<Arc<WriteFence>>) -> Self {
        let (acquired_tx, acquired_rx) = mpsc::unbounded_channel();
        Self {
            count,
            fences,
            acquired_tx,
            acquired_rx: Mutex::new(Some(acquired_rx)),
        }
    }

    /// `count` shards (> 1), none held yet.
    pub fn sharded(count: u32) -> Self {
        Self::with_fences(
            count,
            (0..count).map(|_| Arc::new(WriteFence::closed())).collect(),
        )
    }

    /// Number of shards.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether objects are split among replicas.
    pub fn is_sharded(&self) -> bool {
        !self.fences.is_empty()
    }

    /// The shard of objects in `namespace`.
    pub fn shard_of(&self, namespace: &str) -> u32 {
        shard_of(namespace, self.count)
    }

    /// The write fence of `namespace`'s shard; `None` without sharding.
    pub fn fence_for(&self, namespace: &str) -> Option<Arc<WriteFence>> {
        let shard = usize::try_from(self.shard_of(namespace)).ok()?;
        self.fences.get(shard).cloned()
    }

    /// Whether this replica may reconcile objects of `namespace` now.
    pub fn owns(&self, namespace: &str) -> bool {
        self.fence_for(namespace).is_none_or(|f| f.is_open())
    }

    /// The shards held now.
    pub fn held(&self) -> Vec<u32> {
        (0..self.count)
            .filter(|&i| self.fence(i).is_some_and(|f| f.is_open()))
            .collect()
    }

    fn fence(&self, shard: u32) -> Option<&Arc<WriteFence>> {
        self.fences.get(usize::try_from(shard).ok()?)
    }

    /// The stream of shards as they are acquired (taken once, by the controllers, which
    /// reconcile the objects of each); `None` without sharding.
    pub fn take_acquired(&self) -> Option<mpsc::UnboundedReceiver<u32>> {
        if !self.is_sharded() {
            return None;
        }
        self.acquired_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// What the Leases other than the shard Leases say.
#[derive(Default)]
struct Others {
    /// Identities of the live replicas.
    live: Vec<String>,
    /// Membership Leases to delete (name, resourceVersion).
    stale: Vec<(String, Option<String>)>,
    /// `--shards` of the holders of the Leases in use.
    in_use: Vec<u32>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps this replica's membership Lease and its share of the shard Leases.
pub struct ShardManager {
    api: Api<Lease>,
    shards: Arc<Shards>,
    settings: LeaseSettings,
    member: LeaderElector,
    electors: Vec<Arc<LeaderElector>>,
    /// Shards being released: fenced, waiting for writes in flight to end.
    releasing: Arc<Mutex<BTreeSet<u32>>>,
    /// Membership Leases and the leader election Lease, by name: when each last changed.
    others: Mutex<HashMap<String, LeaseObserver>>,
    metrics: Metrics,
}

impl ShardManager {
    /// A manager of `shards` with the lease timing and identity of `settings`, whose name
    /// is the prefix of every shard and membership Lease.
    pub fn new(
        client: kube::Client,
        settings: LeaseSettings,
        shards: Arc<Shards>,
        metrics: Metrics,
    ) -> Self {
        let id = settings.name.clone();
        let labels = |role: &str| group_labels(&id, role);
        let annotations = mode_annotations(shards.count());
        let named = |name: String| LeaseSettings {
            name,
            ..settings.clone()
        };
        let member = LeaderElector::new(
            client.clone(),
            named(member_lease_name(&id, &settings.identity)),
            // Membership guards nothing.
            Arc::new(WriteFence::open()),
        )
        .with_labels(labels("member"))
        .with_annotations(annotations.clone());
        let electors = (0..shards.count())
            .filter_map(|i| {
                let fence = shards.fence(i)?.clone();
                Some(Arc::new(
                    LeaderElector::new(client.clone(), named(shard_lease_name(&id, i)), fence)
                        .with_labels(labels("shard"))
                        .with_annotations(annotations.clone()),
                ))
            })
            .collect();
        Self {
            api: Api::namespaced(client, &settings.namespace),
            shards,
            settings,
            member,
            electors,
            releasing: Arc::default(),
            others: Mutex::default(),
            metrics,
        }
    }

    /// Keep membership and shards every retry period, forever (until dropped).
    pub async fn run(&self) {
        let mut was_held = vec![false; self.electors.len()];
        let mut first = true;
        loop {
            self.cycle(first, &mut was_held).await;
            first = false;
            tokio::time::sleep(self.settings.retry_period).await;
        }
    }

    async fn cycle(&self, first: bool, was_held: &mut [bool]) {
        let s = &self.settings;
        match tokio::time::timeout(s.renew_deadline, self.member.try_acquire_or_renew()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                warn!(lease = %self.member.name(), "membership lease held by another identity")
            }
            Ok(Err(e)) => warn!(error = %e, "sharding: could not renew the membership lease"),
            Err(_) => warn!("sharding: no answer renewing the membership lease"),
        }
        let selector = format!("{LEASE_GROUP_LABEL}={}", s.name);
        let listed = tokio::time::timeout(
            s.renew_deadline,
            self.api.list(&ListParams::default().labels(&selector)),
        )
        .await;
        let leases = match listed {
            Ok(Ok(list)) => list.items,
            Ok(Err(e)) => {
                warn!(error = %e, "sharding: could not list the leases");
                self.account(was_held);
                return;
            }
            Err(_) => {
                warn!("sharding: no answer listing the leases");
                self.account(was_held);
                return;
            }
        };
        // The leader election Lease of the same id, labelled or not (versions before
        // sharding did not label it).
        let leader = tokio::time::timeout(s.renew_deadline, self.api.get_opt(&s.name)).await;
        let leader = match leader {
            Ok(Ok(lease)) => lease,
            Ok(Err(e)) => {
                warn!(error = %e, "sharding: could not read the leader election lease");
                self.account(was_held);
                return;
            }
            Err(_) => {
                warn!("sharding: no answer reading the leader election lease");
                self.account(was_held);
                return;
            }
        };
        let Others {
            live,
            stale,
            mut in_use,
        } = self.others(&leases, leader.as_ref());
        let by_name: HashMap<&str, &Lease> = leases
            .iter()
            .filter_map(|l| Some((l.metadata.name.as_deref()?, l)))
            .collect();
        let releasing = lock(&self.releasing).clone();
        let states: Vec<ShardLease> = self
            .electors
            .iter()
            .enumerate()
            .map(|(i, e)| match e.judge(by_name.get(e.name()).copied()) {
                // Being given up: neither renewed nor counted.
                _ if releasing.contains(&(i as u32)) => ShardLease::Taken,
                LeaseDecision::Renew => ShardLease::Mine,
                LeaseDecision::Acquire => ShardLease::Free,
                LeaseDecision::Wait => ShardLease::Taken,
            })
            .collect();
        in_use.extend(
            self.electors
                .iter()
                .zip(&states)
                .filter(|(_, state)| **state == ShardLease::Taken)
                .filter_map(|(e, _)| by_name.get(e.name()).map(|l| holder_shards(l))),
        );
        let share = share(self.shards.count(), &live, &s.identity);
        let mut plan = plan(&states, share);
        if first {
            // Replicas started together see each other only after their first round of
            // membership renewals; taking shards before would take them all, then give
            // most back.
            plan.acquire.clear();
        }
        if let Some(theirs) = other_mode(self.shards.count(), &in_use) {
            if !plan.acquire.is_empty() {
                warn!(
                    theirs,
                    ours = self.shards.count(),
                    "a live replica runs with another --shards (1: leader election); taking no shard until it stops"
                );
            }
            plan.acquire.clear();
        }
        for &i in &plan.release {
            let Some(elector) = self.electors.get(i as usize).cloned() else {
                continue;
            };
            // Fence first; then, in the background (renewals of the other shards must not
            // wait), let writes already past the fence end — each is cut off at the
            // deadline it started under — before freeing the lease, since another replica
            // may write as soon as it is free.
            let in_flight_until = elector.fence().deadline();
            elector.fence().close();
            if let Some(held) = was_held.get_mut(i as usize) {
                *held = false;
            }
            lock(&self.releasing).insert(i);
            info!(shard = i, lease = %elector.name(), target = share.target, live = live.len(), "releasing shard (above this replica's share)");
            let releasing = self.releasing.clone();
            tokio::spawn(async move {
                if let Some(until) = in_flight_until {
                    tokio::time::sleep_until(until).await;
                }
                elector.release().await;
                lock(&releasing).remove(&i);
                info!(shard = i, lease = %elector.name(), "released shard");
            });
        }
        let writes = states.iter().enumerate().filter_map(|(i, state)| {
            let shard = u32::try_from(i).ok()?;
            let decision = match state {
                ShardLease::Mine if !plan.release.contains(&shard) => LeaseDecision::Renew,
                ShardLease::Free if plan.acquire.contains(&shard) => LeaseDecision::Acquire,
                _ => return None,
            };
            let elector = self.electors.get(i)?;
            let current = by_name.get(elector.name()).map(|l| (*l).clone());
            Some(async move {
                let sent = Instant::now();
                let result =
                    tokio::time::timeout(s.renew_deadline, elector.write(current, decision, sent))
                        .await;
                match result {
                    Ok(Ok(Some(sent))) => elector.fence().extend_until(sent + s.renew_deadline),
                    // Another replica wrote the lease since we read it.
                    Ok(Ok(None)) => elector.fence().close(),
                    Ok(Err(e)) => warn!(shard = i, error = %e, "sharding: lease write failed"),
                    Err(_) => warn!(shard = i, "sharding: no answer writing the lease"),
                }
            })
        });
        futures::future::join(futures::future::join_all(writes), self.delete_stale(stale)).await;
        self.account(was_held);
    }

    /// What the membership Leases and the leader election Lease say, by this replica's
    /// clock.
    fn others(&self, leases: &[Lease], leader: Option<&Lease>) -> Others {
        let s = &self.settings;
        let mut observers = lock(&self.others);
        let now = Instant::now();
        let mut out = Others::default();
        let mut seen = Vec::new();
        let members = leases.iter().filter(|l| {
            l.metadata
                .labels
                .as_ref()
                .and_then(|m| m.get(LEASE_ROLE_LABEL))
                .is_some_and(|r| r == "member")
        });
        for lease in members {
            let Some(name) = lease.metadata.name.clone() else {
                continue;
            };
            let spec = lease.spec.as_ref();
            let unchanged_for = observers
                .entry(name.clone())
                .or_default()
                .observe(spec, now);
            match member(spec, &s.identity, unchanged_for, s.lease_duration) {
                Member::Live => {
                    out.live
                        .extend(spec.and_then(|s| s.holder_identity.clone()));
                    out.in_use.push(holder_shards(lease));
                }
                Member::Gone => {}
                Member::Stale => out
                    .stale
                    .push((name.clone(), lease.metadata.resource_version.clone())),
            }
            seen.push(name);
        }
        if let Some(lease) = leader {
            let spec = lease.spec.as_ref();
            let unchanged_for = observers
                .entry(s.name.clone())
                .or_default()
                .observe(spec, now);
            if held_by_anyone(spec, unchanged_for, s.lease_duration) {
                out.in_use.push(holder_shards(lease));
            }
            seen.push(s.name.clone());
        }
        observers.retain(|name, _| seen.contains(name));
        out
    }

    /// Delete stale membership Leases, each only if unchanged since read (its replica may
    /// be back); best effort, another replica or round does it otherwise.
    async fn delete_stale(&self, stale: Vec<(String, Option<String>)>) {
        let deletes = stale.into_iter().map(|(name, resource_version)| async move {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version,
                    uid: None,
                }),
                ..Default::default()
            };
            let deleted =
                tokio::time::timeout(self.settings.renew_deadline, self.api.delete(&name, &params))
                    .await;
            match deleted {
                Ok(Ok(_)) => info!(lease = %name, "deleted the membership lease of a replica gone"),
                Ok(Err(kube::Error::Api(e))) if e.code == 404 || e.code == 409 => {}
                Ok(Err(e)) => warn!(lease = %name, error = %e, "sharding: could not delete a stale membership lease"),
                Err(_) => warn!(lease = %name, "sharding: no answer deleting a stale membership lease"),
            }
        });
        futures::future::join_all(deletes).await;
    }

    /// Log and count shards gained and lost since the last round; a shard gained has its
    /// objects reconciled.
    fn account(&self, was_held: &mut [bool]) {
        for (i, held) in was_held.iter_mut().enumerate() {
            let shard = u32::try_from(i).unwrap_or(u32::MAX);
            let now = self.shards.fence(shard).is_some_and(|f| f.is_open());
            if now && !*held {
                info!(shard, lease = %shard_lease_name(&self.settings.name, shard), "acquired shard");
                let _ = self.shards.acquired_tx.send(shard);
            } else if !now && *held {
                warn!(shard, lease = %shard_lease_name(&self.settings.name, shard), "lost shard (not renewed within the renew deadline, or taken)");
            }
            *held = now;
        }
        let held = i64::try_from(self.shards.held().len()).unwrap_or(i64::MAX);
        self.metrics.shards_held.set(held);
    }

    /// Give every shard up (fences first) and leave the membership, so that the other
    /// replicas take over at once on a clean shutdown.
    pub async fn release_all(&self) {
        let held = self.shards.held();
        let releases = self
            .electors
            .iter()
            .enumerate()
            .filter(|(i, _)| held.iter().any(|h| *h as usize == *i))
            .map(|(i, e)| async move {
                e.release().await;
                info!(shard = i, lease = %e.name(), "released shard (shutting down)");
            });
        futures::future::join_all(releases).await;
        // Fences of shards not held are closed anyway; make sure of it.
        for e in &self.electors {
            e.fence().close();
        }
        self.metrics.shards_held.set(0);
        // Leaving for good (a Deployment's next pod has another name): delete rather
        // than release, so that membership Leases do not pile up.
        let name = self.member.name().to_string();
        match tokio::time::timeout(
            self.settings.renew_deadline,
            self.api.delete(&name, &DeleteParams::default()),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(e))) if e.code == 404 => {}
            Ok(Err(e)) => warn!(lease = %name, error = %e, "could not delete the membership lease"),
            Err(_) => warn!(lease = %name, "could not delete the membership lease in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShardLease::*;

    #[test]
    fn shard_of_is_stable_and_spreads() {
        // Pinned: the shard of a namespace must never change between versions or
        // processes, or two replicas would both think they own it.
        assert_eq!(shard_of("", 6), (0xcbf2_9ce4_8422_2325u64 % 6) as u32);
        assert_eq!(shard_of("default", 6), shard_of("default", 6));
        assert_eq!(shard_of("anything", 1), 0);
        let fnv_a = (0xcbf2_9ce4_8422_2325u64 ^ u64::from(b'a')).wrapping_mul(0x100_0000_01b3);
        assert_eq!(shard_of("a", 1000), (fnv_a % 1000) as u32);
        let mut counts = [0usize; 6];
        for i in 0..600 {
            counts[shard_of(&format!("team-{i}"), 6) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
    }

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(shard_lease_name("ecs", 3), "ecs-shard-3");
        assert_eq!(member_lease_name("ecs", "Pod_A:1"), "ecs-member-pod-a-1");
        assert!(member_lease_name("ecs", &"x".repeat(400)).len() <= 253);
    }

    #[test]
    fn shares_add_up_to_the_shard_count() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let live = ids(&["a", "b", "c"]);
        let targets: Vec<usize> = ["a", "b", "c"]
            .iter()
            .map(|me| share(4, &live, me).target)
            .collect();
        assert_eq!(targets, vec![2, 1, 1]);
        assert_eq!(share(6, &live, "b"), Share { target: 2, rank: 1 });
        // Alone (own membership not seen yet) it takes everything.
        assert_eq!(share(6, &[], "b").target, 6);
        assert_eq!(share(6, &ids(&["a", "c"]), "c").target, 3);
        // More replicas than shards: some get none.
        let live = ids(&["a", "b", "c", "d"]);
        assert_eq!(
            ["a", "b", "c", "d"].map(|me| share(2, &live, me).target),
            [1, 1, 0, 0]
        );
    }

    #[test]
    fn below_the_share_take_free_shards_by_rank() {
        let share = |rank| Share { target: 2, rank };
        // Replicas starting together take disjoint pairs.
        let all_free = [Free; 6];
        let picks: Vec<Vec<u32>> = (0..3).map(|r| plan(&all_free, share(r)).acquire).collect();
        assert_eq!(picks, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
        let p = plan(&[Free, Free, Taken, Free, Taken, Free], share(1));
        assert_eq!(p.acquire, vec![3, 5]);
        let p = plan(
            &[Free, Free, Taken, Free, Taken, Free],
            Share { target: 3, rank: 1 },
        );
        assert_eq!(p.acquire, vec![5, 0, 1], "wraps around");
        assert!(p.release.is_empty());
        let p = plan(&[Mine, Taken, Taken, Free, Taken, Taken], share(2));
        assert_eq!(p.acquire, vec![3]);
        // Nothing free: wait.
        assert_eq!(
            plan(&[Mine, Taken, Taken, Taken, Taken, Taken], share(0)),
            Plan::default()
        );
    }

    #[test]
    fn above_the_share_release_the_excess_and_take_nothing() {
        let p = plan(
            &[Mine, Mine, Mine, Mine, Free, Free],
            Share { target: 2, rank: 0 },
        );
        assert_eq!(p.release, vec![2, 3]);
        assert!(p.acquire.is_empty());
        let at_share = plan(&[Mine, Taken, Mine, Free], Share { target: 2, rank: 0 });
        assert_eq!(at_share, Plan::default());
    }

    #[test]
    fn a_dead_replicas_shards_are_shared_by_the_survivors() {
        // Three replicas, 6 shards, c dies: a and b each go from 2 to 3.
        let live = vec!["a".to_string(), "b".to_string()];
        let a = share(6, &live, "a");
        let b = share(6, &live, "b");
        assert_eq!((a.target, b.target), (3, 3));
        let leases_a = [Mine, Mine, Taken, Taken, Free, Free];
        let leases_b = [Taken, Taken, Mine, Mine, Free, Free];
        let (pa, pb) = (plan(&leases_a, a), plan(&leases_b, b));
        assert_eq!(pa.acquire.len() + pb.acquire.len(), 2);
        assert_eq!((pa.acquire, pb.acquire), (vec![4], vec![5]), "disjoint");
    }

    #[test]
    fn membership_leases_live_then_gone_then_stale() {
        let d = Duration::from_secs(4);
        let spec = |holder: Option<&str>| LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(4),
            ..Default::default()
        };
        let other = spec(Some("b"));
        assert_eq!(
            member(Some(&other), "a", Duration::from_secs(3), d),
            Member::Live
        );
        assert_eq!(
            member(Some(&other), "a", Duration::from_secs(5), d),
            Member::Gone
        );
        assert_eq!(
            member(Some(&other), "a", Duration::from_secs(16), d),
            Member::Stale
        );
        // Our own counts whatever our clock says; a released one is gone at once.
        assert_eq!(
            member(Some(&spec(Some("a"))), "a", Duration::from_secs(99), d),
            Member::Live
        );
        assert_eq!(
            member(Some(&spec(None)), "a", Duration::ZERO, d),
            Member::Gone
        );
    }

    #[test]
    fn replicas_of_another_mode_block_taking_shards() {
        let d = Duration::from_secs(4);
        let held = |holder: Option<&str>| LeaseSpec {
            holder_identity: holder.map(str::to_string),
            ..Default::default()
        };
        assert!(held_by_anyone(
            Some(&held(Some("x"))),
            Duration::from_secs(1),
            d
        ));
        assert!(!held_by_anyone(
            Some(&held(Some("x"))),
            Duration::from_secs(4),
            d
        ));
        assert!(!held_by_anyone(Some(&held(None)), Duration::ZERO, d));
        assert!(!held_by_anyone(Some(&held(Some(""))), Duration::ZERO, d));
        assert!(!held_by_anyone(None, Duration::ZERO, d));
        assert_eq!(other_mode(6, &[6, 6, 6]), None);
        assert_eq!(other_mode(6, &[6, 8]), Some(8));
        assert_eq!(
            other_mode(6, &[1]),
            Some(1),
            "a leader reconciles everything"
        );
        let mut lease = Lease::default();
        assert_eq!(
            holder_shards(&lease),
            1,
            "a leader Lease of an older version"
        );
        lease.metadata.annotations = Some(mode_annotations(6));
        assert_eq!(holder_shards(&lease), 6);
    }

    #[test]
    fn without_sharding_everything_is_owned_and_unfenced() {
        let s = Shards::default();
        assert!(!s.is_sharded());
        assert!(s.owns("any"));
        assert!(s.fence_for("any").is_none());
        let s = Shards::sharded(3);
        assert!(s.is_sharded());
        assert!(!s.owns("any"), "nothing is held before a lease is");
        assert!(s.held().is_empty());
        let fence = s.fence_for("any").expect("a fence per shard");
        fence.extend_until(Instant::now() + Duration::from_secs(5));
        assert!(s.owns("any"));
        assert_eq!(s.held(), vec![s.shard_of("any")]);
    }
}
