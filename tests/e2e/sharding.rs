//! Three replicas with `--shards 6` against the real kube-apiserver and moto, each behind
//! its own recording AWS proxy so that every AWS write is attributable: every shard held
//! by exactly one replica, every object written to AWS by exactly one replica (its
//! shard's holder), a SIGKILLed replica's shards taken over within the lease duration and
//! a margin, the taken-over objects converging on edits; then a fourth replica joins and
//! gets its share from the others, moved objects converging through it alone, and hands
//! it back at once when stopped cleanly; a replica with another shard count takes no
//! shard while they run; and no duplicate creates throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};
use serde_json::{json, Value};

use ecs_operator::reconciler::shards::{shard_of, LEASE_ROLE_LABEL};

use super::fault_proxy::FaultProxy;
use super::harness::{eventually, http_get, stderr, Operator, Sandbox};

const SHARDS: u32 = 6;
const LEASE_NS: &str = "shard-system";
const LEASE_DURATION: Duration = Duration::from_secs(4);
const REPLICAS: [&str; 3] = ["replica-a", "replica-b", "replica-c"];

/// One namespace per shard (the first `tenant-<i>` hashing to it), so that every shard,
/// the killed replica's included, has objects.
fn namespaces() -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for i in 0.. {
        let ns = format!("tenant-{i}");
        out.entry(shard_of(&ns, SHARDS)).or_insert(ns);
        if out.len() == SHARDS as usize {
            return out;
        }
    }
    unreachable!()
}

/// An EcsCluster (no EC2 capacity), an EcsTaskDef and two EcsServices (of 4 tasks: moto
/// runs 4 of every service) tagged `edit: <edit>`; every AWS name starts with `<ns>-` so
/// that proxy records map back to the namespace.
fn manifests(ns: &str, edit: &str) -> String {
    let mut out = format!(
        "apiVersion: ecsoperator.io/v1alpha1\nkind: EcsCluster\nmetadata: {{name: cluster}}\n\
         spec: {{clusterName: {ns}-cluster}}\n---\n\
         apiVersion: ecsoperator.io/v1alpha1\nkind: EcsTaskDef\nmetadata: {{name: web}}\n\
         spec: {{family: {ns}-task, containerDefinitions: [{{name: web, image: nginx, memory: 64}}]}}\n"
    );
    for svc in ["one", "two"] {
        out += &format!(
            "---\napiVersion: ecsoperator.io/v1alpha1\nkind: EcsService\nmetadata: {{name: {svc}}}\n\
             spec: {{serviceName: {ns}-{svc}, clusterRef: {{name: cluster}}, taskDefRef: {{name: web}}, \
             desiredCount: 4, launchType: EC2, tags: {{edit: \"{edit}\"}}}}\n"
        );
    }
    out
}

/// Shard → holder of every shard Lease that has one.
async fn holders(leases: &Api<Lease>) -> BTreeMap<u32, String> {
    let list = leases
        .list(&ListParams::default().labels(&format!("{LEASE_ROLE_LABEL}=shard")))
        .await
        .expect("list leases");
    list.items
        .iter()
        .filter_map(|l| {
            let name = l.metadata.name.as_deref()?;
            let shard = name.rsplit('-').next()?.parse().ok()?;
            let holder = l.spec.as_ref()?.holder_identity.clone()?;
            Some((shard, holder))
        })
        .collect()
}

/// Every shard held, by replicas among `replicas`, `per_replica` each (when given).
fn settled(holders: &BTreeMap<u32, String>, replicas: &[&str], per_replica: Option<usize>) -> bool {
    if holders.len() != SHARDS as usize || !holders.values().all(|h| replicas.contains(&h.as_str()))
    {
        return false;
    }
    per_replica.is_none_or(|n| {
        replicas
            .iter()
            .all(|r| holders.values().filter(|h| *h == r).count() == n)
    })
}

/// The value of the series `series` (name and labels, as exposed) of `op`'s /metrics.
fn metric(op: &Operator, series: &str) -> Option<i64> {
    let (_, body) = http_get(op.metrics_port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The namespace an AWS call recorded by a proxy is about, if one of ours.
fn namespace_of<'a>(call: &Value, namespaces: &'a BTreeMap<u32, String>) -> Option<&'a String> {
    let resource = call["resource"].as_str()?;
    namespaces
        .values()
        .find(|ns| resource.contains(&format!("{ns}-")))
}

