//! `ecs-operator diff`: what the operator would do in AWS for some manifests. Each object
//! goes through its kind's real `sync` — the reconciler's own observe → plan → act code —
//! against AWS clients whose writes are only recorded ([`crate::aws::dry_run`]), so the
//! preview cannot drift from what the operator does. Read-only: AWS reads, and (unless
//! offline) Kubernetes reads of the live objects' status and of dependencies missing from
//! the input.
//!
//! Deletions are previewed only where the input says so: what a sync itself removes
//! (capacity dropped from a spec, revisions beyond `revisionHistoryLimit`, a replaced
//! managed ELB). An object missing from the input may simply live in another file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kube::ResourceExt;
use serde::Deserialize;

use crate::api::cluster::EcsCluster;
use crate::api::common::{ADOPT_ANNOTATION, PAUSED_ANNOTATION};
use crate::api::service::EcsService;
use crate::api::task_def::EcsTaskDef;
use crate::aws::dry_run::{dry_run_clients, DryRunLog, PlannedWrite};
use crate::aws::{AwsClients, AwsProvider};
use crate::planning::drift::Drift;
use crate::planning::ownership::owner_value;
use crate::reconciler::managed::{AwsContext, ManagedResource, Synced};
use crate::reconciler::service::ServiceDeps;
use crate::reconciler::task_def::{known_clusters, revisions_in_use, TaskDefDeps};

/// The objects of the input, by kind (other kinds are refused).
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// EcsClusters.
    pub clusters: Vec<EcsCluster>,
    /// EcsTaskDefs.
    pub task_defs: Vec<EcsTaskDef>,
    /// EcsServices.
    pub services: Vec<EcsService>,
}

#[derive(Deserialize)]
struct TypeMeta {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

/// Parse a YAML stream (documents separated by `---`; `kind: List` items too). Objects
/// without a namespace get `namespace`. Empty documents are skipped.
pub fn parse_manifests(text: &str, namespace: &str) -> Result<Manifests, String> {
    let mut out = Manifests::default();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value =
            serde_yaml::Value::deserialize(doc).map_err(|e| format!("document {}: {e}", i + 1))?;
        add_value(&mut out, value, namespace, i + 1)?;
    }
    Ok(out)
}

fn add_value(
    out: &mut Manifests,
    value: serde_yaml::Value,
    namespace: &str,
    doc: usize,
) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let meta: TypeMeta =
        serde_yaml::from_value(value.clone()).map_err(|e| format!("document {doc}: {e}"))?;
    if meta.kind == "List" {
        let items = value
            .get("items")
            .and_then(|i| i.as_sequence())
            .cloned()
            .unwrap_or_default();
        for item in items {
            add_value(out, item, namespace, doc)?;
        }
        return Ok(());
    }
    if meta.api_version != "ecsoperator.io/v1alpha1" {
        return Err(format!(
            "document {doc}: {} {} is not an ecs-operator object (ecsoperator.io/v1alpha1)",
            meta.api_version, meta.kind
        ));
    }
    let bad = |e: serde_yaml::Error| format!("document {doc} ({}): {e}", meta.kind);
    match meta.kind.as_str() {
        "EcsCluster" => out.clusters.push(with_namespace(
            serde_yaml::from_value(value).map_err(bad)?,
            namespace,
        )),
        "EcsTaskDef" => out.task_defs.push(with_namespace(
            serde_yaml::from_value(value).map_err(bad)?,
            namespace,
        )),
        "EcsService" => out.services.push(with_namespace(
            serde_yaml::from_value(value).map_err(bad)?,
            namespace,
        )),
        other => return Err(format!("document {doc}: unknown kind {other}")),
    }
    Ok(())
}

fn with_namespace<K: kube::Resource>(mut obj: K, namespace: &str) -> K {
    if obj.meta().namespace.is_none() {
        obj.meta_mut().namespace = Some(namespace.to_string());
    }
    obj
}

/// Objects of the input by (namespace, name), with what their preview left for services:
/// an ECS cluster ARN, or a task definition's (family, ARN); the error if none.
type Resolved<T> = BTreeMap<(String, String), Result<T, String>>;

/// What the operator would do for one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    /// The AWS writes, in order.
    pub writes: Vec<PlannedWrite>,
    /// Fields of existing resources that would change, old → new.
    pub drift: Vec<Drift>,
    /// Why nothing is done (a paused object), or other things worth saying.
    pub remarks: Vec<String>,
}

/// The preview of one object, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectDiff {
    /// Kind.
    pub kind: &'static str,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The preview, or the error that prevents one.
    pub outcome: Result<Preview, String>,
}

