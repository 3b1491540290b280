//! Auto Scaling groups and their instances (launch, termination, joining an ECS cluster
//! through user data), with the [`AutoScalingApi`] implementation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine;

use super::ec2::LaunchTemplateState;
use super::{err, FakeAws, State, ACCOUNT, REGION, STEP_SECONDS};
use crate::aws::types::*;
use crate::aws::{AutoScalingApi, AwsError, AwsErrorKind};

#[derive(Clone, Debug)]
pub(super) struct Instance {
    id: String,
    pub(super) state: String,
    /// Cluster named in the user data it launched with.
    pub(super) joins: Option<String>,
    /// Launch template version it launched with (0: a launch configuration).
    version: i64,
    /// Protected from scale-in: scaling in never picks it.
    protected: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Group {
    name: String,
    arn: String,
    /// Empty while the group launches from a launch configuration.
    template_id: String,
    /// The launch configuration it launches from, until it moves to a launch template.
    launch_configuration: Option<String>,
    /// The template's name, as DescribeAutoScalingGroups reports it beside the ID.
    template_name: Option<String>,
    template_version: String,
    min: i32,
    max: i32,
    desired: i32,
    subnets: Vec<String>,
    pub(super) elbs: Vec<String>,
    pub(super) instances: Vec<Instance>,
    status: Option<String>,
    tags: Tags,
    /// NewInstancesProtectedFromScaleIn.
    protect_new: bool,
}
// ---------------------------------------------------------------------------------------
// Test-facing API: group inspection and out-of-band changes.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// Every Auto Scaling group.
    pub fn groups(&self) -> Vec<AutoScalingGroup> {
        self.lock().groups.values().map(group_info).collect()
    }

    /// One Auto Scaling group.
    pub fn group(&self, name: &str) -> Option<AutoScalingGroup> {
        self.lock().groups.get(name).map(group_info)
    }

    /// Every CreateAutoScalingGroup input that succeeded.
    pub fn group_creates(&self) -> Vec<CreateGroupInput> {
        self.lock().group_creates.clone()
    }

    /// Every UpdateAutoScalingGroup input that succeeded.
    pub fn group_updates(&self) -> Vec<UpdateGroupInput> {
        self.lock().group_updates.clone()
    }

