//! What was seen of EcsClusters' AWS side: ECS clusters, their capacity providers, and the
//! launch templates and Auto Scaling groups that carry the operator's owner tag.
//!
//! As for services, only what was seen is trusted: a resource missing from the cache is
//! read directly, so a sweep racing a create can never cause a second one. Launch template
//! versions are immutable, so a version's description is kept for good once read.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::RegionCache;
use crate::aws::types::{AutoScalingGroup, CapacityProvider, ClusterInfo, LaunchTemplate};
use crate::aws::{AutoScalingApi, AwsError, Ec2Api, EcsApi, DESCRIBE_CAPACITY_PROVIDERS_MAX};

/// Entries by name, with when they were seen.
type ByName<T> = Mutex<HashMap<String, (T, Instant)>>;

/// The capacity part of a [`RegionCache`].
#[derive(Debug, Default)]
pub(super) struct CapacityCache {
    clusters: ByName<ClusterInfo>,
    launch_templates: ByName<LaunchTemplate>,
    groups: ByName<AutoScalingGroup>,
    providers: ByName<CapacityProvider>,
    /// Descriptions of launch template versions by (template ID, version): immutable.
    descriptions: Mutex<HashMap<(String, i64), Option<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panicking writer; every entry is whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn fresh<T: Clone>(map: &ByName<T>, name: &str, max_age: Duration) -> Option<T> {
    lock(map)
        .get(name)
        .filter(|(_, at)| at.elapsed() <= max_age)
        .map(|(v, _)| v.clone())
}

/// Store what a sweep that started at `started` saw, without overwriting anything written
/// or forgotten since (a newer entry wins; a forgotten one stays forgotten only if the
/// sweep did not see it).
fn store_sweep<T>(map: &ByName<T>, seen: Vec<(String, T)>, started: Instant) {
    let mut map = lock(map);
    for (name, value) in seen {
        if map.get(&name).is_some_and(|(_, at)| *at > started) {
            continue;
        }
        map.insert(name, (value, started));
    }
}

impl RegionCache {
    /// The ECS cluster `name` as seen no longer than `max_age` ago.
    pub fn cluster(&self, name: &str, max_age: Duration) -> Option<ClusterInfo> {
        fresh(&self.capacity.clusters, name, max_age)
    }

    /// Remember the ECS cluster `info`, just seen (a write's answer or a targeted read).
    pub fn record_cluster(&self, info: &ClusterInfo) {
        lock(&self.capacity.clusters).insert(info.name.clone(), (info.clone(), Instant::now()));
    }

    /// Forget the ECS cluster `name` (changed or deleted): the next reconcile reads it.
    pub fn forget_cluster(&self, name: &str) {
        lock(&self.capacity.clusters).remove(name);
    }

    /// The launch template `name` as seen no longer than `max_age` ago.
    pub fn launch_template(&self, name: &str, max_age: Duration) -> Option<LaunchTemplate> {
        fresh(&self.capacity.launch_templates, name, max_age)
    }

    /// Forget the launch template `name` (changed or deleted).
    pub fn forget_launch_template(&self, name: &str) {
        lock(&self.capacity.launch_templates).remove(name);
    }

    /// The description of version `version` of template `id`, if it was read before.
    pub fn version_description(&self, id: &str, version: i64) -> Option<Option<String>> {
        lock(&self.capacity.descriptions)
            .get(&(id.to_string(), version))
            .cloned()
    }

    /// Remember the description of a launch template version (versions never change).
    pub fn record_version_description(&self, id: &str, version: i64, description: Option<String>) {
        lock(&self.capacity.descriptions).insert((id.to_string(), version), description);
    }

    /// The Auto Scaling group `name` as seen no longer than `max_age` ago.
    pub fn group(&self, name: &str, max_age: Duration) -> Option<AutoScalingGroup> {
        fresh(&self.capacity.groups, name, max_age)
    }

    /// Forget the Auto Scaling group `name` (changed or deleted).
    pub fn forget_group(&self, name: &str) {
        lock(&self.capacity.groups).remove(name);
    }

    /// The capacity provider `name` as seen no longer than `max_age` ago.
    pub fn capacity_provider(&self, name: &str, max_age: Duration) -> Option<CapacityProvider> {
        fresh(&self.capacity.providers, name, max_age)
    }