/// The report, one block per object.
pub fn format_report(diffs: &[ObjectDiff]) -> String {
    let mut out = String::new();
    for d in diffs {
        let head = format!("{} {}/{}", d.kind, d.namespace, d.name);
        match &d.outcome {
            Err(e) => out.push_str(&format!("{head}: error: {e}\n")),
            Ok(p) if p.writes.is_empty() => {
                out.push_str(&format!("{head}: no changes\n"));
                for r in &p.remarks {
                    out.push_str(&format!("  · {r}\n"));
                }
            }
            Ok(p) => {
                let n = p.writes.len();
                out.push_str(&format!(
                    "{head}: {n} AWS write{}\n",
                    if n == 1 { "" } else { "s" }
                ));
                for r in &p.remarks {
                    out.push_str(&format!("  · {r}\n"));
                }
                for drift in &p.drift {
                    out.push_str(&format!("  ~ {} {drift}\n", drift.resource));
                }
                for w in &p.writes {
                    out.push_str(&format!("  > {}: {}\n", w.operation, w.summary));
                }
            }
        }
    }
    out
}

/// 0: nothing to change; 1: changes; 2: an object could not be previewed.
pub fn exit_code(diffs: &[ObjectDiff]) -> u8 {
    if diffs.iter().any(|d| d.outcome.is_err()) {
        2
    } else if diffs
        .iter()
        .any(|d| d.outcome.as_ref().is_ok_and(|p| !p.writes.is_empty()))
    {
        1
    } else {
        0
    }
}

/// Where live objects come from: Kubernetes, or nowhere (offline).
#[derive(Clone, Default)]
pub struct Live {
    client: Option<kube::Client>,
}

impl Live {
    /// Read live objects with `client`.
    pub fn kubernetes(client: kube::Client) -> Self {
        Self {
            client: Some(client),
        }
    }

    /// No Kubernetes: every dependency must be in the input.
    pub fn offline() -> Self {
        Self::default()
    }

    async fn get<K>(&self, namespace: &str, name: &str) -> Result<Option<K>, String>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        kube::Api::<K>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| format!("reading {namespace}/{name} from Kubernetes: {e}"))
    }
}

/// The dry-run clients of each region, sharing one log per region so that what one object
/// would create (a cluster) is known to the next (its services).
struct DryRegions<'a> {
    provider: &'a dyn AwsProvider,
    regions: HashMap<String, (AwsClients, Arc<DryRunLog>)>,
}

impl DryRegions<'_> {
    fn clients(&mut self, region: Option<&str>) -> (AwsClients, Arc<DryRunLog>) {
        let region = region
            .map(str::to_string)
            .unwrap_or_else(|| self.provider.default_region());
        self.regions
            .entry(region.clone())
            .or_insert_with(|| {
                let log = Arc::new(DryRunLog::new(&region));
                (
                    dry_run_clients(self.provider.clients(Some(&region)), log.clone()),
                    log,
                )
            })
            .clone()
    }
}

