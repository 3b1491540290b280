//! What was seen of EcsServices' managed ALB target groups: the groups with their tags
//! (DescribeTargetGroups and DescribeTags, 20 a call), the rules of the listeners they are
//! on (DescribeRules, once per listener whatever the number of services on it) with the
//! tags of the rules forwarding to them, and their deregistration delays.
//!
//! As elsewhere, only what was seen is trusted: a group or listener missing from the cache
//! is read directly. A write marks what it changed as forgotten at that instant, so a
//! sweep that started before the write cannot bring the older view back.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::RegionCache;
use crate::aws::types::{ListenerRule, Tags, TargetGroup};
use crate::aws::{AwsError, ElbV2Api, DESCRIBE_ELBV2_TAGS_MAX, DESCRIBE_TARGET_GROUPS_MAX};

/// DescribeTargetGroupAttributes reads one group a call, so each sweep re-reads the
/// deregistration delay of only this fraction (1 / `DELAY_SWEEPS`) of the groups that
/// want one, oldest reading first: a reading stays trusted this many sweep periods.
pub const DELAY_SWEEPS: u32 = 10;

/// Entries by key and when they were seen; `None`: forgotten then (a write changed it).
type Entries<T> = Mutex<HashMap<String, (Option<T>, Instant)>>;

/// The ELBv2 part of a [`RegionCache`].
#[derive(Debug, Default)]
pub(super) struct ElbV2Cache {
    /// Target groups with their tags, by name.
    target_groups: Entries<(TargetGroup, Tags)>,
    /// Every rule of a listener, by listener ARN.
    rules: Entries<Vec<ListenerRule>>,
    /// Tags of the rules that forward to a swept group, by rule ARN.
    rule_tags: Entries<Tags>,
    /// Deregistration delays, by target group ARN.
    delays: Entries<Option<i32>>,
}

/// What one region's sweep reads, from the EcsServices that have a managed target group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroupSweep {
    /// Target group names.
    pub names: Vec<String>,
    /// Listener ARNs their rules are on.
    pub listeners: Vec<String>,
    /// The names (of `names`) whose spec sets a deregistration delay.
    pub with_delay: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panicking writer; every entry is whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn fresh<T: Clone>(map: &Entries<T>, key: &str, max_age: Duration) -> Option<T> {
    lock(map)
        .get(key)
        .filter(|(_, at)| at.elapsed() <= max_age)
        .and_then(|(v, _)| v.clone())
}

fn forget<T>(map: &Entries<T>, key: &str) {
    lock(map).insert(key.to_string(), (None, Instant::now()));
}

/// Store what a sweep that started at `started` saw, unless something was written or
/// forgotten since; marks older than the sweep are dropped (it saw what is there now).
fn store<T>(map: &Entries<T>, seen: impl IntoIterator<Item = (String, T)>, started: Instant) {
    let mut map = lock(map);
    map.retain(|_, (v, at)| v.is_some() || *at > started);
    for (key, value) in seen {
        if map.get(&key).is_some_and(|(_, at)| *at > started) {
            continue;
        }
        map.insert(key, (Some(value), started));
    }
}

/// Drop what a sweep that started at `started` asked for and did not see (deleted), unless
/// written since.
fn drop_unseen<'a>(
    map: &Entries<impl Sized>,
    asked: impl IntoIterator<Item = &'a String>,
    started: Instant,
) {
    let mut map = lock(map);
    for key in asked {
        if map.get(key).is_some_and(|(_, at)| *at <= started) {
            map.remove(key);
        }
    }
}