    /// Forget the capacity provider `name` (changed or deleted).
    pub fn forget_capacity_provider(&self, name: &str) {
        lock(&self.capacity.providers).remove(name);
    }

    /// Sweep the capacity providers named in `names` (100 per DescribeCapacityProviders
    /// call, whose answer comes 10 a page). Returns how many were seen.
    pub async fn sweep_capacity_providers(
        &self,
        ecs: &dyn EcsApi,
        names: &[String],
    ) -> Result<usize, AwsError> {
        let started = Instant::now();
        let mut seen = Vec::new();
        for chunk in names.chunks(DESCRIBE_CAPACITY_PROVIDERS_MAX) {
            seen.extend(
                ecs.describe_capacity_providers(chunk)
                    .await?
                    .into_iter()
                    .map(|p| (p.name.clone(), p)),
            );
        }
        let count = seen.len();
        store_sweep(&self.capacity.providers, seen, started);
        Ok(count)
    }

    /// Sweep the ECS clusters named in `names` (100 per DescribeClusters call). Returns how
    /// many were seen.
    pub async fn sweep_clusters(
        &self,
        ecs: &dyn EcsApi,
        names: &[String],
    ) -> Result<usize, AwsError> {
        if names.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let seen: Vec<(String, ClusterInfo)> = ecs
            .describe_clusters(names)
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let count = seen.len();
        store_sweep(&self.capacity.clusters, seen, started);
        Ok(count)
    }

    /// Sweep the launch templates and Auto Scaling groups carrying `tag_key` (the owner
    /// tag): one filtered listing each, all pages. Returns (templates, groups) seen.
    pub async fn sweep_capacity(
        &self,
        ec2: &dyn Ec2Api,
        autoscaling: &dyn AutoScalingApi,
        tag_key: &str,
    ) -> Result<(usize, usize), AwsError> {
        let started = Instant::now();
        let templates: Vec<(String, LaunchTemplate)> = ec2
            .describe_launch_templates_tagged(tag_key)
            .await?
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let groups: Vec<(String, AutoScalingGroup)> = autoscaling
            .describe_groups_tagged(tag_key)
            .await?
            .into_iter()
            .map(|g| (g.name.clone(), g))
            .collect();
        let counts = (templates.len(), groups.len());
        store_sweep(&self.capacity.launch_templates, templates, started);
        store_sweep(&self.capacity.groups, groups, started);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, desired: i32) -> AutoScalingGroup {
        AutoScalingGroup {
            name: name.into(),
            desired_capacity: desired,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_sweep_never_overwrites_what_a_later_write_saw() {
        let cache = RegionCache::default();
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(2)).await;
        lock(&cache.capacity.groups).insert("g".into(), (group("g", 3), Instant::now()));
        store_sweep(
            &cache.capacity.groups,
            vec![("g".into(), group("g", 1)), ("h".into(), group("h", 2))],
            started,
        );
        let max = Duration::from_secs(60);
        assert_eq!(cache.group("g", max).map(|g| g.desired_capacity), Some(3));
        assert_eq!(cache.group("h", max).map(|g| g.desired_capacity), Some(2));
        cache.forget_group("h");
        assert_eq!(cache.group("h", max), None);
        assert_eq!(cache.group("h", Duration::ZERO), None);
    }

    #[test]
    fn version_descriptions_are_kept_once_read() {
        let cache = RegionCache::default();
        assert_eq!(cache.version_description("lt-1", 2), None);
        cache.record_version_description("lt-1", 2, Some("sha".into()));
        assert_eq!(
            cache.version_description("lt-1", 2),
            Some(Some("sha".into()))
        );
        assert_eq!(cache.version_description("lt-1", 3), None);
    }

    #[test]
    fn forgotten_clusters_are_read_again() {
        let cache = RegionCache::default();
        cache.record_cluster(&ClusterInfo {
            name: "c".into(),
            status: "ACTIVE".into(),
            ..Default::default()
        });
        assert!(cache.cluster("c", Duration::from_secs(60)).is_some());
        cache.forget_cluster("c");
        assert!(cache.cluster("c", Duration::from_secs(60)).is_none());
    }
}
