//! kube-rs's controller queue, rebuilt for the `workqueue_*` metrics: kube-rs's scheduler
//! (merge per object, the earliest time winning, an object held while it is reconciled)
//! keeps no counters, so [`WorkQueues`] replays what goes in and out with the same rules.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;

use super::metrics::controller_name;

/// When a reconcile [`Action`] asks to be looked at again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only on a change (`Action::await_change`).
    Never,
    /// After this long.
    After(Duration),
}

/// What `action` asks for. kube-rs keeps `Action`'s delay private; its `Debug` form
/// (`Action { requeue_after: Some(1.5s) }`, the delay printed exactly by `Duration`'s
/// `Debug`) is the one way to read it. `None` if that form ever changes (a unit test
/// catches it on a kube upgrade).
pub fn requeue_of(action: &Action) -> Option<Requeue> {
    if *action == Action::await_change() {
        return Some(Requeue::Never);
    }
    let text = format!("{action:?}");
    let inner = text
        .strip_prefix("Action { requeue_after: Some(")?
        .strip_suffix(") }")?;
    parse_debug_duration(inner).map(Requeue::After)
}

/// Parse `Duration`'s `Debug` output: a decimal number with the unit s, ms, µs or ns.
fn parse_debug_duration(s: &str) -> Option<Duration> {
    let (number, nanos_per_unit) = if let Some(n) = s.strip_suffix("ns") {
        (n, 1u128)
    } else if let Some(n) = s.strip_suffix("µs") {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000_000)
    } else {
        (s.strip_suffix('s')?, 1_000_000_000)
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos = whole.parse::<u128>().ok()?.checked_mul(nanos_per_unit)?;
    let mut scale = nanos_per_unit;
    for digit in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            return None;
        }
        nanos += u128::from(digit - b'0') * scale;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// One object's request in the rebuilt queue.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// When kube-rs's scheduler releases it: now for a watch event, the requested time for
    /// a requeue (the earliest wins, as in the scheduler).
    due: Instant,
    /// Counted in `workqueue_adds_total` already: at once for a watch event, once due
    /// for a requeue (controller-runtime counts a delayed add when its delay is over).
    added: bool,
}

/// The rebuilt state of one controller's queue (a kind; one kube-rs controller per
/// watched namespace, objects never in two).
#[derive(Debug, Default)]
struct QueueState {
    pending: HashMap<(String, String), Pending>,
    /// Objects being reconciled, since when.
    active: HashMap<(String, String), Instant>,
}

/// What the `workqueue_*` metrics of one controller read at a scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueSample {
    /// Requests due and not started, not counting objects being reconciled.
    pub depth: i64,
    /// Requests that became due since the last sample (requeues whose time passed).
    pub added: u64,
    /// Seconds the running reconciles have been running, summed.
    pub unfinished_seconds: f64,
    /// Seconds the longest running reconcile has been running.
    pub longest_running_seconds: f64,
}

/// The request queues of the controllers, rebuilt from their inputs and outputs:
///
/// - `requested` (a watch event of the object itself, or of an EcsCluster/EcsTaskDef a
///   service depends on, or the bulk sweep waking a service): the object is due now;
/// - `requeued` (the `Action` a reconcile or the error policy returned): due at that
///   time, unless a request due earlier is pending (kube-rs's scheduler keeps the earliest);
/// - `started`: the request is taken out; `finished`: the object may be started again;
/// - `dropped`: kube-rs found the object gone from its cache and dropped the request.
///
/// Then `workqueue_depth` is the number of objects whose request is due and whose
/// reconcile has not started, excluding objects being reconciled at that moment (kube-rs,
/// like client-go's queue, holds those until the running reconcile ends);
/// `workqueue_adds_total` counts a request when it enters (a watch event for an object
/// with no request due, or a requeue once its time has passed — like client-go, where an
/// add for an item already queued is not counted); `workqueue_queue_duration_seconds` is
/// the time from due to start. The counts follow the scheduler's rules as kube-rs 5
/// implements them with the controllers' settings (no debounce; merge per object, the
/// earliest wins, held while running). The times are taken here, not by the scheduler: a
/// requeue's due time is counted from the end of the reconcile as the reconcile (or the
/// error policy) sees it, which kube-rs notices a moment later.
#[derive(Debug, Default)]
pub struct WorkQueues {
    queues: Mutex<HashMap<String, QueueState>>,
}

fn key(namespace: Option<&str>, name: &str) -> (String, String) {
    (namespace.unwrap_or_default().to_string(), name.to_string())
}

impl WorkQueues {
    fn with<T>(&self, kind: &str, f: impl FnOnce(&mut QueueState) -> T) -> T {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        f(queues.entry(controller_name(kind)).or_default())
    }

    /// A watch event asks for a reconcile now; true if that is an add (nothing was due).
    pub fn requested(&self, kind: &str, namespace: Option<&str>, name: &str, now: Instant) -> bool {
        self.with(kind, |q| match q.pending.get_mut(&key(namespace, name)) {
            Some(p) if p.added => {
                p.due = p.due.min(now);
                false
            }
            Some(p) => {
                *p = Pending {
                    due: now.min(p.due),
                    added: true,
                };
                true
            }
            None => {
                q.pending.insert(
                    key(namespace, name),
                    Pending {
                        due: now,
                        added: true,
                    },
                );
                true
            }
        })
    }

    /// A reconcile or the error policy asked to be run again at `due`.
    pub fn requeued(&self, kind: &str, namespace: Option<&str>, name: &str, due: Instant) {
        self.with(kind, |q| {
            q.pending
                .entry(key(namespace, name))
                .and_modify(|p| p.due = p.due.min(due))
                .or_insert(Pending { due, added: false });
        })
    }

