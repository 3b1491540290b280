//! `ecs-operator import`: read an ECS cluster, its EC2 capacity and services from AWS
//! (read-only calls only) and print the manifests that describe exactly what exists, with
//! the adopt annotation, so applying them with the operator running changes nothing in
//! AWS but the owner tags.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::cluster::{EcsCluster, EcsClusterSpec};
use crate::api::common::{DeletionPolicy, ADOPT_ANNOTATION};
use crate::api::service::{EcsService, EcsServiceSpec};
use crate::api::task_def::{EcsTaskDef, EcsTaskDefSpec};
use crate::aws::types::{
    AutoScalingGroup, CapacityProvider, ClusterInfo, LaunchConfiguration, LaunchTemplateData,
    ServiceInfo,
};
use crate::aws::{AwsClients, DESCRIBE_SERVICES_MAX};
use crate::planning::capacity_provider::FARGATE_PROVIDERS;
use crate::planning::cluster::launch_template_name;
use crate::planning::ownership::OWNER_TAG;
use crate::planning::task_def::family_of;

use super::translate::{
    auto_scaling_spec, capacity_spec, cluster_providers, kubernetes_name, service_spec,
    task_def_spec, user_data_joins, with_capacity_provider, ServiceRefs,
};

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// Services to import (names); empty: every service of the cluster.
    pub services: Vec<String>,
    /// Namespace written into the manifests; none: `kubectl apply`'s.
    pub namespace: Option<String>,
    /// Region written into every spec (the one imported from).
    pub region: Option<String>,
    /// The Auto Scaling group of the cluster's instances; none: the group whose launch
    /// template's (or launch configuration's) user data joins the cluster, if exactly one
    /// does.
    pub auto_scaling_group: Option<String>,
    /// deletionPolicy of every object.
    pub deletion_policy: DeletionPolicy,
}

/// The objects describing what exists, and what the user should know about them.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    /// The cluster.
    pub clusters: Vec<EcsCluster>,
    /// One per task definition family the services run.
    pub task_defs: Vec<EcsTaskDef>,
    /// The services.
    pub services: Vec<EcsService>,
    /// Things the manifests cannot say, printed to stderr.
    pub warnings: Vec<String>,
}

/// Where the cluster's instances come from.
struct Capacity {
    /// The launch template the spec names: the group's, or for a group on a launch
    /// configuration the one the operator will create.
    template_name: String,
    /// What the data was read from, for errors: "launch template …" or "launch
    /// configuration …".
    source: String,
    data: LaunchTemplateData,
    group: AutoScalingGroup,
}

