//! The controllers' reflector caches, shared with every reconcile: the objects a reconcile
//! depends on (its EcsCluster, its EcsTaskDef, the services of a namespace) are read from
//! them, never fetched from the API server.

use std::sync::{Arc, RwLock};

use futures::FutureExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;

use super::error::Error;

use crate::api::{EcsCluster, EcsService, EcsTaskDef};

/// The stores of every watched scope (all namespaces, or one per watched namespace).
#[derive(Default)]
pub struct Stores {
    clusters: RwLock<Vec<Store<EcsCluster>>>,
    task_defs: RwLock<Vec<Store<EcsTaskDef>>>,
    services: RwLock<Vec<Store<EcsService>>>,
}

/// Read the stores of one kind (a poisoned lock only means a panicking writer; the list
/// itself is still whole).
fn stores_of<K: kube::Resource<DynamicType = ()> + Clone>(
    lock: &RwLock<Vec<Store<K>>>,
) -> Vec<Store<K>> {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The stores that hold their first full list, or an error while one is still loading, so
/// that "not in the cache" always means "does not exist", never "not listed yet".
///
/// Readiness is polled once, not awaited: a reconcile must never hang on a cache; it is
/// retried shortly instead.
fn ready<K>(stores: &[Store<K>]) -> Result<Vec<Store<K>>, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let mut out = Vec::new();
    for s in stores {
        match s.wait_until_ready().now_or_never() {
            Some(Ok(())) => out.push(s.clone()),
            // A dropped writer means the controllers are shutting down: nothing to read.
            Some(Err(_)) => {}
            None => {
                return Err(Error::WaitingForDependency(
                    "the operator's caches of Kubernetes objects are still loading".into(),
                ))
            }
        }
    }
    Ok(out)
}

fn get<K>(
    lock: &RwLock<Vec<Store<K>>>,
    namespace: &str,
    name: &str,
) -> Result<Option<Arc<K>>, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let key = ObjectRef::new(name).within(namespace);
    Ok(ready(&stores_of(lock))?.iter().find_map(|s| s.get(&key)))
}

fn in_namespace<K>(lock: &RwLock<Vec<Store<K>>>, namespace: &str) -> Result<Vec<Arc<K>>, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    Ok(ready(&stores_of(lock))?
        .iter()
        .flat_map(|s| s.state_filter(|o| o.namespace().as_deref() == Some(namespace)))
        .collect())
}

impl Stores {
    /// Add the EcsCluster store of one watched scope.
    pub fn add_clusters(&self, store: Store<EcsCluster>) {
        self.clusters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
    }

    /// Add the EcsTaskDef store of one watched scope.
    pub fn add_task_defs(&self, store: Store<EcsTaskDef>) {
        self.task_defs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
    }

    /// Add the EcsService store of one watched scope.
    pub fn add_services(&self, store: Store<EcsService>) {
        self.services
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
    }

    /// The EcsCluster `name` of `namespace`, if it exists.
    pub fn cluster(&self, namespace: &str, name: &str) -> Result<Option<Arc<EcsCluster>>, Error> {
        get(&self.clusters, namespace, name)
    }

    /// The EcsTaskDef `name` of `namespace`, if it exists.
    pub fn task_def(&self, namespace: &str, name: &str) -> Result<Option<Arc<EcsTaskDef>>, Error> {
        get(&self.task_defs, namespace, name)
    }

    /// Every EcsCluster of `namespace`.
    pub fn clusters_in(&self, namespace: &str) -> Result<Vec<Arc<EcsCluster>>, Error> {
        in_namespace(&self.clusters, namespace)
    }

    /// Every EcsService of every watched scope.
    pub fn all_services(&self) -> Result<Vec<Arc<EcsService>>, Error> {
        Ok(ready(&stores_of(&self.services))?
            .iter()
            .flat_map(|s| s.state())
            .collect())
    }

    /// Every EcsCluster of every watched scope.
    pub fn all_clusters(&self) -> Result<Vec<Arc<EcsCluster>>, Error> {
        Ok(ready(&stores_of(&self.clusters))?
            .iter()
            .flat_map(|s| s.state())
            .collect())
    }

    /// Every EcsTaskDef of every watched scope.
    pub fn all_task_defs(&self) -> Result<Vec<Arc<EcsTaskDef>>, Error> {
        Ok(ready(&stores_of(&self.task_defs))?
            .iter()
            .flat_map(|s| s.state())
            .collect())
    }

    /// Every EcsService of `namespace`.
    pub fn services_in(&self, namespace: &str) -> Result<Vec<Arc<EcsService>>, Error> {
        in_namespace(&self.services, namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    fn cluster(ns: &str, name: &str) -> EcsCluster {
        let mut c = EcsCluster::new(name, Default::default());
        c.metadata.namespace = Some(ns.into());
        c
    }

    #[test]
    fn lookups_span_every_scope_and_stay_in_the_namespace() {
        let stores = Stores::default();
        for objects in [vec![cluster("a", "one")], vec![cluster("b", "two")]] {
            let (reader, mut writer) = reflector::store();
            writer.apply_watcher_event(&Event::Init);
            for o in objects {
                writer.apply_watcher_event(&Event::InitApply(o));
            }
            writer.apply_watcher_event(&Event::InitDone);
            stores.add_clusters(reader);
        }
        let found = |ns, name| stores.cluster(ns, name).ok().flatten().is_some();
        assert!(found("a", "one"));
        assert!(found("b", "two"));
        assert!(!found("a", "two"));
        assert_eq!(stores.clusters_in("b").map(|c| c.len()).ok(), Some(1));
        assert!(stores.services_in("a").is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn a_store_still_loading_is_an_error_not_an_empty_answer() {
        let stores = Stores::default();
        let (reader, _writer) = reflector::store::<EcsCluster>();
        stores.add_clusters(reader);
        let e = stores.cluster("a", "one").expect_err("not ready");
        assert!(matches!(e, Error::WaitingForDependency(_)), "{e}");
        assert!(stores.clusters_in("a").is_err());
    }
}