/// Namespace → the replicas whose proxies recorded AWS writes for it (calls sent at or
/// after `since_ms`, the proxies' clock being the wall clock).
fn writers(
    proxies: &BTreeMap<&str, FaultProxy>,
    namespaces: &BTreeMap<u32, String>,
    since_ms: i64,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (replica, proxy) in proxies {
        for call in proxy.record() {
            if call["mutating"] != json!(true) || call["t_ms"].as_i64().unwrap_or(0) < since_ms {
                continue;
            }
            if let Some(ns) = namespace_of(&call, namespaces) {
                out.entry(ns.clone())
                    .or_default()
                    .insert(replica.to_string());
            }
        }
    }
    out
}

/// One replica of the operator with `shards` shards and short lease timing, its AWS
/// calls through `proxy`.
fn start_replica(sb: &Sandbox, replica: &str, proxy: &FaultProxy, shards: u32) -> Operator {
    let args: Vec<String> = [
        "--shards",
        &shards.to_string(),
        "--leader-election-namespace",
        LEASE_NS,
        "--lease-duration",
        "4s",
        "--renew-deadline",
        "3s",
        "--retry-period",
        "1s",
        "--resync-period",
        "1m",
        "--aws-endpoint-url",
        &proxy.url(),
    ]
    .map(str::to_string)
    .to_vec();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Operator::start_with_env(sb, replica, &args, &[("POD_NAME", replica)])
}

/// Re-tag the services of `namespaces` with `edit: <edit>` and wait until AWS has the tag
/// and the objects are Ready for their new generation.
async fn edit_converges(
    sb: &Sandbox,
    aws: &aws_sdk_ecs::Client,
    namespaces: &[&String],
    edit: &str,
) {
    for ns in namespaces {
        let out = sb.kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifests(ns, edit));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for ns in namespaces {
        for svc in ["one", "two"] {
            let name = format!("{ns}-{svc}");
            eventually(
                &format!("{name} to be tagged edit={edit}"),
                Duration::from_secs(60),
                || async {
                    let out = aws
                        .describe_services()
                        .cluster(format!("{ns}-cluster"))
                        .services(&name)
                        .include(aws_sdk_ecs::types::ServiceField::Tags)
                        .send()
                        .await
                        .ok()?;
                    let tags = out.services().first()?.tags();
                    tags.iter()
                        .any(|t| t.key() == Some("edit") && t.value() == Some(edit))
                        .then_some(())
                },
            )
            .await;
        }
        for svc in ["one", "two"] {
            let resource = format!("ecsservice/{svc}");
            let generation = sb.kubectl_ok(&[
                "get",
                "-n",
                ns,
                &resource,
                "-o",
                "jsonpath={.metadata.generation}",
            ]);
            let out = sb.kubectl(&[
                "wait",
                "-n",
                ns,
                &format!(
                    "--for=jsonpath={{.status.observedGeneration}}={}",
                    generation.trim()
                ),
                "--timeout=60s",
                &resource,
            ]);
            assert!(out.status.success(), "{ns}: {}", stderr(&out));
        }
        wait_ready(sb, ns);
    }
}