/// Read what exists and describe it.
pub async fn import(aws: &AwsClients, opts: &ImportOptions) -> anyhow::Result<Imported> {
    let mut out = Imported::default();
    let cluster_name = opts
        .cluster
        .rsplit('/')
        .next()
        .unwrap_or(&opts.cluster)
        .to_string();
    let found = aws
        .ecs
        .describe_clusters(std::slice::from_ref(&cluster_name))
        .await?
        .into_iter()
        .find(|c| c.status == "ACTIVE")
        .ok_or_else(|| anyhow::anyhow!("ECS cluster {cluster_name} not found (or not ACTIVE)"))?;
    note_owner(
        &mut out.warnings,
        &format!("ECS cluster {cluster_name}"),
        &found.tags,
    );

    // A cluster whose EC2 capacity provider names its group says where its instances come
    // from; the groups' user data is searched only when it does not.
    let mut opts = opts.clone();
    if opts.auto_scaling_group.is_none() {
        opts.auto_scaling_group = provider_group(aws, &found).await?;
    }
    let opts = &opts;
    let capacity = find_capacity(aws, &cluster_name, opts, &mut out.warnings).await?;
    let provider = match &capacity {
        Some(c) => group_provider(aws, &found, &c.group, &mut out.warnings).await?,
        None => None,
    };
    let capacity = match capacity {
        Some(c) => {
            note_owner(
                &mut out.warnings,
                &format!("Auto Scaling group {}", c.group.name),
                &c.group.tags,
            );
            let cap = capacity_spec(&cluster_name, &c.template_name, &c.data, &c.group)
                .map_err(|e| anyhow::anyhow!("{}: {e}", c.source))?;
            Some(match &provider {
                Some(p) => with_capacity_provider(cap, &cluster_name, p),
                None => cap,
            })
        }
        None => None,
    };
    let (capacity_providers, default_strategy, provider_warnings) =
        cluster_providers(&found, provider.as_ref().map(|p| p.name.as_str()));
    out.warnings.extend(provider_warnings);
    let cluster_object = kubernetes_name(&cluster_name);
    out.clusters.push(object(
        EcsCluster::new(
            &cluster_object,
            EcsClusterSpec {
                cluster_name: Some(cluster_name.clone()),
                region: opts.region.clone(),
                deletion_policy: opts.deletion_policy,
                capacity,
                capacity_providers,
                default_capacity_provider_strategy: default_strategy,
                ..Default::default()
            },
        ),
        opts,
    ));

    let services = read_services(aws, &cluster_name, &opts.services).await?;
    // family → (object name, latest revision)
    let mut families: BTreeMap<String, (String, i32)> = BTreeMap::new();
    for s in &services {
        let family = family_of(&s.task_definition)
            .ok_or_else(|| anyhow::anyhow!("service {} has no task definition", s.name))?
            .to_string();
        if !families.contains_key(&family) {
            let latest = aws
                .ecs
                .describe_task_definition(&family)
                .await?
                .ok_or_else(|| anyhow::anyhow!("task definition family {family} not found"))?;
            let registered = latest.definition.as_ref().ok_or_else(|| {
                anyhow::anyhow!("DescribeTaskDefinition returned no definition for {family}")
            })?;
            note_owner(
                &mut out.warnings,
                &format!("task definition {family}:{}", latest.revision),
                &latest.tags,
            );
            if !latest.unmodeled.is_empty() {
                out.warnings.push(unmodeled_warning(
                    &format!("task definition {family}:{}", latest.revision),
                    &latest.unmodeled,
                    "revision",
                ));
            }
            let name = kubernetes_name(&family);
            let spec = EcsTaskDefSpec {
                region: opts.region.clone(),
                deletion_policy: opts.deletion_policy,
                ..task_def_spec(&family, registered)
            };
            out.task_defs
                .push(object(EcsTaskDef::new(&name, spec), opts));
            families.insert(family.clone(), (name, latest.revision));
        }
        let (task_def, latest_revision) = families
            .get(&family)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("task definition family {family} was not read"))?;
        let refs = ServiceRefs {
            cluster: cluster_object.clone(),
            task_def,
            latest_revision,
        };
        note_owner(
            &mut out.warnings,
            &format!("ECS service {}", s.name),
            &s.tags,
        );
        let elb_name = s
            .load_balancers
            .first()
            .and_then(|lb| lb.load_balancer_name.clone());
        let elb = match &elb_name {
            Some(n) => {
                let tags = aws.elb.describe_tags(n).await?;
                note_owner(
                    &mut out.warnings,
                    &format!("classic load balancer {n}"),
                    &tags,
                );
                Some(aws.elb.describe_load_balancer(n).await?.ok_or_else(|| {
                    anyhow::anyhow!("service {}: classic load balancer {n} not found", s.name)
                })?)
            }
            None => None,
        };
        let mut spec = service_spec(s, &refs, elb.as_ref()).map_err(anyhow::Error::msg)?;
        // A service with a scalable target is imported with its autoScaling and without
        // desiredCount: the operator must not take the count back from the scaler.
        let scaling_id = crate::planning::autoscaling::resource_id(&cluster_name, &s.name);
        if let Some(target) = aws
            .app_autoscaling
            .describe_scalable_target(&scaling_id)
            .await?
        {
            if let Some(arn) = &target.arn {
                let tags = aws.app_autoscaling.target_tags(arn).await?;
                note_owner(
                    &mut out.warnings,
                    &format!("scalable target {scaling_id}"),
                    &tags,
                );
            }
            let policies = aws
                .app_autoscaling
                .describe_scaling_policies(&scaling_id)
                .await?;
            let (auto_scaling, warnings) = auto_scaling_spec(&s.name, &target, &policies);
            out.warnings.extend(warnings);
            spec.auto_scaling = auto_scaling;
            spec.desired_count = None;
        }
        out.services.push(object(
            EcsService::new(
                &kubernetes_name(&s.name),
                EcsServiceSpec {
                    region: opts.region.clone(),
                    deletion_policy: opts.deletion_policy,
                    ..spec
                },
            ),
            opts,
        ));
    }
    Ok(out)
}