    /// A reconcile started: returns (whether its request counts as an add now, how long
    /// it was due before it started). A start with no request seen is counted as an add
    /// (something asked for it) with no queue time.
    pub fn started(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        now: Instant,
    ) -> (bool, Option<Duration>) {
        self.with(kind, |q| {
            let k = key(namespace, name);
            let pending = q.pending.remove(&k);
            q.active.insert(k, now);
            match pending {
                Some(p) => (!p.added, Some(now.saturating_duration_since(p.due))),
                None => (true, None),
            }
        })
    }

    /// A reconcile ended (or was cancelled).
    pub fn finished(&self, kind: &str, namespace: Option<&str>, name: &str) {
        self.with(kind, |q| {
            q.active.remove(&key(namespace, name));
        })
    }

    /// kube-rs dropped the object's request: the object is no longer in its cache.
    pub fn dropped(&self, kind: &str, namespace: Option<&str>, name: &str) {
        self.with(kind, |q| {
            q.pending.remove(&key(namespace, name));
        })
    }

    /// The numbers of every controller at `now`, marking requeues whose time has passed
    /// as added.
    pub fn sample(&self, now: Instant) -> Vec<(String, QueueSample)> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .iter_mut()
            .map(|(controller, q)| {
                let mut s = QueueSample::default();
                for (k, p) in q.pending.iter_mut() {
                    if p.due > now {
                        continue;
                    }
                    if !p.added {
                        p.added = true;
                        s.added += 1;
                    }
                    if !q.active.contains_key(k) {
                        s.depth += 1;
                    }
                }
                for since in q.active.values() {
                    let secs = now.saturating_duration_since(*since).as_secs_f64();
                    s.unfinished_seconds += secs;
                    s.longest_running_seconds = s.longest_running_seconds.max(secs);
                }
                (controller.clone(), s)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_requeue_delay_of_an_action() {
        assert_eq!(requeue_of(&Action::await_change()), Some(Requeue::Never));
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999),
            Duration::from_nanos(1_001),
            Duration::from_micros(1_500),
            Duration::from_millis(250),
            Duration::from_secs(5),
            Duration::from_secs(600),
            Duration::new(3_600, 1),
            Duration::new(86_400 * 365, 123_456_789),
            Duration::new(u64::MAX, 999_999_999),
        ] {
            assert_eq!(
                requeue_of(&Action::requeue(d)),
                Some(Requeue::After(d)),
                "{d:?}"
            );
        }
        for bad in ["", "s", "1.s2", "x1s", "1.5", "1.0000000001s", "1ks"] {
            assert_eq!(parse_debug_duration(bad), None, "{bad}");
        }
    }

    fn sample(q: &WorkQueues, now: Instant) -> QueueSample {
        q.sample(now)
            .into_iter()
            .find(|(c, _)| c == "ecsservice")
            .map(|(_, s)| s)
            .unwrap_or_default()
    }

    #[test]
    fn the_rebuilt_queue_follows_the_scheduler() {
        let q = WorkQueues::default();
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let kind = "EcsService";
        // Two watch events for one object before it runs: one add, one item.
        assert!(q.requested(kind, Some("a"), "web", t0));
        assert!(!q.requested(kind, Some("a"), "web", s(1)));
        assert!(q.requested(kind, Some("a"), "api", s(1)));
        assert_eq!(sample(&q, s(2)).depth, 2);
        // web starts: out of the queue, waited 3 s since its first request.
        assert_eq!(
            q.started(kind, Some("a"), "web", s(3)),
            (false, Some(Duration::from_secs(3)))
        );
        assert_eq!(sample(&q, s(3)).depth, 1);
        // An event while web runs: an add, but not in the depth until web ends.
        assert!(q.requested(kind, Some("a"), "web", s(4)));
        let running = sample(&q, s(5));
        assert_eq!(running.depth, 1);
        assert_eq!(running.longest_running_seconds, 2.0);
        q.finished(kind, Some("a"), "web");
        assert_eq!(sample(&q, s(5)).depth, 2);
        // Its requeue merges with the pending request: the earlier one wins.
        q.requeued(kind, Some("a"), "web", s(600));
        assert_eq!(
            q.started(kind, Some("a"), "web", s(6)),
            (false, Some(Duration::from_secs(2)))
        );
        q.finished(kind, Some("a"), "web");
        // A requeue in the future is not in the depth, and is an add once due.
        q.requeued(kind, Some("a"), "web", s(16));
        assert_eq!(
            sample(&q, s(10)),
            QueueSample {
                depth: 1,
                ..Default::default()
            }
        );
        let due = sample(&q, s(20));
        assert_eq!((due.depth, due.added), (2, 1));
        assert_eq!(sample(&q, s(21)).added, 0, "counted once");
        // A watch event for an object with a requeue pending brings it forward: an add.
        q.requeued(kind, Some("b"), "x", s(100));
        assert!(q.requested(kind, Some("b"), "x", s(30)));
        assert_eq!(sample(&q, s(31)).depth, 3);
        // A requeue that was never sampled is an add when it starts.
        q.requeued(kind, Some("b"), "y", s(40));
        assert_eq!(
            q.started(kind, Some("b"), "y", s(45)),
            (true, Some(Duration::from_secs(5)))
        );
        q.finished(kind, Some("b"), "y");
        // Dropped (object gone from the cache): out of the queue.
        q.dropped(kind, Some("a"), "api");
        assert_eq!(sample(&q, s(50)).depth, 2);
    }
}