/// Call `describe` on `keys` up to `max` at a time, keeping what exists: ELBv2 fails a
/// whole call for one missing key, so a chunk that fails NotFound is split in halves until
/// the missing keys are alone (a few extra calls only when something was deleted).
async fn present<T, F, Fut>(
    keys: &[String],
    max: usize,
    mut describe: F,
) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, AwsError>>,
{
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = keys.chunks(max.max(1)).map(<[String]>::to_vec).collect();
    while let Some(chunk) = todo.pop() {
        let len = chunk.len();
        match describe(chunk.clone()).await {
            Ok(found) => out.extend(found),
            Err(e) if e.is_not_found() && len > 1 => {
                let (a, b) = chunk.split_at(len / 2);
                todo.push(b.to_vec());
                todo.push(a.to_vec());
            }
            // The one key left is gone.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Of `arns` (groups that want a deregistration delay), those whose reading is missing or
/// oldest: a `1 / DELAY_SWEEPS` share, at least one.
fn delays_due(
    readings: &HashMap<String, (Option<Option<i32>>, Instant)>,
    arns: &[String],
) -> Vec<String> {
    if arns.is_empty() {
        return Vec::new();
    }
    let share = arns.len().div_ceil(DELAY_SWEEPS as usize);
    let mut by_age: Vec<(Option<Instant>, &String)> = arns
        .iter()
        .map(|a| {
            let at = readings.get(a).and_then(|(v, at)| v.as_ref().map(|_| *at));
            (at, a)
        })
        .collect();
    // Never read (None) sorts first, then the oldest readings.
    by_age.sort();
    by_age
        .into_iter()
        .take(share)
        .map(|(_, a)| a.clone())
        .collect()
}

impl RegionCache {
    /// The target group `name` and its tags, as seen no longer than `max_age` ago.
    pub fn target_group(&self, name: &str, max_age: Duration) -> Option<(TargetGroup, Tags)> {
        fresh(&self.elbv2.target_groups, name, max_age)
    }

    /// Forget the target group `name` (changed or deleted): the next reconcile reads it.
    pub fn forget_target_group(&self, name: &str) {
        forget(&self.elbv2.target_groups, name);
    }

    /// Every rule of the listener, as seen no longer than `max_age` ago.
    pub fn listener_rules(
        &self,
        listener_arn: &str,
        max_age: Duration,
    ) -> Option<Vec<ListenerRule>> {
        fresh(&self.elbv2.rules, listener_arn, max_age)
    }

    /// Forget the rules of a listener (one was created, changed or deleted).
    pub fn forget_listener_rules(&self, listener_arn: &str) {
        forget(&self.elbv2.rules, listener_arn);
    }

    /// The tags of rule `arn`, as seen no longer than `max_age` ago.
    pub fn rule_tags(&self, arn: &str, max_age: Duration) -> Option<Tags> {
        fresh(&self.elbv2.rule_tags, arn, max_age)
    }

    /// Forget the tags of rule `arn` (just changed).
    pub fn forget_rule_tags(&self, arn: &str) {
        forget(&self.elbv2.rule_tags, arn);
    }

    /// The deregistration delay of the group `arn`, as read no longer than `max_age` ago
    /// (`Some(None)`: read, and not set).
    pub fn deregistration_delay(&self, arn: &str, max_age: Duration) -> Option<Option<i32>> {
        fresh(&self.elbv2.delays, arn, max_age)
    }

    /// Remember the deregistration delay of the group `arn`, just read or written.
    pub fn record_deregistration_delay(&self, arn: &str, seconds: Option<i32>) {
        lock(&self.elbv2.delays).insert(arn.to_string(), (Some(seconds), Instant::now()));
    }

    /// Sweep the target groups of one region: the groups and their tags 20 a call, the
    /// rules of each listener once (all pages) and the tags of the rules forwarding to the
    /// groups 20 a call, and a share of the deregistration delays (see [`DELAY_SWEEPS`]).
    /// Groups that no longer exist and listeners that are gone are left out. Returns the
    /// groups and listeners seen.
    pub async fn sweep_target_groups(
        &self,
        v2: &dyn ElbV2Api,
        want: &TargetGroupSweep,
    ) -> Result<(usize, usize), AwsError> {
        let started = Instant::now();
        let groups = present(
            &want.names,
            DESCRIBE_TARGET_GROUPS_MAX,
            |chunk| async move { v2.describe_target_groups(&chunk).await },
        )
        .await?;
        let arns: Vec<String> = groups.iter().map(|g| g.arn.clone()).collect();
        let mut tags: HashMap<String, Tags> =
            present(&arns, DESCRIBE_ELBV2_TAGS_MAX, |chunk| async move {
                v2.describe_tags_of(&chunk).await
            })
            .await?
            .into_iter()
            .collect();
        let mut listeners = Vec::with_capacity(want.listeners.len());
        for listener in &want.listeners {
            match v2.describe_rules(listener).await {
                Ok(rules) => listeners.push((listener.clone(), rules)),
                // Gone: the services on it read it directly and say so.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let ours: HashSet<&str> = arns.iter().map(String::as_str).collect();
        let rule_arns: Vec<String> = listeners
            .iter()
            .flat_map(|(_, rules)| rules)
            .filter(|r| {
                r.priority.is_some() && r.forward_to.iter().any(|t| ours.contains(t.as_str()))
            })
            .map(|r| r.arn.clone())
            .collect();
        let rule_tags = present(&rule_arns, DESCRIBE_ELBV2_TAGS_MAX, |chunk| async move {
            v2.describe_tags_of(&chunk).await
        })
        .await?;
        let delay_arns: Vec<String> = groups
            .iter()
            .filter(|g| want.with_delay.contains(&g.name))
            .map(|g| g.arn.clone())
            .collect();
        let due = delays_due(&lock(&self.elbv2.delays), &delay_arns);
        let mut delays = Vec::with_capacity(due.len());
        for arn in due {
            match v2.deregistration_delay(&arn).await {
                Ok(d) => delays.push((arn, d)),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let counts = (groups.len(), listeners.len());
        let seen_groups: HashSet<&String> = groups.iter().map(|g| &g.name).collect();
        let seen_listeners: HashSet<&String> = listeners.iter().map(|(l, _)| l).collect();
        drop_unseen(
            &self.elbv2.target_groups,
            want.names.iter().filter(|n| !seen_groups.contains(n)),
            started,
        );
        drop_unseen(
            &self.elbv2.rules,
            want.listeners
                .iter()
                .filter(|l| !seen_listeners.contains(l)),
            started,
        );
        // A group whose tags were not answered (deleted meanwhile) is not kept.
        let groups: Vec<(String, (TargetGroup, Tags))> = groups
            .into_iter()
            .filter_map(|g| {
                let t = tags.remove(&g.arn)?;
                Some((g.name.clone(), (g, t)))
            })
            .collect();
        store(&self.elbv2.target_groups, groups, started);
        store(&self.elbv2.rules, listeners, started);
        store(&self.elbv2.rule_tags, rule_tags, started);
        store(&self.elbv2.delays, delays, started);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsErrorKind;

    #[tokio::test]
    async fn a_missing_key_costs_a_few_calls_and_only_itself() {
        let keys: Vec<String> = (0..45).map(|i| format!("tg-{i}")).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let calls = &calls;
        let found = present(&keys, 20, |chunk| async move {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert!(chunk.len() <= 20);
            if chunk.iter().any(|k| k == "tg-7") {
                return Err(AwsError::new(
                    AwsErrorKind::NotFound,
                    "elasticloadbalancing:DescribeTargetGroups",
                    "TargetGroupNotFound",
                    "One or more target groups not found",
                ));
            }
            Ok(chunk)
        })
        .await
        .expect("present");
        assert_eq!(found.len(), 44);
        assert!(!found.iter().any(|k| k == "tg-7"));
        // 3 chunks; the failing one of 20 splits down to tg-7 in 2 × log2(20) calls or so.
        let n = calls.load(std::sync::atomic::Ordering::Relaxed);
        assert!((3..=14).contains(&n), "{n} calls");
    }

    #[tokio::test]
    async fn other_errors_fail_the_sweep() {
        let keys = vec!["a".to_string()];
        let r: Result<Vec<String>, _> = present(&keys, 20, |_| async {
            Err(AwsError::new(
                AwsErrorKind::Throttled,
                "elasticloadbalancing:DescribeTargetGroups",
                "Throttling",
                "slow down",
            ))
        })
        .await;
        assert!(r.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn delay_readings_rotate_oldest_first_a_tenth_at_a_time() {
        let cache = RegionCache::default();
        let arns: Vec<String> = (0..25).map(|i| format!("arn-{i:02}")).collect();
        for a in &arns[..20] {
            cache.record_deregistration_delay(a, Some(30));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        // 25 groups: 3 a sweep; the 5 never read come first.
        let due = delays_due(&lock(&cache.elbv2.delays), &arns);
        assert_eq!(due, ["arn-20", "arn-21", "arn-22"]);
        for a in &arns[20..] {
            cache.record_deregistration_delay(a, Some(30));
        }
        let due = delays_due(&lock(&cache.elbv2.delays), &arns);
        assert_eq!(
            due,
            ["arn-00", "arn-01", "arn-02"],
            "then the oldest readings"
        );
        assert!(delays_due(&lock(&cache.elbv2.delays), &[]).is_empty());
        assert_eq!(
            delays_due(&lock(&cache.elbv2.delays), &arns[..1]).len(),
            1,
            "at least one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_never_brings_back_what_a_later_write_forgot() {
        let cache = RegionCache::default();
        let started = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        cache.forget_listener_rules("l1");
        store(
            &cache.elbv2.rules,
            vec![
                ("l1".to_string(), Vec::new()),
                ("l2".to_string(), Vec::new()),
            ],
            started,
        );
        let max = Duration::from_secs(60);
        assert_eq!(
            cache.listener_rules("l1", max),
            None,
            "forgotten after the sweep started"
        );
        assert_eq!(cache.listener_rules("l2", max), Some(Vec::new()));
        // A later sweep sees it again, and drops the mark.
        let later = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        store(
            &cache.elbv2.rules,
            vec![("l1".to_string(), Vec::new())],
            later,
        );
        assert_eq!(cache.listener_rules("l1", max), Some(Vec::new()));
        assert_eq!(cache.listener_rules("l1", Duration::ZERO), None, "too old");
    }
}
