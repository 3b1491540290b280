//! ECS capacity providers: their rules (names, one group per provider, termination
//! protection), the cluster's set of providers and default strategy, and deletion in the
//! background. The [`crate::aws::EcsApi`] methods in `ecs` call these.

use super::{err, valid_name, FakeAws, State, ACCOUNT, REGION};
use crate::aws::types::*;
use crate::aws::AwsError;

/// The providers Fargate offers in every cluster.
const FARGATE: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

#[derive(Clone, Debug)]
pub(super) struct Provider {
    info: CapacityProvider,
}

// ---------------------------------------------------------------------------------------
// Test-facing API.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// Every capacity provider (deleting ones included; deleted ones are gone).
    pub fn capacity_providers(&self) -> Vec<CapacityProvider> {
        self.lock()
            .capacity_providers
            .values()
            .map(|p| p.info.clone())
            .collect()
    }

    /// One capacity provider by name.
    pub fn capacity_provider(&self, name: &str) -> Option<CapacityProvider> {
        self.lock()
            .capacity_providers
            .get(name)
            .map(|p| p.info.clone())
    }

    /// Change a provider's settings behind the operator's back.
    pub fn set_capacity_provider_settings(&self, name: &str, settings: CapacityProviderSettings) {
        let mut s = self.lock();
        let p = s
            .capacity_providers
            .get_mut(name)
            .expect("no such capacity provider");
        p.info.settings = settings;
    }
}

// ---------------------------------------------------------------------------------------
// State: the operations and the passing of time.
// ---------------------------------------------------------------------------------------

fn provider_missing(op: &'static str) -> AwsError {
    err(
        op,
        "ClientException",
        "The specified capacity provider does not exist. Specify a valid name or ARN and try \
         again.",
    )
}

impl State {
    fn provider_name(arg: &str) -> &str {
        super::last_segment(arg)
    }

    /// The clusters (ACTIVE) that list `name` among their providers.
    fn clusters_using(&self, name: &str) -> Vec<String> {
        self.clusters
            .values()
            .filter(|c| c.is_active() && c.capacity_providers.iter().any(|p| p == name))
            .map(|c| c.name().to_string())
            .collect()
    }

