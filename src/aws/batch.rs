//! Batched reads across objects: DescribeServices calls of concurrent reconciles for the
//! same cluster are coalesced into one call of up to 10 names, DescribeClusters calls into
//! one of up to 100, so a resync of many objects stays far below the read buckets.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::types::*;
use super::{AwsError, AwsErrorKind, EcsApi, DESCRIBE_CLUSTERS_MAX, DESCRIBE_SERVICES_MAX};

type Reply<T> = oneshot::Sender<Result<Vec<T>, AwsError>>;

struct Batch<T> {
    names: BTreeSet<String>,
    waiters: Vec<Reply<T>>,
}

/// Open batches by key (the cluster for services, one key for clusters).
struct Batches<T> {
    max: usize,
    open: Mutex<HashMap<String, Arc<Mutex<Batch<T>>>>>,
}

enum Joined<T> {
    /// This caller opened the batch and sends it after the window.
    Leader(Arc<Mutex<Batch<T>>>),
    /// Another caller sends it; the result arrives here.
    Follower(oneshot::Receiver<Result<Vec<T>, AwsError>>),
}

impl<T: Clone> Batches<T> {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn join(&self, key: &str, names: &[String]) -> Joined<T> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(batch) = open.get(key) {
            let mut b = batch.lock().unwrap_or_else(|p| p.into_inner());
            let added = names.iter().filter(|n| !b.names.contains(*n)).count();
            if b.names.len() + added <= self.max {
                b.names.extend(names.iter().cloned());
                let (tx, rx) = oneshot::channel();
                b.waiters.push(tx);
                return Joined::Follower(rx);
            }
        }
        let batch = Arc::new(Mutex::new(Batch {
            names: names.iter().cloned().collect(),
            waiters: Vec::new(),
        }));
        open.insert(key.to_string(), batch.clone());
        Joined::Leader(batch)
    }

    /// Close the batch to newcomers and take its names and waiters.
    fn close(&self, key: &str, batch: &Arc<Mutex<Batch<T>>>) -> (Vec<String>, Vec<Reply<T>>) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.get(key).is_some_and(|b| Arc::ptr_eq(b, batch)) {
            open.remove(key);
        }
        let mut b = batch.lock().unwrap_or_else(|p| p.into_inner());
        (
            b.names.iter().cloned().collect(),
            std::mem::take(&mut b.waiters),
        )
    }
}

async fn follower_result<T>(
    rx: oneshot::Receiver<Result<Vec<T>, AwsError>>,
    operation: &'static str,
) -> Result<Vec<T>, AwsError> {
    rx.await.unwrap_or_else(|_| {
        Err(AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "BatchAborted",
            "the batched call was cancelled",
        ))
    })
}

/// An [`EcsApi`] that batches DescribeServices and DescribeClusters and passes every other
/// call through.
pub struct BatchingEcs {
    inner: Arc<dyn EcsApi>,
    window: Duration,
    services: Batches<ServiceInfo>,
    clusters: Batches<ClusterInfo>,
}

impl BatchingEcs {
    /// Batch calls arriving within `window` of the first one.
    pub fn new(inner: Arc<dyn EcsApi>, window: Duration) -> Self {
        Self {
            inner,
            window,
            services: Batches::new(DESCRIBE_SERVICES_MAX),
            clusters: Batches::new(DESCRIBE_CLUSTERS_MAX),
        }
    }
}

fn only<T, F: Fn(&T) -> &str>(items: &[T], names: &[String], name_of: F) -> Vec<T>
where
    T: Clone,
{
    items
        .iter()
        .filter(|i| names.iter().any(|n| n == name_of(i)))
        .cloned()
        .collect()
}

fn service_matches(s: &ServiceInfo) -> &str {
    &s.name
}

fn cluster_matches(c: &ClusterInfo) -> &str {
    &c.name
}