fn wait_ready(sb: &Sandbox, ns: &str) {
    let out = sb.kubectl(&[
        "wait",
        "-n",
        ns,
        "--for=condition=Ready",
        "--timeout=120s",
        "ecscluster,ecstaskdef,ecsservice",
        "--all",
    ]);
    assert!(out.status.success(), "{ns} not Ready: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharding() {
    let _one_at_a_time = super::ONE_SANDBOX_AT_A_TIME.lock().await;
    let sb = Sandbox::up("sharding");
    sb.kubectl_ok(&["apply", "--server-side", "-f", "crds/ecs-operator.yaml"]);
    sb.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    sb.kubectl_ok(&["create", "namespace", LEASE_NS]);
    let client = sb.kube_client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NS);
    let namespaces = namespaces();

    let mut proxies: BTreeMap<&str, FaultProxy> = REPLICAS
        .iter()
        .enumerate()
        .map(|(i, r)| (*r, FaultProxy::start(&sb, r, &json!({}), i as u64 + 1)))
        .collect();
    let mut operators: BTreeMap<&str, Operator> = BTreeMap::new();
    for replica in REPLICAS {
        operators.insert(
            replica,
            start_replica(&sb, replica, &proxies[replica], SHARDS),
        );
    }

    // The shards settle at two per replica before any object exists, so that every
    // object's writes below come from one replica.
    let started = Instant::now();
    eventually(
        "the 6 shards to settle at 2 per replica",
        Duration::from_secs(60),
        || async { settled(&holders(&leases).await, &REPLICAS, Some(2)).then_some(()) },
    )
    .await;
    eprintln!("shards settled 2/2/2 after {:?}", started.elapsed());
    let before = holders(&leases).await;

    for (shard, ns) in &namespaces {
        sb.kubectl_ok(&["create", "namespace", ns]);
        let out = sb.kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifests(ns, "no"));
        assert!(
            out.status.success(),
            "shard {shard} ({ns}): {}",
            stderr(&out)
        );
    }
    for ns in namespaces.values() {
        wait_ready(&sb, ns);
    }

    // Every shard held by exactly one replica: one holder per Lease, and the replicas'
    // own accounts (shards_held) add up to the shard count.
    let now = holders(&leases).await;
    assert_eq!(now, before, "the shards moved while nothing failed");
    let counts: BTreeMap<&str, Option<i64>> = operators
        .iter()
        .map(|(r, op)| (*r, metric(op, "ecs_operator_shards_held")))
        .collect();
    assert_eq!(
        counts.values().map(|c| c.unwrap_or(-100)).sum::<i64>(),
        i64::from(SHARDS),
        "shards_held of the replicas: {counts:?}"
    );
    assert!(counts.values().all(|c| *c == Some(2)), "{counts:?}");
    // Each replica counts the objects of its own shards: the Ready services add up.
    let ready = r#"ecs_operator_objects{kind="EcsService",condition="Ready",status="True"}"#;
    let per_replica: Vec<Option<i64>> = operators.values().map(|op| metric(op, ready)).collect();
    assert_eq!(
        per_replica.iter().map(|c| c.unwrap_or(-100)).sum::<i64>(),
        2 * namespaces.len() as i64,
        "Ready EcsServices counted by the replicas: {per_replica:?}"
    );

    // Every object's AWS writes came from its shard's holder only.
    let by_ns = writers(&proxies, &namespaces, 0);
    for (shard, ns) in &namespaces {
        let expected = BTreeSet::from([now[shard].clone()]);
        assert_eq!(
            by_ns.get(ns),
            Some(&expected),
            "AWS writers of {ns} (shard {shard})"
        );
    }

    // SIGKILL replica-c: the others take its shards once its leases expire.
    let victim = "replica-c";
    let victim_shards: Vec<u32> = now
        .iter()
        .filter(|(_, h)| *h == victim)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(victim_shards.len(), 2);
    let killed_at = Instant::now();
    let killed_at_ms = jiff::Timestamp::now().as_millisecond();
    operators.get_mut(victim).expect("victim").kill();
    let survivors = ["replica-a", "replica-b"];
    let after = loop {
        let h = holders(&leases).await;
        if settled(&h, &survivors, None) {
            break h;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "the killed replica's shards were not taken over within 30 s: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let takeover = killed_at.elapsed();
    eprintln!(
        "takeover of shards {victim_shards:?} from {victim}: {takeover:?} (lease duration \
         {LEASE_DURATION:?}); now {after:?}"
    );
    // The lease duration, plus two retry periods (one for the membership to shrink, one
    // to act) and a margin for this loaded 2-core machine.
    assert!(
        takeover <= LEASE_DURATION + Duration::from_secs(4),
        "takeover took {takeover:?}"
    );
    for s in survivors {
        let held = after.values().filter(|h| *h == s).count();
        assert_eq!(
            held, 3,
            "{s} holds its fair share after the takeover: {after:?}"
        );
    }

    // Edits of the taken-over objects converge, written by their new holders.
    let edited: Vec<&String> = victim_shards.iter().map(|s| &namespaces[s]).collect();
    let aws = aws_sdk_ecs::Client::new(&sb.aws_config().await);
    edit_converges(&sb, &aws, &edited, "yes").await;
    let since_kill = writers(&proxies, &namespaces, killed_at_ms);
    for shard in &victim_shards {
        let ns = &namespaces[shard];
        let expected = BTreeSet::from([after[shard].clone()]);
        assert_eq!(
            since_kill.get(ns),
            Some(&expected),
            "AWS writers of {ns} (shard {shard}) after the takeover"
        );
    }

    // A replica joins: a and b, above their share, each give a shard up (fence first,
    // then the lease, once writes in flight are over) and the new one takes them.
    let joiner = "replica-d";
    proxies.insert(joiner, FaultProxy::start(&sb, joiner, &json!({}), 4));
    operators.insert(joiner, start_replica(&sb, joiner, &proxies[joiner], SHARDS));
    let joined_at = Instant::now();
    let members = ["replica-a", "replica-b", joiner];
    let rebalanced = eventually(
        "the shards to settle at 2 per replica after a join",
        Duration::from_secs(30),
        || async {
            let h = holders(&leases).await;
            settled(&h, &members, Some(2)).then_some(h)
        },
    )
    .await;
    eprintln!(
        "rebalanced after {joiner} joined in {:?}: {rebalanced:?}",
        joined_at.elapsed()
    );
    let moved: Vec<u32> = rebalanced
        .iter()
        .filter(|(_, h)| *h == joiner)
        .map(|(s, _)| *s)
        .collect();
    let moved_ns: Vec<&String> = moved.iter().map(|s| &namespaces[s]).collect();
    let edit_at_ms = jiff::Timestamp::now().as_millisecond();
    edit_converges(&sb, &aws, &moved_ns, "joined").await;
    let since_edit = writers(&proxies, &namespaces, edit_at_ms);
    for ns in &moved_ns {
        assert_eq!(
            since_edit.get(*ns),
            Some(&BTreeSet::from([joiner.to_string()])),
            "AWS writers of {ns} after it moved to {joiner}"
        );
    }
    for giver in ["replica-a", "replica-b"] {
        assert!(
            operators[giver].log_text().contains("released shard"),
            "{giver} logs the shard it gave up"
        );
    }

    // A clean stop (SIGTERM) hands the shards over at once, without waiting for the
    // leases to expire, and leaves no membership Lease behind.
    let stopped_at = Instant::now();
    let exit = operators.get_mut(joiner).expect("joiner").terminate();
    assert!(
        exit.success(),
        "SIGTERM stops a sharded replica cleanly: {exit:?}"
    );
    let handed = loop {
        let h = holders(&leases).await;
        if settled(&h, &survivors, None) {
            break stopped_at.elapsed();
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(30),
            "the stopped replica's shards were not taken over: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("hand-over after SIGTERM: {handed:?}");
    let member = leases
        .get_opt(&format!("ecs-operator-leader-member-{joiner}"))
        .await
        .expect("get lease");
    assert!(
        member.is_none(),
        "the stopped replica's membership Lease is deleted"
    );

    // A replica with another shard count (as in a rollout changing --shards) takes no
    // shard while replicas of the old count live: shard numbers mean other namespaces
    // to it. With 8 shards, shard Leases 6 and 7 are free for it, yet it waits.
    let other = "replica-e";
    proxies.insert(other, FaultProxy::start(&sb, other, &json!({}), 5));
    operators.insert(other, start_replica(&sb, other, &proxies[other], 8));
    eventually(
        "the replica with --shards 8 to see the others",
        Duration::from_secs(30),
        || async {
            operators[other]
                .log_text()
                .contains("another --shards")
                .then_some(())
        },
    )
    .await;
    let list = leases.list(&ListParams::default()).await.expect("leases");
    let taken: Vec<String> = list
        .items
        .iter()
        .filter(|l| {
            l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(other)
                && l.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.contains("-shard-"))
        })
        .filter_map(|l| l.metadata.name.clone())
        .collect();
    assert!(taken.is_empty(), "{other} took shards: {taken:?}");
    assert!(
        proxies[other]
            .record()
            .iter()
            .all(|c| c["mutating"] != json!(true)),
        "{other} wrote to AWS"
    );
    operators.get_mut(other).expect("other").kill();

    // No double write: one create per AWS resource across all replicas.
    let mut creates: BTreeMap<String, usize> = BTreeMap::new();
    for proxy in proxies.values() {
        for call in proxy.record() {
            let op = call["operation"].as_str().unwrap_or_default();
            if ["CreateService", "CreateCluster", "RegisterTaskDefinition"].contains(&op) {
                let resource = call["resource"].as_str().unwrap_or_default();
                *creates.entry(format!("{op} {resource}")).or_default() += 1;
            }
        }
    }
    assert_eq!(
        creates.len(),
        namespaces.len() * 4,
        "one cluster, one task definition and two services per namespace: {creates:?}"
    );
    assert!(
        creates.values().all(|n| *n == 1),
        "duplicate creates: {creates:?}"
    );
    for (replica, op) in &operators {
        if *replica != victim && *replica != other {
            assert!(
                op.log_text().contains("acquired shard"),
                "{replica} logs its shards"
            );
        }
    }
}