    fn check_settings(
        &self,
        op: &'static str,
        group_arn: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<(), AwsError> {
        if settings.managed_termination_protection && settings.managed_scaling.is_none() {
            return Err(err(
                op,
                "ClientException",
                "The managed termination protection setting for the capacity provider is \
                 invalid. To enable managed termination protection for a capacity provider, \
                 managed scaling must be enabled.",
            ));
        }
        if let Some(m) = &settings.managed_scaling {
            if m.minimum_scaling_step_size > m.maximum_scaling_step_size
                || !(1..=100).contains(&m.target_capacity)
            {
                return Err(err(
                    op,
                    "InvalidParameterException",
                    "The managed scaling settings are invalid.",
                ));
            }
        }
        if settings.managed_termination_protection && !self.group_protects_new_instances(group_arn)
        {
            return Err(err(
                op,
                "ClientException",
                "The managed termination protection setting for the capacity provider is \
                 invalid. To enable managed termination protection for a capacity provider, \
                 the Auto Scaling group must have instance protection from scale in enabled.",
            ));
        }
        Ok(())
    }

    pub(super) fn describe_capacity_providers(&self, names: &[String]) -> Vec<CapacityProvider> {
        names
            .iter()
            .filter_map(|n| self.capacity_providers.get(State::provider_name(n)))
            .map(|p| p.info.clone())
            .collect()
    }

    pub(super) fn create_capacity_provider(
        &mut self,
        op: &'static str,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError> {
        let lower = input.name.to_ascii_lowercase();
        if !valid_name(&input.name, 255, &['-', '_'])
            || ["aws", "ecs", "fargate"]
                .iter()
                .any(|p| lower.starts_with(p))
        {
            return Err(err(
                op,
                "ClientException",
                "The specified capacity provider name is invalid. Capacity provider names \
                 must be 1-255 letters, numbers, hyphens and underscores and cannot be prefixed \
                 with \"aws\", \"ecs\", or \"fargate\".",
            ));
        }
        if self.capacity_providers.contains_key(&input.name) {
            return Err(err(
                op,
                "ClientException",
                "The specified capacity provider already exists. To change the configuration \
                 of an existing capacity provider, update the capacity provider.",
            ));
        }
        if self
            .group_name_of_arn(&input.auto_scaling_group_arn)
            .is_none()
        {
            return Err(err(
                op,
                "ClientException",
                format!(
                    "The specified Auto Scaling group ARN {} is not valid.",
                    input.auto_scaling_group_arn
                ),
            ));
        }
        if self
            .capacity_providers
            .values()
            .any(|p| p.info.auto_scaling_group_arn == input.auto_scaling_group_arn)
        {
            return Err(err(
                op,
                "ClientException",
                "The specified Auto Scaling group ARN is already being used by another \
                 capacity provider. Specify a unique Auto Scaling group ARN and try again.",
            ));
        }
        self.check_settings(op, &input.auto_scaling_group_arn, &input.settings)?;
        let info = CapacityProvider {
            arn: format!(
                "arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/{}",
                input.name
            ),
            name: input.name.clone(),
            status: "ACTIVE".into(),
            update_status: None,
            auto_scaling_group_arn: input.auto_scaling_group_arn.clone(),
            settings: input.settings.clone(),
            tags: input.tags.clone(),
        };
        self.capacity_providers
            .insert(input.name.clone(), Provider { info: info.clone() });
        Ok(info)
    }

    pub(super) fn update_capacity_provider(
        &mut self,
        op: &'static str,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError> {
        let name = State::provider_name(name).to_string();
        let group_arn = match self.capacity_providers.get(&name) {
            None => return Err(provider_missing(op)),
            Some(p) if p.info.is_deleting() => {
                return Err(err(
                    op,
                    "UpdateInProgressException",
                    "The capacity provider is being deleted.",
                ))
            }
            Some(p) => p.info.auto_scaling_group_arn.clone(),
        };
        self.check_settings(op, &group_arn, settings)?;
        let p = self
            .capacity_providers
            .get_mut(&name)
            .ok_or_else(|| provider_missing(op))?;
        p.info.settings = settings.clone();
        p.info.update_status = Some("UPDATE_COMPLETE".into());
        Ok(p.info.clone())
    }

    pub(super) fn delete_capacity_provider(
        &mut self,
        op: &'static str,
        name: &str,
    ) -> Result<(), AwsError> {
        let name = State::provider_name(name).to_string();
        match self.capacity_providers.get(&name) {
            None => return Err(provider_missing(op)),
            // Deleting again is accepted while the first deletion runs.
            Some(p) if p.info.is_deleting() => return Ok(()),
            Some(_) => {}
        }
        if let Some(c) = self.clusters_using(&name).first() {
            return Err(err(
                op,
                "ClientException",
                format!(
                    "The capacity provider cannot be deleted because it is associated with \
                     cluster: {c}. Remove the capacity provider from the cluster and try again."
                ),
            ));
        }
        if let Some(p) = self.capacity_providers.get_mut(&name) {
            p.info.update_status = Some("DELETE_IN_PROGRESS".into());
        }
        Ok(())
    }

    pub(super) fn put_cluster_capacity_providers(
        &mut self,
        op: &'static str,
        cluster: &str,
        providers: &[String],
        strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError> {
        let cluster = State::cluster_name(cluster).to_string();
        if self.active_cluster(&cluster).is_none() {
            return Err(err(op, "ClusterNotFoundException", "Cluster not found."));
        }
        for p in providers {
            if FARGATE.contains(&p.as_str()) {
                continue;
            }
            match self.capacity_providers.get(p) {
                Some(cp) if !cp.info.is_deleting() => {}
                _ => {
                    return Err(err(
                        op,
                        "InvalidParameterException",
                        format!("The specified capacity provider {p} is not in an ACTIVE state."),
                    ))
                }
            }
            // An Auto Scaling group provider serves one cluster.
            if let Some(other) = self.clusters_using(p).iter().find(|c| **c != cluster) {
                return Err(err(
                    op,
                    "ResourceInUseException",
                    format!("The specified capacity provider {p} is in use by cluster {other}."),
                ));
            }
        }
        if let Some(i) = strategy
            .iter()
            .find(|i| !providers.contains(&i.capacity_provider))
        {
            return Err(err(
                op,
                "InvalidParameterException",
                format!(
                    "The specified capacity provider strategy cannot contain a capacity \
                     provider that is not associated with the cluster: {}.",
                    i.capacity_provider
                ),
            ));
        }
        if strategy.iter().filter(|i| i.base > 0).count() > 1 {
            return Err(err(
                op,
                "InvalidParameterException",
                "Only one capacity provider in a capacity provider strategy can have a base \
                 defined.",
            ));
        }
        // The whole set is replaced: what it drops must not be used by a service.
        let dropped: Vec<String> = self
            .clusters
            .get(&cluster)
            .map(|c| {
                c.capacity_providers
                    .iter()
                    .filter(|p| !providers.contains(p))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let used = self.services.iter().any(|s| {
            s.cluster_name() == cluster
                && s.info.status != "INACTIVE"
                && s.info
                    .capacity_provider_strategy
                    .iter()
                    .any(|i| dropped.contains(&i.capacity_provider))
        });
        if used {
            return Err(err(
                op,
                "ResourceInUseException",
                "The specified capacity provider is in use and cannot be removed.",
            ));
        }
        let c = self
            .clusters
            .get_mut(&cluster)
            .ok_or_else(|| err(op, "ClusterNotFoundException", "Cluster not found."))?;
        c.capacity_providers = providers.to_vec();
        c.default_strategy = strategy.to_vec();
        let c = c.clone();
        Ok(self.cluster_info(&c))
    }

    /// Whether a service's strategy names only providers the cluster has attached.
    pub(super) fn check_service_strategy(
        &self,
        op: &'static str,
        cluster: &str,
        strategy: &[StrategyItem],
    ) -> Result<(), AwsError> {
        let attached = self
            .clusters
            .get(cluster)
            .map(|c| c.capacity_providers.clone())
            .unwrap_or_default();
        match strategy
            .iter()
            .find(|i| !attached.contains(&i.capacity_provider))
        {
            Some(i) => Err(err(
                op,
                "InvalidParameterException",
                format!(
                    "The specified capacity provider strategy cannot contain a capacity \
                     provider that is not associated with the cluster: {}. Associate the \
                     capacity provider with the cluster or specify a valid capacity provider \
                     and try again.",
                    i.capacity_provider
                ),
            )),
            None => Ok(()),
        }
    }

    /// One step: a deletion under way completes and the provider is gone.
    pub(super) fn step_capacity_providers(&mut self) {
        self.capacity_providers
            .retain(|_, p| p.info.update_status.as_deref() != Some("DELETE_IN_PROGRESS"));
    }

    /// Tags of a capacity provider, for TagResource / UntagResource.
    pub(super) fn capacity_provider_tags(&mut self, name: &str) -> Option<&mut Tags> {
        self.capacity_providers
            .get_mut(name)
            .filter(|p| !p.info.is_deleting())
            .map(|p| &mut p.info.tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::test_support::lt_data;
    use crate::aws::{AutoScalingApi, AwsErrorKind, Ec2Api, EcsApi};

    fn item(p: &str) -> StrategyItem {
        StrategyItem {
            capacity_provider: p.into(),
            weight: 1,
            base: 0,
        }
    }

    /// A cluster and a group (protecting new instances when `protect`); the group's ARN.
    async fn setup(fake: &FakeAws, protect: bool) -> String {
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        let lt = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap();
        fake.create_group(&CreateGroupInput {
            name: "g".into(),
            launch_template_id: lt.id,
            launch_template_version: "1".into(),
            min_size: 0,
            max_size: 2,
            desired_capacity: 1,
            subnet_ids: vec!["subnet-a".into()],
            new_instances_protected_from_scale_in: protect,
            ..Default::default()
        })
        .await
        .unwrap();
        fake.group("g").unwrap().arn.unwrap()
    }

    fn input(name: &str, arn: &str) -> CreateCapacityProviderInput {
        CreateCapacityProviderInput {
            name: name.into(),
            auto_scaling_group_arn: arn.into(),
            settings: CapacityProviderSettings {
                managed_scaling: Some(ManagedScalingSettings {
                    target_capacity: 100,
                    minimum_scaling_step_size: 1,
                    maximum_scaling_step_size: 10,
                    instance_warmup_period: 300,
                }),
                managed_termination_protection: false,
                managed_draining: true,
            },
            tags: Tags::new(),
        }
    }

    #[tokio::test]
    async fn names_are_checked_and_a_group_serves_one_provider() {
        let fake = FakeAws::new();
        let arn = setup(&fake, false).await;
        for bad in ["aws-p", "ECS-p", "FargateX", "bad name"] {
            let e = fake
                .create_capacity_provider(&input(bad, &arn))
                .await
                .unwrap_err();
            assert_eq!(e.kind, AwsErrorKind::InvalidInput, "{bad}: {e}");
        }
        fake.create_capacity_provider(&input("p", &arn))
            .await
            .unwrap();
        let again = fake
            .create_capacity_provider(&input("p", &arn))
            .await
            .unwrap_err();
        assert_eq!(again.kind, AwsErrorKind::AlreadyExists, "{again}");
        let second = fake
            .create_capacity_provider(&input("p2", &arn))
            .await
            .unwrap_err();
        assert_eq!(second.kind, AwsErrorKind::Dependency, "{second}");
        // Managed termination protection needs a group protecting new instances.
        let mut protected = input("p3", &arn);
        protected.settings.managed_termination_protection = true;
        let fake2 = FakeAws::new();
        let arn2 = setup(&fake2, false).await;
        protected.auto_scaling_group_arn = arn2;
        let e = fake2
            .create_capacity_provider(&protected)
            .await
            .unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::InvalidInput, "{e}");
    }

    #[tokio::test]
    async fn put_replaces_the_set_and_keeps_providers_services_use() {
        let fake = FakeAws::new();
        let arn = setup(&fake, false).await;
        fake.create_capacity_provider(&input("p", &arn))
            .await
            .unwrap();
        let c = fake
            .put_cluster_capacity_providers(
                "c",
                &["p".into(), "FARGATE".into()],
                &[item("p"), item("FARGATE")],
            )
            .await
            .unwrap();
        assert_eq!(c.capacity_providers, ["p", "FARGATE"]);
        let described = fake.describe_clusters(&["c".into()]).await.unwrap();
        assert_eq!(described[0].capacity_providers, ["p", "FARGATE"]);
        assert_eq!(described[0].default_capacity_provider_strategy.len(), 2);
        // The strategy must name attached providers.
        let e = fake
            .put_cluster_capacity_providers("c", &["FARGATE".into()], &[item("p")])
            .await
            .unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Dependency, "{e}");
        // A provider in use by a cluster cannot be deleted.
        let e = fake.delete_capacity_provider("p").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Dependency, "{e}");
        // Replacing the whole set refuses to drop what a service's strategy uses.
        fake.lock()
            .services
            .push(super::super::ecs::test_service("c", "s", vec![item("p")]));
        let e = fake
            .put_cluster_capacity_providers("c", &["FARGATE".into()], &[])
            .await
            .unwrap_err();
        assert_eq!(e.code, "ResourceInUseException");
        assert_eq!(e.kind, AwsErrorKind::Dependency);
        assert_eq!(
            fake.cluster("c").unwrap().capacity_providers,
            ["p", "FARGATE"]
        );
    }

    #[tokio::test]
    async fn deletion_is_in_progress_for_one_step_then_gone() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        let arn = setup(&fake, false).await;
        fake.create_capacity_provider(&input("p", &arn))
            .await
            .unwrap();
        fake.delete_capacity_provider("p").await.unwrap();
        let p = fake
            .describe_capacity_providers(&["p".into()])
            .await
            .unwrap();
        assert_eq!(p[0].update_status.as_deref(), Some("DELETE_IN_PROGRESS"));
        assert!(p[0].is_deleting());
        let e = fake
            .update_capacity_provider("p", &input("p", &arn).settings)
            .await
            .unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Dependency, "{e}");
        fake.tick();
        assert!(fake
            .describe_capacity_providers(&["p".into()])
            .await
            .unwrap()
            .is_empty());
        let e = fake.delete_capacity_provider("p").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound, "{e}");
        // The name and the group are free again.
        fake.create_capacity_provider(&input("p", &arn))
            .await
            .unwrap();
    }
}