#[async_trait]
impl EcsApi for BatchingEcs {
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError> {
        if names.len() > DESCRIBE_CLUSTERS_MAX {
            return self.inner.describe_clusters(names).await;
        }
        match self.clusters.join("", names) {
            Joined::Follower(rx) => {
                let all = follower_result(rx, "ecs:DescribeClusters").await?;
                Ok(only(&all, names, cluster_matches))
            }
            Joined::Leader(batch) => {
                tokio::time::sleep(self.window).await;
                let (all_names, waiters) = self.clusters.close("", &batch);
                let result = self.inner.describe_clusters(&all_names).await;
                for w in waiters {
                    let _ = w.send(result.clone());
                }
                Ok(only(&result?, names, cluster_matches))
            }
        }
    }

    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        if names.len() > DESCRIBE_SERVICES_MAX {
            return self.inner.describe_services(cluster, names).await;
        }
        match self.services.join(cluster, names) {
            Joined::Follower(rx) => {
                let all = follower_result(rx, "ecs:DescribeServices").await?;
                Ok(only(&all, names, service_matches))
            }
            Joined::Leader(batch) => {
                tokio::time::sleep(self.window).await;
                let (all_names, waiters) = self.services.close(cluster, &batch);
                let result = self.inner.describe_services(cluster, &all_names).await;
                for w in waiters {
                    let _ = w.send(result.clone());
                }
                Ok(only(&result?, names, service_matches))
            }
        }
    }

    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<ClusterInfo, AwsError> {
        self.inner.create_cluster(name, tags).await
    }
    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        self.inner.delete_cluster(name).await
    }
    async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.inner.tag_resource(arn, tags).await
    }
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.inner.untag_resource(arn, keys).await
    }
    async fn register_task_definition(
        &self,
        input: &RegisterTaskDefinitionInput,
    ) -> Result<TaskDefRevision, AwsError> {
        self.inner.register_task_definition(input).await
    }
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<TaskDefRevision>, AwsError> {
        self.inner.describe_task_definition(task_definition).await
    }
    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        self.inner.list_task_definitions(family).await
    }
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        self.inner.list_services(cluster).await
    }
    async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError> {
        self.inner.list_active_task_definitions().await
    }
    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError> {
        self.inner.deregister_task_definition(arn).await
    }
    async fn create_service(&self, input: &CreateServiceInput) -> Result<ServiceInfo, AwsError> {
        self.inner.create_service(input).await
    }
    async fn update_service(&self, input: &UpdateServiceInput) -> Result<ServiceInfo, AwsError> {
        self.inner.update_service(input).await
    }
    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        self.inner.delete_service(cluster, name).await
    }
    async fn describe_capacity_providers(
        &self,
        names: &[String],
    ) -> Result<Vec<CapacityProvider>, AwsError> {
        self.inner.describe_capacity_providers(names).await
    }
    async fn create_capacity_provider(
        &self,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError> {
        self.inner.create_capacity_provider(input).await
    }
    async fn update_capacity_provider(
        &self,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError> {
        self.inner.update_capacity_provider(name, settings).await
    }
    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError> {
        self.inner.delete_capacity_provider(name).await
    }
    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError> {
        self.inner
            .put_cluster_capacity_providers(cluster, providers, default_strategy)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers describes with one item per asked name and counts the calls.
    #[derive(Default)]
    struct Counting {
        service_calls: Mutex<Vec<Vec<String>>>,
        cluster_calls: AtomicUsize,
    }

    fn unused<T>() -> Result<T, AwsError> {
        Err(AwsError::new(
            AwsErrorKind::InvalidInput,
            "test",
            "Unused",
            "not used by these tests",
        ))
    }

    #[async_trait]
    impl EcsApi for Counting {
        async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError> {
            self.cluster_calls.fetch_add(1, Ordering::SeqCst);
            Ok(names
                .iter()
                .map(|n| ClusterInfo {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect())
        }
        async fn describe_services(
            &self,
            _cluster: &str,
            names: &[String],
        ) -> Result<Vec<ServiceInfo>, AwsError> {
            self.service_calls.lock().unwrap().push(names.to_vec());
            Ok(names
                .iter()
                .map(|n| ServiceInfo {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect())
        }
        async fn create_cluster(&self, _: &str, _: &Tags) -> Result<ClusterInfo, AwsError> {
            unused()
        }
        async fn delete_cluster(&self, _: &str) -> Result<(), AwsError> {
            unused()
        }
        async fn tag_resource(&self, _: &str, _: &Tags) -> Result<(), AwsError> {
            unused()
        }
        async fn untag_resource(&self, _: &str, _: &[String]) -> Result<(), AwsError> {
            unused()
        }
        async fn register_task_definition(
            &self,
            _: &RegisterTaskDefinitionInput,
        ) -> Result<TaskDefRevision, AwsError> {
            unused()
        }
        async fn describe_task_definition(
            &self,
            _: &str,
        ) -> Result<Option<TaskDefRevision>, AwsError> {
            unused()
        }
        async fn list_task_definitions(&self, _: &str) -> Result<Vec<String>, AwsError> {
            unused()
        }
        async fn list_services(&self, _: &str) -> Result<Vec<String>, AwsError> {
            unused()
        }
        async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError> {
            unused()
        }
        async fn deregister_task_definition(&self, _: &str) -> Result<(), AwsError> {
            unused()
        }
        async fn create_service(&self, _: &CreateServiceInput) -> Result<ServiceInfo, AwsError> {
            unused()
        }
        async fn update_service(&self, _: &UpdateServiceInput) -> Result<ServiceInfo, AwsError> {
            unused()
        }
        async fn delete_service(&self, _: &str, _: &str) -> Result<(), AwsError> {
            unused()
        }
        async fn describe_capacity_providers(
            &self,
            _: &[String],
        ) -> Result<Vec<CapacityProvider>, AwsError> {
            unused()
        }
        async fn create_capacity_provider(
            &self,
            _: &CreateCapacityProviderInput,
        ) -> Result<CapacityProvider, AwsError> {
            unused()
        }
        async fn update_capacity_provider(
            &self,
            _: &str,
            _: &CapacityProviderSettings,
        ) -> Result<CapacityProvider, AwsError> {
            unused()
        }
        async fn delete_capacity_provider(&self, _: &str) -> Result<(), AwsError> {
            unused()
        }
        async fn put_cluster_capacity_providers(
            &self,
            _: &str,
            _: &[String],
            _: &[StrategyItem],
        ) -> Result<ClusterInfo, AwsError> {
            unused()
        }
    }

    #[tokio::test]
    async fn concurrent_describes_of_one_cluster_share_calls_of_at_most_ten() {
        let inner = Arc::new(Counting::default());
        let batching = Arc::new(BatchingEcs::new(inner.clone(), Duration::from_millis(30)));
        let mut tasks = Vec::new();
        for i in 0..25 {
            let b = batching.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("svc-{i}");
                let got = b
                    .describe_services("c1", std::slice::from_ref(&name))
                    .await
                    .unwrap();
                assert_eq!(got.len(), 1);
                assert_eq!(got[0].name, name, "each caller gets only its own service");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let calls = inner.service_calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert!(calls.iter().all(|c| c.len() <= DESCRIBE_SERVICES_MAX));
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 25);
    }

    #[tokio::test]
    async fn different_clusters_are_not_mixed() {
        let inner = Arc::new(Counting::default());
        let batching = Arc::new(BatchingEcs::new(inner.clone(), Duration::from_millis(20)));
        let names = vec!["x".to_string()];
        let a = batching.describe_services("c1", &names);
        let b = batching.describe_services("c2", &names);
        let (a, b) = tokio::join!(a, b);
        assert_eq!((a.unwrap().len(), b.unwrap().len()), (1, 1));
        assert_eq!(inner.service_calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn concurrent_cluster_describes_become_one_call() {
        let inner = Arc::new(Counting::default());
        let batching = Arc::new(BatchingEcs::new(inner.clone(), Duration::from_millis(30)));
        let futs: Vec<_> = (0..40)
            .map(|i| {
                let b = batching.clone();
                async move { b.describe_clusters(&[format!("c{i}")]).await.unwrap().len() }
            })
            .collect();
        let lens = futures::future::join_all(futs).await;
        assert!(lens.iter().all(|l| *l == 1));
        assert_eq!(inner.cluster_calls.load(Ordering::SeqCst), 1);
    }
}