/// The input object as the operator would see it: with the live object's status (what
/// the operator recorded: applied tag keys, the last revision, owned ELBs) and identity.
async fn as_the_operator_sees<K>(obj: &K, live: &Live) -> Result<K, String>
where
    K: ManagedResource,
{
    let ns = obj.namespace().unwrap_or_default();
    let Some(current) = live.get::<K>(&ns, &obj.name_any()).await? else {
        return Ok(obj.clone());
    };
    // The status is the live object's; spec and annotations are the input's.
    let mut merged = current.clone();
    *merged.meta_mut() = obj.meta().clone();
    merged.meta_mut().uid = current.meta().uid.clone();
    let mut value = serde_json::to_value(&merged).map_err(|e| e.to_string())?;
    let spec = serde_json::to_value(obj)
        .map_err(|e| e.to_string())?
        .get("spec")
        .cloned()
        .unwrap_or_default();
    value["spec"] = spec;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Run one object's sync in the dry run.
async fn preview<K: ManagedResource>(
    obj: &K,
    deps: &K::Deps,
    aws: (AwsClients, Arc<DryRunLog>),
    cluster_id: &str,
) -> (Result<Preview, String>, Option<Synced<K::Status>>) {
    let annotated = |key: &str| {
        obj.annotations()
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    if annotated(PAUSED_ANNOTATION) {
        let remark = format!("paused ({PAUSED_ANNOTATION}): the operator changes nothing");
        return (
            Ok(Preview {
                remarks: vec![remark],
                ..Default::default()
            }),
            None,
        );
    }
    let (clients, log) = aws;
    let ns = obj.namespace().unwrap_or_default();
    let cx = AwsContext::new(
        clients,
        owner_value(cluster_id, &ns, K::KIND, &obj.name_any()),
        annotated(ADOPT_ANNOTATION),
        cluster_id.to_string(),
    );
    // Whatever an earlier failed object left in the log is not this one's.
    let _ = log.take();
    let result = obj.sync(deps, &cx).await;
    let writes = log.take();
    match result {
        Ok(synced) => {
            let remarks = synced
                .notes
                .iter()
                .filter(|n| n.reason == "Adopted")
                .map(|n| {
                    let what = n.message.strip_prefix("adopted ").unwrap_or(&n.message);
                    format!("would adopt {what}")
                })
                .collect();
            (
                Ok(Preview {
                    writes,
                    drift: synced.drift.clone(),
                    remarks,
                }),
                Some(synced),
            )
        }
        Err(e) => (Err(e.to_string()), None),
    }
}

/// Preview every object: clusters, then task definitions, then services (whose
/// dependencies come from the first two, else from the live objects).
pub async fn diff(
    manifests: &Manifests,
    provider: &dyn AwsProvider,
    cluster_id: &str,
    live: &Live,
) -> Vec<ObjectDiff> {
    let mut regions = DryRegions {
        provider,
        regions: HashMap::new(),
    };
    let mut out = Vec::new();
    // (namespace, name) → ECS cluster ARN / task definition (family, ARN).
    let mut cluster_arns: Resolved<String> = BTreeMap::new();
    let mut task_defs: Resolved<(String, String)> = BTreeMap::new();

    let mut services = Vec::new();
    for s in &manifests.services {
        let key = (s.namespace().unwrap_or_default(), s.name_any());
        services.push((key, as_the_operator_sees(s, live).await));
    }
    let known_services: Vec<EcsService> = services
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok().cloned())
        .collect();

    for c in &manifests.clusters {
        let key = (c.namespace().unwrap_or_default(), c.name_any());
        let (outcome, synced) = match as_the_operator_sees(c, live).await {
            Ok(c) => {
                let aws = regions.clients(c.spec.region.as_deref());
                preview(&c, &(), aws, cluster_id).await
            }
            Err(e) => (Err(e), None),
        };
        let arn = synced
            .and_then(|s| s.status.cluster_arn)
            .ok_or_else(|| format!("EcsCluster {} could not be previewed", key.1));
        cluster_arns.insert(key.clone(), arn);
        out.push(object_diff("EcsCluster", key, outcome));
    }
    for t in &manifests.task_defs {
        let key = (t.namespace().unwrap_or_default(), t.name_any());
        let (outcome, synced) = match as_the_operator_sees(t, live).await {
            Ok(t) => {
                let deps = if t.spec.revision_history_limit.is_some() {
                    let in_ns: Vec<EcsService> = known_services
                        .iter()
                        .filter(|s| s.namespace() == t.namespace())
                        .cloned()
                        .collect();
                    TaskDefDeps {
                        in_use: revisions_in_use(&in_ns, &t.name_any(), &t.family()),
                        clusters: known_clusters(&in_ns, &manifests.clusters),
                    }
                } else {
                    TaskDefDeps::default()
                };
                let aws = regions.clients(t.spec.region.as_deref());
                preview(&t, &deps, aws, cluster_id).await
            }
            Err(e) => (Err(e), None),
        };
        let arn = synced
            .and_then(|s| s.status.task_definition_arn)
            .map(|arn| (t.family(), arn))
            .ok_or_else(|| format!("EcsTaskDef {} could not be previewed", key.1));
        task_defs.insert(key.clone(), arn);
        out.push(object_diff("EcsTaskDef", key, outcome));
    }
    for (key, s) in services {
        let outcome = match s {
            Ok(s) => match service_deps(&s, &cluster_arns, &task_defs, live).await {
                Ok(deps) => {
                    let aws = regions.clients(s.spec.region.as_deref());
                    preview(&s, &deps, aws, cluster_id).await.0
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        out.push(object_diff("EcsService", key, outcome));
    }
    out
}

fn object_diff(
    kind: &'static str,
    (namespace, name): (String, String),
    outcome: Result<Preview, String>,
) -> ObjectDiff {
    ObjectDiff {
        kind,
        namespace,
        name,
        outcome,
    }
}

/// An EcsService's ECS cluster and task definition: from the input's objects as the dry
/// run left them, else from the live objects' status (as the reconciler's dereference
/// reads them).
async fn service_deps(
    s: &EcsService,
    cluster_arns: &Resolved<String>,
    task_defs: &Resolved<(String, String)>,
    live: &Live,
) -> Result<ServiceDeps, String> {
    let ns = s.namespace().unwrap_or_default();
    let cluster = match (&s.spec.cluster, &s.spec.cluster_ref) {
        (Some(c), _) => c.clone(),
        (None, Some(r)) => match cluster_arns.get(&(ns.clone(), r.name.clone())) {
            Some(arn) => arn.clone()?,
            None => live
                .get::<EcsCluster>(&ns, &r.name)
                .await?
                .and_then(|c| c.status.and_then(|st| st.cluster_arn))
                .ok_or_else(|| {
                    format!(
                        "EcsCluster {} is neither in the input nor (with an ARN in its status) \
                         in Kubernetes",
                        r.name
                    )
                })?,
        },
        (None, None) => return Err("set clusterRef or cluster".into()),
    };
    let task_definition = match (&s.spec.task_definition, &s.spec.task_def_ref) {
        (Some(t), _) => t.clone(),
        (None, Some(r)) => {
            let (family, arn) = match task_defs.get(&(ns.clone(), r.name.clone())) {
                Some(found) => found.clone()?,
                None => {
                    let td = live.get::<EcsTaskDef>(&ns, &r.name).await?.ok_or_else(|| {
                        format!(
                            "EcsTaskDef {} is neither in the input nor in Kubernetes",
                            r.name
                        )
                    })?;
                    let arn = td
                        .status
                        .as_ref()
                        .and_then(|st| st.task_definition_arn.clone())
                        .ok_or_else(|| {
                            format!("EcsTaskDef {} has no registered revision yet", r.name)
                        })?;
                    (td.family(), arn)
                }
            };
            match r.revision {
                Some(rev) => format!("{family}:{rev}"),
                None => arn,
            }
        }
        (None, None) => return Err("set taskDefRef or taskDefinition".into()),
    };
    Ok(ServiceDeps {
        cluster,
        task_definition,
    })
}

/// The input text: a file, every `.yaml`/`.yml`/`.json` file of a directory (sorted), or
/// stdin for `-`.
pub fn read_input(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    if path == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    let p = std::path::Path::new(path);
    if !p.is_dir() {
        return std::fs::read_to_string(p);
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            f.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
                && f.file_name().and_then(|n| n.to_str()) != Some("kustomization.yaml")
        })
        .collect();
    files.sort();
    let mut text = String::new();
    for f in files {
        text.push_str("\n---\n");
        text.push_str(&std::fs::read_to_string(f)?);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::drift::Resource;

    #[test]
    fn manifests_parse_by_kind_with_a_default_namespace() {
        let text = r#"
apiVersion: ecsoperator.io/v1alpha1
kind: EcsCluster
metadata: {name: c}
spec: {}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: ecsoperator.io/v1alpha1
  kind: EcsTaskDef
  metadata: {name: t, namespace: other}
  spec:
    containerDefinitions: [{name: web, image: nginx}]
"#;
        let m = parse_manifests(text, "default").unwrap();
        assert_eq!(m.clusters.len(), 1);
        assert_eq!(m.clusters[0].namespace().as_deref(), Some("default"));
        assert_eq!(m.task_defs[0].namespace().as_deref(), Some("other"));
        assert!(parse_manifests("apiVersion: v1\nkind: ConfigMap\n", "d").is_err());
        assert!(parse_manifests(
            "apiVersion: ecsoperator.io/v1alpha1\nkind: EcsGadget\n",
            "d"
        )
        .is_err());
    }

    fn diff(outcome: Result<Preview, String>) -> ObjectDiff {
        ObjectDiff {
            kind: "EcsService",
            namespace: "ns".into(),
            name: "web".into(),
            outcome,
        }
    }

    #[test]
    fn the_report_names_fields_old_to_new_and_the_calls() {
        let change = Preview {
            writes: vec![PlannedWrite {
                operation: "ecs:UpdateService",
                summary: "update ECS service web: desiredCount 2".into(),
            }],
            drift: vec![Drift::new(Resource::EcsService, "desiredCount", "4", "2")],
            remarks: vec![],
        };
        let report = format_report(&[diff(Ok(change.clone())), diff(Ok(Preview::default()))]);
        assert_eq!(
            report,
            "EcsService ns/web: 1 AWS write\n\
             \x20 ~ ECS service desiredCount 4 → 2\n\
             \x20 > ecs:UpdateService: update ECS service web: desiredCount 2\n\
             EcsService ns/web: no changes\n"
        );
        assert_eq!(exit_code(&[diff(Ok(Preview::default()))]), 0);
        assert_eq!(exit_code(&[diff(Ok(change.clone()))]), 1);
        assert_eq!(exit_code(&[diff(Ok(change)), diff(Err("boom".into()))]), 2);
        assert_eq!(
            format_report(&[diff(Err("boom".into()))]),
            "EcsService ns/web: error: boom\n"
        );
    }
}