/// Namespace and adopt annotation.
fn object<K: kube::Resource>(mut obj: K, opts: &ImportOptions) -> K {
    let meta = obj.meta_mut();
    meta.namespace = opts.namespace.clone();
    meta.annotations = Some(BTreeMap::from([(
        ADOPT_ANNOTATION.to_string(),
        "true".to_string(),
    )]));
    obj
}

/// Settings the spec cannot state are kept as long as the resource is, and lost by the
/// next one the operator makes: say so.
fn unmodeled_warning(what: &str, fields: &[String], next: &str) -> String {
    format!(
        "{what} has settings the manifests cannot state ({}): the operator keeps them while \
         nothing changes, but the next {next} it makes (after a spec change) will not have \
         them",
        fields.join(", ")
    )
}

/// A resource some operator already owns is a Conflict for another object: say so.
fn note_owner(warnings: &mut Vec<String>, what: &str, tags: &crate::aws::types::Tags) {
    if let Some(owner) = tags.get(OWNER_TAG) {
        warnings.push(format!(
            "{what} is already owned ({OWNER_TAG}={owner}): the operator adopts only \
             resources without an owner tag"
        ));
    }
}

/// The ACTIVE services to import, described.
async fn read_services(
    aws: &AwsClients,
    cluster: &str,
    wanted: &[String],
) -> anyhow::Result<Vec<ServiceInfo>> {
    let names: Vec<String> = if wanted.is_empty() {
        aws.ecs
            .list_services(cluster)
            .await?
            .iter()
            .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string())
            .collect()
    } else {
        wanted.to_vec()
    };
    let mut out = Vec::new();
    for chunk in names.chunks(DESCRIBE_SERVICES_MAX) {
        out.extend(
            aws.ecs
                .describe_services(cluster, chunk)
                .await?
                .into_iter()
                .filter(|s| s.status == "ACTIVE"),
        );
    }
    let found: BTreeSet<&str> = out.iter().map(|s| s.name.as_str()).collect();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !found.contains(w.as_str()))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "no ACTIVE service {} in cluster {cluster}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The Auto Scaling group whose instances join the cluster, with the launch template