    /// Launch template version each instance of a group launched with, by instance ID.
    pub fn instance_versions(&self, group: &str) -> BTreeMap<String, i64> {
        self.lock()
            .groups
            .get(group)
            .map(|g| {
                g.instances
                    .iter()
                    .map(|i| (i.id.clone(), i.version))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A launch configuration, made as the console made them before launch templates
    /// (the operator never creates one; only tests do, through here).
    pub fn create_launch_configuration(&self, config: &LaunchConfiguration) {
        let mut config = config.clone();
        config.arn.get_or_insert_with(|| {
            format!(
                "arn:aws:autoscaling:{REGION}:{ACCOUNT}:launchConfiguration:\
                 00000000-0000-4000-8000-000000000000:launchConfigurationName/{}",
                config.name
            )
        });
        self.lock()
            .launch_configurations
            .insert(config.name.clone(), config);
    }

    /// A group that launches from launch configuration `config` (the launch template of
    /// `input` is ignored), made as CreateAutoScalingGroup made them before launch
    /// templates; tests only.
    pub fn create_group_from_launch_configuration(&self, config: &str, input: &CreateGroupInput) {
        let mut s = self.lock();
        assert!(
            s.launch_configurations.contains_key(config),
            "no launch configuration {config}"
        );
        let mut g = new_group(&s, input);
        g.template_id = String::new();
        g.template_name = None;
        g.template_version = String::new();
        g.launch_configuration = Some(config.to_string());
        let State {
            launch_templates,
            launch_configurations,
            seq,
            ..
        } = &mut *s;
        *seq += 1;
        rescale(&mut g, launch_templates, launch_configurations, seq);
        s.groups.insert(input.name.clone(), g);
    }

    /// Change a group's desired capacity behind the operator's back.
    pub fn set_group_desired_capacity(&self, group: &str, n: i32) {
        let mut s = self.lock();
        let State {
            groups,
            launch_templates,
            launch_configurations,
            seq,
            ..
        } = &mut *s;
        let g = groups.get_mut(group).expect("no such group");
        g.desired = n;
        rescale(g, launch_templates, launch_configurations, seq);
    }
}

// ---------------------------------------------------------------------------------------
// Auto Scaling state: the passing of time.
// ---------------------------------------------------------------------------------------

impl State {
    /// The name of the group (not being deleted) with this ARN.
    pub(super) fn group_name_of_arn(&self, arn: &str) -> Option<&str> {
        self.groups
            .values()
            .find(|g| g.arn == arn && g.status.is_none())
            .map(|g| g.name.as_str())
    }

    /// Whether the group with this ARN launches instances protected from scale-in.
    pub(super) fn group_protects_new_instances(&self, arn: &str) -> bool {
        self.groups.values().any(|g| g.arn == arn && g.protect_new)
    }

    pub(super) fn step_group(&mut self, name: &str) {
        let Some(g) = self.groups.get_mut(name) else {
            return;
        };
        if g.status.is_some() {
            self.groups.remove(name);
            return;
        }
        g.instances.retain(|i| i.state != "Terminating");
        for i in &mut g.instances {
            if i.state == "Pending" {
                i.state = "InService".into();
            }
        }
    }
}
fn group_info(g: &Group) -> AutoScalingGroup {
    let on_template = g.launch_configuration.is_none();
    AutoScalingGroup {
        name: g.name.clone(),
        arn: Some(g.arn.clone()),
        launch_template_id: on_template.then(|| g.template_id.clone()),
        launch_template_version: on_template.then(|| g.template_version.clone()),
        launch_template_name: g.template_name.clone().filter(|_| on_template),
        launch_configuration_name: g.launch_configuration.clone(),
        min_size: g.min,
        max_size: g.max,
        desired_capacity: g.desired,
        subnet_ids: g.subnets.clone(),
        load_balancer_names: g.elbs.clone(),
        instances: g
            .instances
            .iter()
            .map(|i| AsgInstance {
                instance_id: i.id.clone(),
                lifecycle_state: i.state.clone(),
                protected_from_scale_in: i.protected,
            })
            .collect(),
        new_instances_protected_from_scale_in: g.protect_new,
        status: g.status.clone(),
        tags: g.tags.clone(),
    }
}

/// The cluster an ECS-optimized instance joins: `ECS_CLUSTER=<name>` in its user data.
pub fn cluster_in_user_data(user_data_base64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(user_data_base64)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (_, rest) = text.split_once("ECS_CLUSTER=")?;
    let name: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Resolve a group's launch template version string to a number.
fn resolve_version(t: &LaunchTemplateState, version: &str) -> Option<i64> {
    match version {
        "$Latest" => Some(t.versions.len() as i64),
        "$Default" => Some(1),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1 && *n as usize <= t.versions.len()),
    }
}

/// Launch or terminate instances until the group has its desired capacity.
fn rescale(
    g: &mut Group,
    templates: &BTreeMap<String, LaunchTemplateState>,
    configs: &BTreeMap<String, LaunchConfiguration>,
    seq: &mut u64,
) {
    // What a new instance launches with: (launch template version or 0, user data).
    let source = match &g.launch_configuration {
        Some(lc) => configs
            .get(lc)
            .map(|c| (0, c.data.user_data_base64.clone())),
        None => templates
            .values()
            .find(|t| t.template.id == g.template_id)
            .and_then(|t| {
                let v = resolve_version(t, &g.template_version)?;
                Some((v, t.versions[v as usize - 1].0.user_data_base64.clone()))
            }),
    };
    let live = |g: &Group| {
        g.instances
            .iter()
            .filter(|i| i.state != "Terminating")
            .count() as i32
    };
    while live(g) < g.desired {
        let Some((version, user_data)) = &source else {
            break;
        };
        let version = *version;
        *seq += 1;
        g.instances.push(Instance {
            id: format!("i-{:017x}", *seq),
            state: "Pending".into(),
            joins: cluster_in_user_data(user_data),
            version,
            protected: g.protect_new,
        });
    }
    while live(g) > g.desired {
        // Default termination policy: the oldest launch template version first, then the
        // newest instance.
        let victim = g
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.state != "Terminating" && !i.protected)
            .min_by_key(|(n, i)| (i.version, std::cmp::Reverse(*n)))
            .map(|(n, _)| n);
        match victim {
            Some(n) => g.instances[n].state = "Terminating".into(),
            None => break,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Auto Scaling
// ---------------------------------------------------------------------------------------

fn group_not_found(op: &'static str, name: &str) -> AwsError {
    // The SDK adapter reclassifies this ValidationError as NotFound.
    AwsError::new(
        AwsErrorKind::NotFound,
        op,
        "ValidationError",
        format!("AutoScalingGroup name not found - AutoScalingGroup '{name}' not found"),
    )
}

fn template_name(s: &State, id: &str) -> Option<String> {
    s.launch_templates
        .values()
        .find(|t| t.template.id == id)
        .map(|t| t.template.name.clone())
}

fn check_template(op: &'static str, s: &State, id: &str, version: &str) -> Result<(), AwsError> {
    let ok = s
        .launch_templates
        .values()
        .find(|t| t.template.id == id)
        .is_some_and(|t| resolve_version(t, version).is_some());
    if ok {
        Ok(())
    } else {
        Err(err(
            op,
            "ValidationError",
            format!(
                "You must use a valid fully-formed launch template. The specified launch \
                 template, with template ID {id} and version {version}, is missing."
            ),
        ))
    }
}

/// A new group as CreateAutoScalingGroup makes it, without instances yet.
fn new_group(s: &State, input: &CreateGroupInput) -> Group {
    Group {
        name: input.name.clone(),
        arn: format!(
            "arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{:08x}-0000-4000-8000-000000000000:autoScalingGroupName/{}",
            s.seq + 1,
            input.name
        ),
        template_id: input.launch_template_id.clone(),
        launch_configuration: None,
        template_name: template_name(s, &input.launch_template_id),
        template_version: input.launch_template_version.clone(),
        min: input.min_size,
        max: input.max_size,
        desired: input.desired_capacity,
        subnets: input.subnet_ids.clone(),
        elbs: input.load_balancer_names.clone(),
        instances: Vec::new(),
        status: None,
        tags: input.tags.clone(),
        protect_new: input.new_instances_protected_from_scale_in,
    }
}

#[async_trait]
impl AutoScalingApi for FakeAws {
    async fn describe_group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
        self.call("autoscaling:DescribeAutoScalingGroups", |s| {
            if s.auto_progress && s.groups.contains_key(name) {
                s.clock += STEP_SECONDS;
                s.step_group(name);
            }
            Ok(s.groups.get(name).map(group_info))
        })
    }

    async fn describe_all_groups(&self) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.call("autoscaling:DescribeAutoScalingGroups", |s| {
            Ok(s.groups.values().map(group_info).collect())
        })
    }

    async fn describe_groups_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.call("autoscaling:DescribeAutoScalingGroups", |s| {
            let names: Vec<String> = s
                .groups
                .iter()
                .filter(|(_, g)| group_info(g).tags.contains_key(tag_key))
                .map(|(name, _)| name.clone())
                .collect();
            if s.auto_progress {
                s.clock += STEP_SECONDS;
                for name in &names {
                    s.step_group(name);
                }
            }
            Ok(names
                .iter()
                .filter_map(|name| s.groups.get(name).map(group_info))
                .collect())
        })
    }

    async fn describe_launch_configuration(
        &self,
        name: &str,
    ) -> Result<Option<LaunchConfiguration>, AwsError> {
        self.call("autoscaling:DescribeLaunchConfigurations", |s| {
            Ok(s.launch_configurations.get(name).cloned())
        })
    }

    async fn create_group(&self, input: &CreateGroupInput) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:CreateAutoScalingGroup";
        self.call(OP, |s| {
            if s.groups.contains_key(&input.name) {
                return Err(err(
                    OP,
                    "AlreadyExists",
                    format!("AutoScalingGroup by this name already exists - A group with the name {} already exists", input.name),
                ));
            }
            if input.min_size > input.max_size
                || input.desired_capacity < input.min_size
                || input.desired_capacity > input.max_size
            {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!(
                        "Desired capacity:{} must be between the specified min size:{} and max \
                         size:{}",
                        input.desired_capacity, input.min_size, input.max_size
                    ),
                ));
            }
            if input.subnet_ids.is_empty() {
                return Err(err(
                    OP,
                    "ValidationError",
                    "At least one Availability Zone or VPC Subnet is required.",
                ));
            }
            check_template(OP, s, &input.launch_template_id, &input.launch_template_version)?;
            if let Some(lb) = input.load_balancer_names.iter().find(|n| !s.elbs.contains_key(*n)) {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!("Provided Load Balancers may not be valid: {lb} is missing."),
                ));
            }
            let mut g = new_group(s, input);
            let State {
                launch_templates,
                launch_configurations,
                seq,
                ..
            } = &mut *s;
            *seq += 1;
            rescale(&mut g, launch_templates, launch_configurations, seq);
            s.groups.insert(input.name.clone(), g);
            s.group_creates.push(input.clone());
            Ok(())
        })
    }

    async fn update_group(&self, input: &UpdateGroupInput) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:UpdateAutoScalingGroup";
        self.call(OP, |s| {
            let Some(g) = s.groups.get(&input.name) else {
                return Err(group_not_found(OP, &input.name));
            };
            if g.status.is_some() {
                return Err(err(
                    OP,
                    "ScalingActivityInProgress",
                    "The group is being deleted.",
                ));
            }
            if let Some((id, version)) = &input.launch_template {
                check_template(OP, s, id, version)?;
            }
            if input.subnet_ids.as_ref().is_some_and(|s| s.is_empty()) {
                return Err(err(
                    OP,
                    "ValidationError",
                    "At least one Availability Zone or VPC Subnet is required.",
                ));
            }
            let State {
                groups,
                launch_templates,
                launch_configurations,
                seq,
                ..
            } = &mut *s;
            let g = groups.get_mut(&input.name).expect("checked above");
            let min = input.min_size.unwrap_or(g.min);
            let max = input.max_size.unwrap_or(g.max);
            if min > max {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!("Max bound, {max}, must be greater than or equal to min bound, {min}"),
                ));
            }
            let desired = match input.desired_capacity {
                Some(d) if d < min || d > max => {
                    return Err(err(
                        OP,
                        "ValidationError",
                        format!(
                            "Desired capacity:{d} must be between the specified min size:{min} \
                             and max size:{max}"
                        ),
                    ))
                }
                Some(d) => d,
                // A new bound implicitly moves the desired capacity inside it.
                None => g.desired.clamp(min, max),
            };
            if let Some((id, version)) = &input.launch_template {
                g.template_name = launch_templates
                    .values()
                    .find(|t| t.template.id == *id)
                    .map(|t| t.template.name.clone());
                g.template_id = id.clone();
                g.template_version = version.clone();
                // A group moves off its launch configuration for good.
                g.launch_configuration = None;
            }
            if let Some(subnets) = &input.subnet_ids {
                g.subnets = subnets.clone();
            }
            if let Some(p) = input.new_instances_protected_from_scale_in {
                g.protect_new = p;
            }
            g.min = min;
            g.max = max;
            g.desired = desired;
            rescale(g, launch_templates, launch_configurations, seq);
            s.group_updates.push(input.clone());
            Ok(())
        })
    }

    async fn attach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:AttachLoadBalancers";
        if elbs.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            if let Some(lb) = elbs.iter().find(|n| !s.elbs.contains_key(*n)) {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!("Provided Load Balancers may not be valid: {lb} is missing."),
                ));
            }
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            for lb in elbs {
                if !g.elbs.contains(lb) {
                    g.elbs.push(lb.clone());
                }
            }
            Ok(())
        })
    }

    async fn detach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DetachLoadBalancers";
        if elbs.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            g.elbs.retain(|lb| !elbs.contains(lb));
            Ok(())
        })
    }

    async fn tag_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:CreateOrUpdateTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            g.tags.extend(tags.clone());
            Ok(())
        })
    }

    async fn untag_group(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DeleteTags";
        if keys.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            g.tags.retain(|k, _| !keys.contains(k));
            Ok(())
        })
    }

    async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DeleteAutoScalingGroup";
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            // ForceDelete: the instances terminate with the group.
            g.status = Some("Delete in progress".into());
            g.desired = 0;
            g.min = 0;
            for i in &mut g.instances {
                i.state = "Terminating".into();
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::test_support::lt_data;
    use crate::aws::{Ec2Api, EcsApi};

    #[tokio::test]
    async fn a_group_launches_from_its_launch_configuration_until_it_moves_to_a_template() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        fake.create_launch_configuration(&LaunchConfiguration {
            name: "lc".into(),
            data: lt_data("c", "t2.micro"),
            ..Default::default()
        });
        let input = CreateGroupInput {
            name: "g".into(),
            min_size: 2,
            max_size: 3,
            desired_capacity: 2,
            subnet_ids: vec!["subnet-a".into()],
            ..Default::default()
        };
        fake.create_group_from_launch_configuration("lc", &input);
        fake.tick();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.launch_configuration_name.as_deref(), Some("lc"));
        assert_eq!(
            (g.launch_template_id, g.launch_template_version),
            (None, None)
        );
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 2);
        let lc = fake.describe_launch_configuration("lc").await.unwrap();
        assert_eq!(lc.map(|c| c.data), Some(lt_data("c", "t2.micro")));
        assert_eq!(fake.describe_launch_configuration("x").await.unwrap(), None);

        let lt = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap();
        fake.update_group(&UpdateGroupInput {
            name: "g".into(),
            launch_template: Some((lt.id.clone(), "1".into())),
            desired_capacity: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.launch_configuration_name, None);
        assert_eq!(g.launch_template_id.as_deref(), Some(lt.id.as_str()));
        // The instances from the configuration stay; the new one comes from the template.
        let mut versions: Vec<i64> = fake.instance_versions("g").into_values().collect();
        versions.sort();
        assert_eq!(versions, [0, 0, 1]);
    }

    #[tokio::test]
    async fn groups_launch_instances_that_join_the_cluster_and_delete_in_two_steps() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        let lt = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap();
        let input = CreateGroupInput {
            name: "g".into(),
            launch_template_id: lt.id.clone(),
            launch_template_version: "1".into(),
            min_size: 2,
            max_size: 3,
            desired_capacity: 2,
            subnet_ids: vec!["subnet-a".into()],
            ..Default::default()
        };
        fake.create_group(&input).await.unwrap();
        let e = fake.create_group(&input).await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("AlreadyExists", AwsErrorKind::AlreadyExists)
        );
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert!(g.instances.iter().all(|i| i.lifecycle_state == "Pending"));
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 0);
        fake.tick();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.instances.len(), 2);
        assert!(g.instances.iter().all(|i| i.lifecycle_state == "InService"));
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 2);

        // Lowering max below desired lowers desired too.
        fake.update_group(&UpdateGroupInput {
            name: "g".into(),
            min_size: Some(1),
            max_size: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.desired_capacity, 1);
        assert_eq!(
            g.instances
                .iter()
                .filter(|i| i.lifecycle_state == "Terminating")
                .count(),
            1
        );

        fake.delete_group("g").await.unwrap();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.status.as_deref(), Some("Delete in progress"));
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.code, "ClusterContainsContainerInstancesException");
        fake.tick();
        assert_eq!(fake.describe_group("g").await.unwrap(), None);
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 0);
        fake.delete_cluster("c").await.unwrap();
        let e = fake.delete_group("g").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
    }
}
