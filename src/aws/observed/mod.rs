//! What AWS was last seen to hold, shared by every reconcile: filled by bulk sweeps (per
//! cluster and resync period, ListServices plus one DescribeServices per 10 services) and
//! by the answers to writes, read by resync reconciles instead of one call per object.
//!
//! ECS clusters (DescribeClusters, 100 a call), their capacity providers
//! (DescribeCapacityProviders, 100 names a call), the launch templates and Auto Scaling
//! groups carrying the owner tag (filtered describes, 100 or more a page), and managed ALB
//! target groups with their listeners' rules (see [`elbv2`]) are swept the same way.
//!
//! Only what was seen is trusted: a service missing from the cache (or from a sweep) is
//! read directly before anything is created, so a sweep racing a create can never cause a
//! second one.

mod capacity;
pub mod elbv2;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::types::{ClassicLoadBalancer, ServiceInfo, Tags};
use super::{EcsApi, ElbApi, DESCRIBE_ELB_TAGS_MAX, DESCRIBE_SERVICES_MAX};
use crate::aws::AwsError;

/// The cache key of a cluster: ECS takes a cluster's name or ARN alike.
pub fn cluster_key(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

#[derive(Clone, Debug)]
struct Seen {
    info: ServiceInfo,
    at: Instant,
    /// When the service's own reconcile last took in what was seen of it: an observation
    /// made after that (a sweep, another service's read) is news to it.
    looked: Option<Instant>,
}

/// What was seen of one region.
#[derive(Debug, Default)]
pub struct RegionCache {
    services: Mutex<HashMap<(String, String), Seen>>,
    /// ACTIVE revisions per task definition family (ascending) and when they were listed.
    families: Mutex<HashMap<String, (Vec<i32>, Instant)>>,
    /// Classic ELBs with their tags, by name.
    elbs: Mutex<HashMap<String, (ClassicLoadBalancer, Tags, Instant)>>,
    /// ECS clusters, launch templates and Auto Scaling groups (see [`capacity`]).
    capacity: capacity::CapacityCache,
    /// Target groups, listener rules and their tags (see [`elbv2`]).
    elbv2: elbv2::ElbV2Cache,
    /// Service names per cluster as ListServices gave them, and when that listing started.
    listings: Mutex<HashMap<String, (HashSet<String>, Instant)>>,
    /// Services this process sent a CreateService for and has not seen the answer of.
    creating: Mutex<HashSet<(String, String)>>,
    /// One on-demand listing at a time, so a burst of new services shares it.
    listing: tokio::sync::Mutex<()>,
}

impl RegionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Seen>> {
        // A poisoned lock only means a panicking writer; every entry is whole.
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The service `name` of `cluster` as seen no longer than `max_age` ago.
    pub fn service(&self, cluster: &str, name: &str, max_age: Duration) -> Option<ServiceInfo> {
        let key = (cluster_key(cluster).to_string(), name.to_string());
        self.lock()
            .get(&key)
            .filter(|s| s.at.elapsed() <= max_age)
            .map(|s| s.info.clone())
    }

    /// What was seen of the service `name` of `cluster` since its own reconcile last took
    /// it in (and no longer than `max_age` ago): news for a re-check of its rollout.
    pub fn service_news(
        &self,
        cluster: &str,
        name: &str,
        max_age: Duration,
    ) -> Option<ServiceInfo> {
        let key = (cluster_key(cluster).to_string(), name.to_string());
        self.lock()
            .get(&key)
            .filter(|s| s.at.elapsed() <= max_age && s.looked.is_none_or(|l| s.at > l))
            .map(|s| s.info.clone())
    }

    /// Note that the service's own reconcile took in what was seen of it.
    pub fn mark_looked(&self, cluster: &str, name: &str) {
        let key = (cluster_key(cluster).to_string(), name.to_string());
        if let Some(s) = self.lock().get_mut(&key) {
            s.looked = Some(Instant::now());
        }
    }

    /// Remember `info`, just seen by the service's own reconcile (a write's answer or its
    /// read).
    pub fn record_service(&self, cluster: &str, info: &ServiceInfo) {
        let now = Instant::now();
        self.record(cluster, info, now, Some(now));
    }

    /// Remember `info`, just seen by a read made for another service.
    pub fn record_read(&self, cluster: &str, info: &ServiceInfo) {
        self.record(cluster, info, Instant::now(), None);
    }

    /// Record what was seen `at`; `looked`: by the service's own reconcile, else what it
    /// took in before is kept.
    fn record(&self, cluster: &str, info: &ServiceInfo, at: Instant, looked: Option<Instant>) {
        let key = (cluster_key(cluster).to_string(), info.name.clone());
        self.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let mut services = self.lock();
        let previous = services.get(&key);
        // A sweep that started before a write must not overwrite what the write saw.
        if previous.is_some_and(|s| s.at > at) {
            return;
        }
        let looked = looked.or_else(|| previous.and_then(|s| s.looked));
        services.insert(
            key,
            Seen {
                info: info.clone(),
                at,
                looked,
            },
        );
    }

    /// Note that a CreateService for `name` is about to be sent: until its answer is seen,
    /// the service is never taken for absent (the answer may be lost).
    pub fn mark_creating(&self, cluster: &str, name: &str) {
        self.creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((cluster_key(cluster).to_string(), name.to_string()));
    }

    /// Whether `name` is known not to exist in `cluster` without asking ECS: a listing of
    /// the cluster that started after `since` (when this process became the only writer)
    /// and no longer than `max_age` ago does not name it, no write since showed it, and no
    /// create of it is unanswered. Anything else is read.
    pub fn known_absent(
        &self,
        cluster: &str,
        name: &str,
        since: Instant,
        max_age: Duration,
    ) -> bool {
        let key = (cluster_key(cluster).to_string(), name.to_string());
        let listed_without = self
            .listings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key.0)
            .is_some_and(|(names, at)| {
                *at >= since && at.elapsed() <= max_age && !names.contains(name)
            });
        listed_without
            && !self.lock().contains_key(&key)
            && !self
                .creating
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
    }

    /// Make sure `cluster` has a listing of its service names that started after `since`
    /// and is no older than `max_age`, listing it (ListServices, 100 names a page) if not.
    /// Concurrent callers share one listing.
    pub async fn ensure_listed(
        &self,
        ecs: &dyn EcsApi,
        cluster: &str,
        since: Instant,
        max_age: Duration,
    ) -> Result<(), AwsError> {
        let fresh = |cache: &Self| {
            cache
                .listings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(cluster_key(cluster))
                .is_some_and(|(_, at)| *at >= since && at.elapsed() <= max_age)
        };
        if fresh(self) {
            return Ok(());
        }
        let _one = self.listing.lock().await;
        if fresh(self) {
            return Ok(());
        }
        let started = Instant::now();
        let names = ecs.list_services(cluster).await?;
        self.store_listing(cluster, &names, started);
        Ok(())
    }

    fn store_listing(&self, cluster: &str, arns: &[String], started: Instant) {
        let names = arns.iter().map(|a| cluster_key(a).to_string()).collect();
        let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        if listings
            .get(cluster_key(cluster))
            .is_some_and(|(_, at)| *at > started)
        {
            return;
        }
        listings.insert(cluster_key(cluster).to_string(), (names, started));
    }

    /// Up to `max` other services of `cluster` that `wanted` picks from what was seen of
    /// them, oldest observation first, leaving out those seen within `min_age`: a read of
    /// one service takes them along (DescribeServices answers 10 names for one call) so
    /// their own re-checks find them fresh.
    pub fn peers(
        &self,
        cluster: &str,
        except: &str,
        max: usize,
        min_age: Duration,
        wanted: impl Fn(&ServiceInfo) -> bool,
    ) -> Vec<String> {
        let cluster = cluster_key(cluster);
        let mut found: Vec<(Instant, String)> = self
            .lock()
            .iter()
            .filter(|((c, name), seen)| {
                c == cluster && name != except && seen.at.elapsed() >= min_age && wanted(&seen.info)
            })
            .map(|((_, name), seen)| (seen.at, name.clone()))
            .collect();
        found.sort_unstable();
        found.into_iter().take(max).map(|(_, name)| name).collect()
    }

    /// Forget a service (deleted): the next reconcile reads it directly.
    pub fn forget_service(&self, cluster: &str, name: &str) {
        self.lock()
            .remove(&(cluster_key(cluster).to_string(), name.to_string()));
    }

    /// The ACTIVE revisions of `family` (ascending) as listed no longer than `max_age` ago;
    /// `None` when not listed (or the family had none then).
    pub fn family_revisions(&self, family: &str, max_age: Duration) -> Option<Vec<i32>> {
        self.families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(family)
            .filter(|(_, at)| at.elapsed() <= max_age)
            .map(|(revs, _)| revs.clone())
    }

    /// Forget what was listed of `family` (a revision was registered or deregistered).
    pub fn forget_family(&self, family: &str) {
        self.families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(family);
    }

    /// The classic ELB `name` and its tags, as seen no longer than `max_age` ago.
    pub fn elb(&self, name: &str, max_age: Duration) -> Option<(ClassicLoadBalancer, Tags)> {
        self.elbs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .filter(|(_, _, at)| at.elapsed() <= max_age)
            .map(|(lb, tags, _)| (lb.clone(), tags.clone()))
    }

    /// Forget what was seen of the ELB `name` (it was just changed or deleted).
    pub fn forget_elb(&self, name: &str) {
        self.elbs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Sweep the classic ELBs named in `names`: every ELB of the region (400 a page), then
    /// the tags of those named, 20 per call. Returns how many were seen.
    pub async fn sweep_elbs(&self, elb: &dyn ElbApi, names: &[String]) -> Result<usize, AwsError> {
        let started = Instant::now();
        let wanted: std::collections::BTreeSet<&String> = names.iter().collect();
        let found: Vec<ClassicLoadBalancer> = elb
            .describe_all_load_balancers()
            .await?
            .into_iter()
            .filter(|lb| wanted.contains(&lb.name))
            .collect();
        let mut seen = Vec::with_capacity(found.len());
        for chunk in found.chunks(DESCRIBE_ELB_TAGS_MAX) {
            let chunk_names: Vec<String> = chunk.iter().map(|lb| lb.name.clone()).collect();
            let mut tags = elb.describe_tags_of(&chunk_names).await?;
            for lb in chunk {
                if let Some(t) = tags.remove(&lb.name) {
                    seen.push((lb.clone(), t));
                }
            }
        }
        let count = seen.len();
        let mut elbs = self.elbs.lock().unwrap_or_else(|p| p.into_inner());
        for (lb, tags) in seen {
            // A write since the sweep started forgot the entry; never restore an older view.
            if elbs.get(&lb.name).is_some_and(|(_, _, at)| *at > started) {
                continue;
            }
            elbs.insert(lb.name.clone(), (lb, tags, started));
        }
        Ok(count)
    }

    /// Sweep the task definitions: every ACTIVE revision of every family, 100 per call.
    pub async fn sweep_task_definitions(&self, ecs: &dyn EcsApi) -> Result<usize, AwsError> {
        let started = Instant::now();
        let arns = ecs.list_active_task_definitions().await?;
        let listed = group_revisions(&arns);
        let count = listed.len();
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        families.retain(|_, (_, at)| *at > started);
        for (family, revs) in listed {
            families.entry(family).or_insert((revs, started));
        }
        Ok(count)
    }

    /// Sweep one cluster: every ACTIVE or DRAINING service, 10 per DescribeServices call,
    /// but those seen within `fresh` (a write's answer or a read since the last sweep: they
    /// stay valid until the next one). Entries count from when the sweep started. Returns
    /// what was described.
    pub async fn sweep(
        &self,
        ecs: &dyn EcsApi,
        cluster: &str,
        fresh: Duration,
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        let started = Instant::now();
        let arns = ecs.list_services(cluster).await?;
        self.store_listing(cluster, &arns, started);
        let names: Vec<String> = {
            let services = self.lock();
            arns.iter()
                .map(|arn| cluster_key(arn).to_string())
                .filter(|name| {
                    services
                        .get(&(cluster_key(cluster).to_string(), name.clone()))
                        .is_none_or(|s| started.duration_since(s.at) >= fresh)
                })
                .collect()
        };
        let mut seen = Vec::with_capacity(names.len());
        for chunk in names.chunks(DESCRIBE_SERVICES_MAX) {
            seen.extend(ecs.describe_services(cluster, chunk).await?);
        }
        for info in &seen {
            self.record(cluster, info, started, None);
        }
        Ok(seen)
    }
}

/// ACTIVE revisions per family, ascending, from task definition ARNs.
pub fn group_revisions(arns: &[String]) -> HashMap<String, Vec<i32>> {
    let mut out: HashMap<String, Vec<i32>> = HashMap::new();
    for arn in arns {
        let Some((family, rev)) = cluster_key(arn).rsplit_once(':') else {
            continue;
        };
        if let Ok(rev) = rev.parse() {
            out.entry(family.to_string()).or_default().push(rev);
        }
    }
    for revs in out.values_mut() {
        revs.sort_unstable();
    }
    out
}

/// What was seen, per region.
#[derive(Debug, Default)]
pub struct Observed {
    regions: Mutex<HashMap<String, Arc<RegionCache>>>,
}

impl Observed {
    /// The cache of `region`.
    pub fn region(&self, region: &str) -> Arc<RegionCache> {
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(region.to_string())
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, desired: i32) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            desired_count: desired,
            status: "ACTIVE".into(),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_names_and_arns_share_a_cluster() {
        let cache = RegionCache::default();
        cache.record_service("arn:aws:ecs:us-east-1:1:cluster/c", &service("s", 2));
        let max = Duration::from_secs(60);
        assert_eq!(
            cache.service("c", "s", max).map(|s| s.desired_count),
            Some(2)
        );
        assert!(cache.service("c", "other", max).is_none());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(cache.service("c", "s", max).is_none(), "too old");
        cache.record_service("c", &service("s", 3));
        cache.forget_service("c", "s");
        assert!(cache.service("c", "s", max).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn peers_are_the_oldest_wanted_services_of_the_cluster() {
        let cache = RegionCache::default();
        cache.record_service("c", &service("old", 1));
        tokio::time::advance(Duration::from_secs(3)).await;
        cache.record_service("c", &service("newer", 1));
        cache.record_service("c", &service("steady", 2));
        cache.record_service("other", &service("elsewhere", 1));
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.record_service("c", &service("just-read", 1));
        cache.record_service("c", &service("me", 1));
        let rolling = |s: &ServiceInfo| s.desired_count == 1;
        let min = Duration::from_secs(1);
        assert_eq!(
            cache.peers("arn:aws:ecs:us-east-1:1:cluster/c", "me", 9, min, rolling),
            vec!["old".to_string(), "newer".to_string()]
        );
        assert_eq!(
            cache.peers("c", "me", 1, min, rolling),
            vec!["old".to_string()]
        );
    }

    #[test]
    fn revisions_are_grouped_by_family() {
        let arns: Vec<String> = ["web:3", "web:1", "api:7", "bad"]
            .iter()
            .map(|r| format!("arn:aws:ecs:us-east-1:1:task-definition/{r}"))
            .collect();
        let g = group_revisions(&arns);
        assert_eq!(g.get("web"), Some(&vec![1, 3]));
        assert_eq!(g.get("api"), Some(&vec![7]));
        assert_eq!(g.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_never_overwrites_a_newer_write() {
        let cache = RegionCache::default();
        let sweep_started = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        cache.record_service("c", &service("s", 5));
        cache.record("c", &service("s", 1), sweep_started, None);
        let max = Duration::from_secs(60);
        assert_eq!(
            cache.service("c", "s", max).map(|s| s.desired_count),
            Some(5)
        );
    }
}