/// version it launches (or its launch configuration, translated into the launch template
/// the operator would make).
async fn find_capacity(
    aws: &AwsClients,
    cluster: &str,
    opts: &ImportOptions,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Option<Capacity>> {
    let groups = match &opts.auto_scaling_group {
        Some(name) => vec![aws
            .autoscaling
            .describe_group(name)
            .await?
            .ok_or_else(|| anyhow::anyhow!("Auto Scaling group {name} not found"))?],
        None => aws.autoscaling.describe_all_groups().await?,
    };
    let explicit = opts.auto_scaling_group.is_some();
    let mut found = Vec::new();
    let mut unexamined = Vec::new();
    for group in groups.into_iter().filter(|g| g.status.is_none()) {
        let (Some(id), Some(template_name)) = (
            group.launch_template_id.clone(),
            group.launch_template_name.clone(),
        ) else {
            let Some(lc_name) = group.launch_configuration_name.clone() else {
                if explicit {
                    anyhow::bail!(
                        "Auto Scaling group {} launches from neither a launch template nor a \
                         launch configuration",
                        group.name
                    );
                }
                unexamined.push(format!("{} (no launch template)", group.name));
                continue;
            };
            let Some(lc) = aws
                .autoscaling
                .describe_launch_configuration(&lc_name)
                .await?
            else {
                if explicit {
                    anyhow::bail!(
                        "Auto Scaling group {}: launch configuration {lc_name} not found",
                        group.name
                    );
                }
                unexamined.push(format!(
                    "{} (launch configuration {lc_name} not found)",
                    group.name
                ));
                continue;
            };
            if !explicit && !user_data_joins(cluster, &lc.data.user_data_base64) {
                continue;
            }
            let template_name = launch_template_name(cluster);
            from_launch_configuration(aws, &group, &lc, &template_name, warnings).await?;
            found.push(Capacity {
                template_name,
                source: format!("launch configuration {lc_name}"),
                data: lc.data,
                group,
            });
            continue;
        };
        let template = aws
            .ec2
            .describe_launch_template(&template_name)
            .await?
            .ok_or_else(|| anyhow::anyhow!("launch template {template_name} not found"))?;
        let version = match group.launch_template_version.as_deref() {
            None | Some("$Default") => template.default_version,
            Some("$Latest") => template.latest_version,
            Some(v) => v.parse().map_err(|_| {
                anyhow::anyhow!("group {}: launch template version {v:?}", group.name)
            })?,
        };
        let Some(read) = aws.ec2.launch_template_version_data(&id, version).await? else {
            anyhow::bail!("launch template {template_name} has no version {version}");
        };
        if !explicit && !user_data_joins(cluster, &read.data.user_data_base64) {
            continue;
        }
        if !read.unmodeled.is_empty() {
            warnings.push(unmodeled_warning(
                &format!("version {version} of launch template {template_name}"),
                &read.unmodeled,
                "launch template version",
            ));
        }
        let data = read.data;
        if version != template.latest_version {
            warnings.push(format!(
                "Auto Scaling group {} launches version {version} of launch template \
                 {template_name}, not its latest ({}): the operator will make a new version \
                 holding version {version}'s data and move the group to it",
                group.name, template.latest_version
            ));
        }
        note_owner(
            warnings,
            &format!("launch template {template_name}"),
            &template.tags,
        );
        found.push(Capacity {
            source: format!("launch template {template_name}"),
            template_name,
            data,
            group,
        });
    }
    if found.len() > 1 {
        anyhow::bail!(
            "the user data of several Auto Scaling groups joins cluster {cluster} ({}); \
             choose one with --auto-scaling-group",
            found
                .iter()
                .map(|c| c.group.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if found.is_empty() {
        warnings.push(format!(
            "no Auto Scaling group launches instances whose user data joins cluster {cluster}: \
             the EcsCluster manages no EC2 capacity{}",
            if unexamined.is_empty() {
                String::new()
            } else {
                format!(" (not examined: {})", unexamined.join(", "))
            }
        ));
    }
    Ok(found.pop())
}

/// The warnings for a group on a launch configuration: applying the manifests makes the
/// launch template the operator manages from it and moves the group onto it.
async fn from_launch_configuration(
    aws: &AwsClients,
    group: &AutoScalingGroup,
    lc: &LaunchConfiguration,
    template_name: &str,
    warnings: &mut Vec<String>,
) -> anyhow::Result<()> {
    // The one change adoption makes beyond tags; AWS retires launch configurations, so
    // the move is due anyway, and Auto Scaling replaces no running instance for it.
    warnings.push(format!(
        "Auto Scaling group {} launches from launch configuration {}: applying creates \
         launch template {template_name} with the same settings and moves the group onto it \
         (CreateLaunchTemplate, UpdateAutoScalingGroup), the migration AWS requires anyway; \
         existing instances are not replaced, and the launch configuration is left in place",
        group.name, lc.name
    ));
    if !lc.unmodeled.is_empty() {
        warnings.push(format!(
            "launch configuration {} has settings the manifests cannot state ({}): launch \
             template {template_name} will not have them, so instances launched after the \
             move will not either",
            lc.name,
            lc.unmodeled.join(", ")
        ));
    }
    if let Some(existing) = aws.ec2.describe_launch_template(template_name).await? {
        note_owner(
            warnings,
            &format!("launch template {template_name}"),
            &existing.tags,
        );
        warnings.push(format!(
            "a launch template {template_name} already exists: instead of creating it, the \
             operator adds a version holding launch configuration {}'s settings to it (unless \
             its latest version holds them) and moves the group onto that",
            lc.name
        ));
    }
    Ok(())
}

/// The Auto Scaling group of the cluster's EC2 capacity providers, when they name exactly
/// one.
async fn provider_group(aws: &AwsClients, cluster: &ClusterInfo) -> anyhow::Result<Option<String>> {
    let names: Vec<String> = cluster
        .capacity_providers
        .iter()
        .filter(|p| !FARGATE_PROVIDERS.contains(&p.as_str()))
        .cloned()
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let groups: BTreeSet<String> = aws
        .ecs
        .describe_capacity_providers(&names)
        .await?
        .iter()
        .filter(|p| !p.is_deleting())
        .filter_map(|p| {
            p.auto_scaling_group_arn
                .rsplit_once("autoScalingGroupName/")
                .map(|(_, name)| name.to_string())
        })
        .collect();
    Ok(match groups.len() {
        1 => groups.into_iter().next(),
        _ => None,
    })
}

/// The EC2 capacity provider attached to `cluster` that serves `group`, if any (the
/// operator adopts it by name, as capacity.capacityProvider).
async fn group_provider(
    aws: &AwsClients,
    cluster: &ClusterInfo,
    group: &AutoScalingGroup,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Option<CapacityProvider>> {
    let names: Vec<String> = cluster
        .capacity_providers
        .iter()
        .filter(|p| !FARGATE_PROVIDERS.contains(&p.as_str()))
        .cloned()
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    // A group's ARN ends with its name; the ARN itself is compared when both are known.
    let serves = |p: &CapacityProvider| match &group.arn {
        Some(arn) => p.auto_scaling_group_arn == *arn,
        None => p
            .auto_scaling_group_arn
            .ends_with(&format!("autoScalingGroupName/{}", group.name)),
    };
    let provider = aws
        .ecs
        .describe_capacity_providers(&names)
        .await?
        .into_iter()
        .find(|p| !p.is_deleting() && serves(p));
    if let Some(p) = &provider {
        note_owner(warnings, &format!("capacity provider {}", p.name), &p.tags);
    }
    Ok(provider)
}

/// The manifests as one YAML stream, `kubectl apply`-ready: clusters, task definitions,
/// then services.
pub fn render(imported: &Imported) -> Result<String, serde_yaml::Error> {
    let mut docs = Vec::new();
    for c in &imported.clusters {
        docs.push(serde_yaml::to_string(c)?);
    }
    for t in &imported.task_defs {
        docs.push(serde_yaml::to_string(t)?);
    }
    for s in &imported.services {
        docs.push(serde_yaml::to_string(s)?);
    }
    Ok(docs
        .iter()
        .map(|d| format!("---\n{d}"))
        .collect::<Vec<_>>()
        .concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::task_def::ContainerDefinition;

    #[test]
    fn rendered_manifests_carry_the_adopt_annotation_and_no_status() {
        let opts = ImportOptions {
            namespace: Some("prod".into()),
            ..Default::default()
        };
        let imported = Imported {
            task_defs: vec![object(
                EcsTaskDef::new(
                    "web",
                    EcsTaskDefSpec {
                        family: Some("web".into()),
                        container_definitions: vec![ContainerDefinition {
                            name: "web".into(),
                            image: "nginx".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                ),
                &opts,
            )],
            ..Default::default()
        };
        let yaml = render(&imported).unwrap();
        assert!(yaml.starts_with("---\napiVersion: ecsoperator.io/v1alpha1\nkind: EcsTaskDef\n"));
        assert!(
            yaml.contains("ecsoperator.io/adopt: 'true'")
                || yaml.contains("ecsoperator.io/adopt: \"true\"")
        );
        assert!(yaml.contains("namespace: prod"));
        assert!(!yaml.contains("status"));
        let back: EcsTaskDef = serde_yaml::from_str(yaml.trim_start_matches("---\n")).unwrap();
        assert_eq!(back.spec, imported.task_defs[0].spec);
    }
}
