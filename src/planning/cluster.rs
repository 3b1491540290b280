//! Cluster capacity: the launch template data, when it needs a new version, and how the
//! Auto Scaling group must change.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::drift::{self, Drift, Resource};
use crate::api::cluster::{CapacityStatus, ClusterCapacity, DEFAULT_IMAGE_ID};
use crate::aws::types::{
    AutoScalingGroup, CreateGroupInput, LaunchTemplateData, Tags, UpdateGroupInput,
};

/// Prefix of the launch template version description that carries the spec hash.
const HASH_PREFIX: &str = "ecs-operator spec ";

/// Name of the launch template of a cluster's capacity.
pub fn launch_template_name(cluster_name: &str) -> String {
    format!("{cluster_name}-ecs-capacity")
}

/// Name of the Auto Scaling group of a cluster's capacity.
pub fn group_name(cluster_name: &str) -> String {
    format!("{cluster_name}-ecs-capacity")
}

/// The names of a cluster's launch template and Auto Scaling group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapacityNames {
    /// Launch template name.
    pub launch_template: String,
    /// Auto Scaling group name.
    pub group: String,
}

/// The names the capacity spec gives, or the defaults derived from the cluster name.
pub fn capacity_names(cluster_name: &str, cap: &ClusterCapacity) -> CapacityNames {
    CapacityNames {
        launch_template: cap
            .launch_template_name
            .clone()
            .unwrap_or_else(|| launch_template_name(cluster_name)),
        group: cap
            .auto_scaling_group_name
            .clone()
            .unwrap_or_else(|| group_name(cluster_name)),
    }
}

/// The names of capacity to remove: the spec's, else those status recorded (the spec may
/// have dropped its capacity), else the defaults.
pub fn removal_names(
    cluster_name: &str,
    cap: Option<&ClusterCapacity>,
    recorded: Option<&CapacityStatus>,
) -> CapacityNames {
    if let Some(cap) = cap {
        return capacity_names(cluster_name, cap);
    }
    CapacityNames {
        launch_template: recorded
            .and_then(|r| r.launch_template_name.clone())
            .unwrap_or_else(|| launch_template_name(cluster_name)),
        group: recorded
            .map(|r| r.auto_scaling_group_name.clone())
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| group_name(cluster_name)),
    }
}

/// User data that makes the ECS agent join the cluster, then the user's extra shell.
pub fn user_data(cluster_name: &str, extra: Option<&str>) -> String {
    let mut script =
        format!("#!/bin/bash\necho ECS_CLUSTER={cluster_name} >> /etc/ecs/ecs.config\n");
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        script.push_str(extra);
        if !extra.ends_with('\n') {
            script.push('\n');
        }
    }
    script
}

/// The launch template data the capacity spec asks for.
pub fn launch_template_data(cluster_name: &str, cap: &ClusterCapacity) -> LaunchTemplateData {
    let mut sgs = cap.security_group_ids.clone();
    sgs.sort();
    LaunchTemplateData {
        image_id: cap
            .image_id
            .clone()
            .unwrap_or_else(|| DEFAULT_IMAGE_ID.to_string()),
        instance_type: cap.instance_type.clone(),
        instance_profile: cap.instance_profile.clone(),
        security_group_ids: sgs,
        key_name: cap.key_name.clone(),
        user_data_base64: base64::engine::general_purpose::STANDARD.encode(
            if cap.user_data_verbatim == Some(true) {
                cap.user_data.clone().unwrap_or_default()
            } else {
                user_data(cluster_name, cap.user_data.as_deref())
            },
        ),
    }
}

/// Whether a launch template version's data is the wanted data, for a version the operator
/// did not make (its description carries no spec hash). Security groups are compared as
/// sets, user data decoded (base64 may be padded or wrapped differently), and an empty
/// key pair or profile is no key pair or profile.
pub fn same_data(observed: &LaunchTemplateData, wanted: &LaunchTemplateData) -> bool {
    let norm = |d: &LaunchTemplateData| {
        let mut sgs = d.security_group_ids.clone();
        sgs.sort();
        sgs.dedup();
        let compact: String = d
            .user_data_base64
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let user_data = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .unwrap_or_else(|_| compact.into_bytes());
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        (
            d.image_id.clone(),
            d.instance_type.clone(),
            some(&d.instance_profile),
            sgs,
            some(&d.key_name),
            user_data,
        )
    };
    norm(observed) == norm(wanted)
}

/// The version description recording which data a launch template version holds.
pub fn version_description(data: &LaunchTemplateData) -> String {
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        data.image_id,
        data.instance_type,
        data.instance_profile.as_deref().unwrap_or(""),
        data.security_group_ids.join(","),
        data.key_name.as_deref().unwrap_or(""),
        data.user_data_base64
    );
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("{HASH_PREFIX}{hex}")
}

/// Whether a version's description is one the operator wrote (a spec hash): such a version
/// holds the data of that hash, so only other versions need their data read to compare.
pub fn described_by_operator(description: Option<&str>) -> bool {
    description.is_some_and(|d| d.starts_with(HASH_PREFIX))
}

/// Whether the latest version (by its description) already holds the wanted data.
pub fn needs_new_version(latest_description: Option<&str>, wanted: &str) -> bool {
    latest_description != Some(wanted)
}

/// The correction when the launch template's latest version (`latest_version`, described
/// by `latest_description`) does not hold the wanted data: a new version, expected to be
/// the next number (the caller puts in the one AWS gives). `None`: nothing to do.
///
/// Only the description's hash is read, not the version's data, so the drift names the
/// version rather than the fields that differ.
pub fn plan_version(
    latest_version: i64,
    latest_description: Option<&str>,
    wanted: &str,
) -> Option<Drift> {
    needs_new_version(latest_description, wanted).then(|| {
        Drift::new(
            Resource::LaunchTemplate,
            "version",
            latest_version.to_string(),
            (latest_version + 1).to_string(),
        )
    })
}

/// The group to create.
pub fn create_group(
    name: &str,
    cap: &ClusterCapacity,
    template_id: &str,
    version: i64,
    tags: &Tags,
) -> CreateGroupInput {
    CreateGroupInput {
        name: name.to_string(),
        launch_template_id: template_id.to_string(),
        launch_template_version: version.to_string(),
        min_size: cap.min_size,
        max_size: cap.max_size,
        desired_capacity: cap.desired_capacity.unwrap_or(cap.min_size),
        subnet_ids: cap.subnet_ids.clone(),
        load_balancer_names: cap.load_balancer_names.clone(),
        new_instances_protected_from_scale_in: protect_from_scale_in(cap),
        tags: tags.clone(),
    }
}

/// Whether the group launches instances protected from scale-in: what a capacity
/// provider with managed termination protection needs (ECS then lifts the protection of
/// instances without tasks when it scales in).
pub fn protect_from_scale_in(cap: &ClusterCapacity) -> bool {
    cap.capacity_provider
        .as_ref()
        .is_some_and(|p| p.managed_termination_protection.is_enabled())
}

/// Changes to an existing group, and the fields that differ from the spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupPlan {
    /// The UpdateAutoScalingGroup call (may be empty).
    pub update: UpdateGroupInput,
    /// ELBs to attach.
    pub attach: Vec<String>,
    /// ELBs to detach.
    pub detach: Vec<String>,
    /// Fields that differ from the spec, with AWS's and the spec's values.
    pub drift: Vec<Drift>,
}

/// Compare an existing group with the spec and the wanted launch template version.
pub fn plan_group(
    cap: &ClusterCapacity,
    observed: &AutoScalingGroup,
    template_id: &str,
    version: i64,
    default_version: i64,
) -> GroupPlan {
    let mut plan = GroupPlan {
        update: UpdateGroupInput {
            name: observed.name.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let version = version.to_string();
    let want_template = format!("{template_id}:{version}");
    // A group made by hand often launches `$Latest` (or `$Default`, the console's choice):
    // the wanted version when it is the template's latest (or default) one, which every
    // sync makes it. Moving it to the number would be a write with no effect on what it
    // launches.
    let same_template = observed.launch_template_id.as_deref() == Some(template_id);
    let observed_version = match observed.launch_template_version.as_deref() {
        Some("$Latest") if same_template => Some(version.as_str()),
        // No version is `$Default` to Auto Scaling.
        None | Some("$Default") if same_template && default_version.to_string() == version => {
            Some(version.as_str())
        }
        v => v,
    };
    let have_template = format!(
        "{}:{}",
        observed.launch_template_id.as_deref().unwrap_or("none"),
        observed_version.unwrap_or("none")
    );
    let g = Resource::AutoScalingGroup;
    if drift::check(
        &mut plan.drift,
        g,
        "launchTemplate",
        &want_template,
        &have_template,
    ) {
        plan.update.launch_template = Some((template_id.to_string(), version));
    }
    if drift::check(
        &mut plan.drift,
        g,
        "minSize",
        &cap.min_size,
        &observed.min_size,
    ) {
        plan.update.min_size = Some(cap.min_size);
    }
    if drift::check(
        &mut plan.drift,
        g,
        "maxSize",
        &cap.max_size,
        &observed.max_size,
    ) {
        plan.update.max_size = Some(cap.max_size);
    }
    if let Some(d) = cap.desired_capacity {
        if drift::check(
            &mut plan.drift,
            g,
            "desiredCapacity",
            &d,
            &observed.desired_capacity,
        ) {
            plan.update.desired_capacity = Some(d);
        }
    }
    let protect = protect_from_scale_in(cap);
    if drift::check(
        &mut plan.drift,
        g,
        "newInstancesProtectedFromScaleIn",
        &protect,
        &observed.new_instances_protected_from_scale_in,
    ) {
        plan.update.new_instances_protected_from_scale_in = Some(protect);
    }
    // Order does not matter to Auto Scaling: compared sorted.
    if drift::check(
        &mut plan.drift,
        g,
        "subnetIds",
        &drift::sorted_list(&cap.subnet_ids),
        &drift::sorted_list(&observed.subnet_ids),
    ) {
        plan.update.subnet_ids = Some(cap.subnet_ids.clone());
    }
    plan.attach = cap
        .load_balancer_names
        .iter()
        .filter(|n| !observed.load_balancer_names.contains(n))
        .cloned()
        .collect();
    plan.detach = observed
        .load_balancer_names
        .iter()
        .filter(|n| !cap.load_balancer_names.contains(n))
        .cloned()
        .collect();
    if !plan.attach.is_empty() || !plan.detach.is_empty() {
        plan.drift.push(Drift::new(
            g,
            "loadBalancerNames",
            drift::sorted_list(&observed.load_balancer_names),
            drift::sorted_list(&cap.load_balancer_names),
        ));
    }
    plan
}

/// The next step in removing an owned Auto Scaling group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalStep {
    /// Set min, max and desired to 0 so its instances terminate the normal way.
    ScaleIn,
    /// No instance left: delete the group.
    Delete,
    /// Instances are terminating, or the deletion is under way.
    Wait,
}

/// Where removing `group` stands.
///
/// Instances protected from scale-in (managed termination protection) never terminate
/// when the group scales in: once only such instances are left, the group is deleted with
/// ForceDelete, which terminates them, instead of waiting for ever.
pub fn capacity_removal_step(group: &AutoScalingGroup) -> RemovalStep {
    let only_protected_left = group
        .instances
        .iter()
        .all(|i| i.protected_from_scale_in && i.lifecycle_state != "Terminating");
    if group.status.is_some() {
        RemovalStep::Wait
    } else if group.min_size != 0 || group.max_size != 0 || group.desired_capacity != 0 {
        RemovalStep::ScaleIn
    } else if only_protected_left {
        RemovalStep::Delete
    } else {
        RemovalStep::Wait
    }
}

/// The UpdateAutoScalingGroup that scales `group` in to zero before it is deleted; new
/// instances are no longer protected from scale-in.
pub fn scale_in(group: &AutoScalingGroup) -> UpdateGroupInput {
    UpdateGroupInput {
        name: group.name.clone(),
        min_size: Some(0),
        max_size: Some(0),
        desired_capacity: Some(0),
        new_instances_protected_from_scale_in: group
            .new_instances_protected_from_scale_in
            .then_some(false),
        ..Default::default()
    }
}

/// What removing `group` waits for, for the Ready condition.
pub fn capacity_removal_message(group: &AutoScalingGroup) -> String {
    match capacity_removal_step(group) {
        RemovalStep::ScaleIn | RemovalStep::Wait if group.status.is_none() => format!(
            "removing capacity: waiting for {} instances of Auto Scaling group {} to terminate",
            group.instances.len(),
            group.name
        ),
        _ => format!(
            "removing capacity: waiting for Auto Scaling group {} to be deleted",
            group.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap() -> ClusterCapacity {
        ClusterCapacity {
            instance_type: "t2.micro".into(),
            subnet_ids: vec!["subnet-b".into(), "subnet-a".into()],
            min_size: 5,
            max_size: 5,
            desired_capacity: Some(5),
            ..Default::default()
        }
    }

    fn group() -> AutoScalingGroup {
        AutoScalingGroup {
            name: "g".into(),
            launch_template_id: Some("lt-1".into()),
            launch_template_version: Some("1".into()),
            min_size: 5,
            max_size: 5,
            desired_capacity: 5,
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            ..Default::default()
        }
    }

    #[test]
    fn user_data_joins_the_cluster_then_runs_extra_shell() {
        assert_eq!(
            user_data("my-ecs-cluster", None),
            "#!/bin/bash\necho ECS_CLUSTER=my-ecs-cluster >> /etc/ecs/ecs.config\n"
        );
        assert!(user_data("c", Some("yum -y update")).ends_with("ecs.config\nyum -y update\n"));
    }

    #[test]
    fn default_image_is_the_ecs_optimized_ami() {
        assert_eq!(launch_template_data("c", &cap()).image_id, DEFAULT_IMAGE_ID);
    }

    #[test]
    fn version_description_changes_only_with_the_data() {
        let a = version_description(&launch_template_data("c", &cap()));
        assert_eq!(a, version_description(&launch_template_data("c", &cap())));
        let mut bigger = cap();
        bigger.instance_type = "t3.small".into();
        let b = version_description(&launch_template_data("c", &bigger));
        assert_ne!(a, b);
        assert!(!needs_new_version(Some(&a), &a));
        assert!(needs_new_version(Some(&a), &b));
        assert!(needs_new_version(None, &a));
        // Sizes are group settings, not launch template data.
        let mut sized = cap();
        sized.max_size = 9;
        assert_eq!(a, version_description(&launch_template_data("c", &sized)));
    }

    #[test]
    fn matching_group_needs_nothing() {
        let plan = plan_group(&cap(), &group(), "lt-1", 1, 1);
        assert!(plan.update.is_empty() && plan.attach.is_empty() && plan.detach.is_empty());
        assert!(plan.drift.is_empty());
    }

    #[test]
    fn new_version_and_size_drift() {
        let mut g = group();
        g.desired_capacity = 2;
        g.max_size = 7;
        let plan = plan_group(&cap(), &g, "lt-1", 2, 1);
        assert_eq!(
            plan.update.launch_template,
            Some(("lt-1".into(), "2".into()))
        );
        assert_eq!(plan.update.desired_capacity, Some(5));
        assert_eq!(plan.update.max_size, Some(5));
        let g = Resource::AutoScalingGroup;
        assert_eq!(
            plan.drift,
            vec![
                Drift::new(g, "launchTemplate", "lt-1:1", "lt-1:2"),
                Drift::new(g, "maxSize", "7", "5"),
                Drift::new(g, "desiredCapacity", "2", "5"),
            ]
        );
    }

    #[test]
    fn unmanaged_desired_capacity_is_left_alone() {
        let mut c = cap();
        c.desired_capacity = None;
        let mut g = group();
        g.desired_capacity = 3;
        assert!(plan_group(&c, &g, "lt-1", 1, 1).update.is_empty());
        assert_eq!(
            create_group("g", &c, "lt-1", 1, &Tags::new()).desired_capacity,
            5
        );
    }

    #[test]
    fn load_balancers_are_attached_and_detached() {
        let mut c = cap();
        c.load_balancer_names = vec!["new".into()];
        let mut g = group();
        g.load_balancer_names = vec!["old".into()];
        let plan = plan_group(&c, &g, "lt-1", 1, 1);
        assert_eq!(plan.attach, vec!["new".to_string()]);
        assert_eq!(plan.detach, vec!["old".to_string()]);
        assert_eq!(
            plan.drift,
            vec![Drift::new(
                Resource::AutoScalingGroup,
                "loadBalancerNames",
                "[old]",
                "[new]"
            )]
        );
    }

    #[test]
    fn subnets_and_min_size_drift_with_values() {
        let mut g = group();
        g.min_size = 1;
        g.subnet_ids = vec!["subnet-c".into(), "subnet-a".into()];
        let plan = plan_group(&cap(), &g, "lt-1", 1, 1);
        assert_eq!(plan.update.min_size, Some(5));
        assert_eq!(
            plan.update.subnet_ids,
            Some(vec!["subnet-b".into(), "subnet-a".into()])
        );
        let g = Resource::AutoScalingGroup;
        assert_eq!(
            plan.drift,
            vec![
                Drift::new(g, "minSize", "1", "5"),
                Drift::new(
                    g,
                    "subnetIds",
                    "[subnet-a, subnet-c]",
                    "[subnet-a, subnet-b]"
                ),
            ]
        );
    }

    #[test]
    fn a_launch_template_holding_other_data_gets_a_new_version() {
        let want = version_description(&launch_template_data("c", &cap()));
        assert_eq!(plan_version(3, Some(&want), &want), None);
        assert_eq!(
            plan_version(3, Some("edited by hand"), &want),
            Some(Drift::new(Resource::LaunchTemplate, "version", "3", "4"))
        );
        assert!(plan_version(1, None, &want).is_some());
    }

    fn removal_group(min: i32, max: i32, desired: i32, instances: usize) -> AutoScalingGroup {
        AutoScalingGroup {
            name: "g".into(),
            min_size: min,
            max_size: max,
            desired_capacity: desired,
            instances: (0..instances)
                .map(|i| crate::aws::types::AsgInstance {
                    instance_id: format!("i-{i}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn capacity_is_removed_by_scaling_in_then_deleting() {
        assert_eq!(
            capacity_removal_step(&removal_group(2, 5, 3, 3)),
            RemovalStep::ScaleIn
        );
        assert_eq!(
            capacity_removal_step(&removal_group(0, 0, 0, 2)),
            RemovalStep::Wait
        );
        assert!(capacity_removal_message(&removal_group(0, 0, 0, 2)).contains("2 instances"));
        assert_eq!(
            capacity_removal_step(&removal_group(0, 0, 0, 0)),
            RemovalStep::Delete
        );
        let mut deleting = removal_group(0, 0, 0, 0);
        deleting.status = Some("Delete in progress".into());
        assert_eq!(capacity_removal_step(&deleting), RemovalStep::Wait);
        assert!(capacity_removal_message(&deleting).contains("to be deleted"));
    }

    #[test]
    fn a_group_launching_latest_or_default_is_on_the_wanted_version() {
        let mut g = group();
        g.launch_template_version = Some("$Latest".into());
        assert!(plan_group(&cap(), &g, "lt-1", 3, 1).update.is_empty());
        g.launch_template_version = Some("$Default".into());
        assert!(plan_group(&cap(), &g, "lt-1", 3, 3).update.is_empty());
        g.launch_template_version = None;
        assert!(plan_group(&cap(), &g, "lt-1", 3, 3).update.is_empty());
        // $Default is another version than the wanted one: moved to the number.
        g.launch_template_version = Some("$Default".into());
        let plan = plan_group(&cap(), &g, "lt-1", 3, 1);
        assert_eq!(
            plan.update.launch_template,
            Some(("lt-1".to_string(), "3".to_string()))
        );
        // Another template's $Latest is not ours.
        g.launch_template_id = Some("lt-2".into());
        g.launch_template_version = Some("$Latest".into());
        assert!(!plan_group(&cap(), &g, "lt-1", 3, 1).update.is_empty());
    }

    #[test]
    fn a_group_on_a_launch_configuration_is_only_moved_to_the_template() {
        // As Auto Scaling describes a group made from a launch configuration.
        let mut g = group();
        g.launch_template_id = None;
        g.launch_template_version = None;
        g.launch_configuration_name = Some("ecs-launch-configuration".into());
        let plan = plan_group(&cap(), &g, "lt-1", 1, 1);
        assert_eq!(
            plan.update,
            UpdateGroupInput {
                name: "g".into(),
                launch_template: Some(("lt-1".into(), "1".into())),
                ..Default::default()
            }
        );
        assert!(plan.attach.is_empty() && plan.detach.is_empty());
        assert_eq!(
            plan.drift,
            vec![Drift::new(
                Resource::AutoScalingGroup,
                "launchTemplate",
                "none:none",
                "lt-1:1"
            )]
        );
        // Once moved (moto keeps naming the configuration beside it): nothing more.
        g.launch_template_id = Some("lt-1".into());
        g.launch_template_version = Some("1".into());
        assert_eq!(
            plan_group(&cap(), &g, "lt-1", 1, 1),
            GroupPlan {
                update: UpdateGroupInput {
                    name: "g".into(),
                    ..Default::default()
                },
                ..Default::default()
            }
        );
    }

    #[test]
    fn only_versions_made_by_other_means_have_their_data_compared() {
        let ours = version_description(&launch_template_data("c", &cap()));
        assert!(described_by_operator(Some(&ours)));
        assert!(!described_by_operator(Some("made in the console")));
        assert!(!described_by_operator(None));
    }

    #[test]
    fn data_made_by_hand_is_compared_as_sets_and_decoded() {
        let want = launch_template_data("c", &cap());
        let mut have = want.clone();
        have.security_group_ids.reverse();
        // The same user data, base64 wrapped over lines as some tools write it.
        let (a, b) = want.user_data_base64.split_at(8);
        have.user_data_base64 = format!("{a}\n{b}");
        assert!(same_data(&have, &want));
        have.key_name = Some(String::new());
        assert!(same_data(&have, &want));
        have.instance_type = "t3.micro".into();
        assert!(!same_data(&have, &want));
    }

    #[test]
    fn verbatim_user_data_is_the_whole_script() {
        let mut c = cap();
        c.user_data = Some("#!/bin/bash\necho ECS_CLUSTER=c > /etc/ecs/ecs.config\n".into());
        c.user_data_verbatim = Some(true);
        let data = launch_template_data("c", &c);
        let script = base64::engine::general_purpose::STANDARD
            .decode(&data.user_data_base64)
            .unwrap();
        assert_eq!(
            String::from_utf8(script).unwrap(),
            "#!/bin/bash\necho ECS_CLUSTER=c > /etc/ecs/ecs.config\n"
        );
    }

    #[test]
    fn capacity_names_come_from_the_spec_then_status_then_the_defaults() {
        let mut c = cap();
        assert_eq!(
            capacity_names("c", &c),
            CapacityNames {
                launch_template: "c-ecs-capacity".into(),
                group: "c-ecs-capacity".into()
            }
        );
        c.launch_template_name = Some("lt".into());
        c.auto_scaling_group_name = Some("asg".into());
        let named = CapacityNames {
            launch_template: "lt".into(),
            group: "asg".into(),
        };
        assert_eq!(removal_names("c", Some(&c), None), named);
        let recorded = CapacityStatus {
            auto_scaling_group_name: "asg".into(),
            launch_template_name: Some("lt".into()),
            ..Default::default()
        };
        assert_eq!(removal_names("c", None, Some(&recorded)), named);
        assert_eq!(removal_names("c", None, None), capacity_names("c", &cap()));
    }

    #[test]
    fn instances_protected_from_scale_in_do_not_block_removal() {
        let mut g = removal_group(0, 0, 0, 2);
        for i in &mut g.instances {
            i.protected_from_scale_in = true;
            i.lifecycle_state = "InService".into();
        }
        // Nothing terminates them: force-delete instead of waiting.
        assert_eq!(capacity_removal_step(&g), RemovalStep::Delete);
        // One unprotected instance still terminating: wait for it first.
        g.instances[1].protected_from_scale_in = false;
        g.instances[1].lifecycle_state = "Terminating".into();
        assert_eq!(capacity_removal_step(&g), RemovalStep::Wait);
        let mut protecting = removal_group(2, 2, 2, 2);
        protecting.new_instances_protected_from_scale_in = true;
        let u = scale_in(&protecting);
        assert_eq!(
            (u.min_size, u.max_size, u.desired_capacity),
            (Some(0), Some(0), Some(0))
        );
        assert_eq!(u.new_instances_protected_from_scale_in, Some(false));
        assert_eq!(
            scale_in(&removal_group(2, 2, 2, 2)).new_instances_protected_from_scale_in,
            None
        );
    }

    #[test]
    fn managed_termination_protection_protects_new_instances() {
        use crate::api::cluster::{CapacityProviderSpec, ManagedScaling, Toggle};
        let mut c = cap();
        c.desired_capacity = None;
        c.capacity_provider = Some(CapacityProviderSpec {
            managed_scaling: Some(ManagedScaling::default()),
            managed_termination_protection: Toggle::Enabled,
            managed_draining: Toggle::Enabled,
            name: None,
        });
        assert!(
            create_group("g", &c, "lt-1", 1, &Tags::new()).new_instances_protected_from_scale_in
        );
        let mut g = group();
        // ECS scaled the group: its desired capacity is not ours to correct.
        g.desired_capacity = 4;
        let plan = plan_group(&c, &g, "lt-1", 1, 1);
        assert_eq!(
            plan.update.new_instances_protected_from_scale_in,
            Some(true)
        );
        assert_eq!(plan.update.desired_capacity, None);
        assert_eq!(
            plan.drift,
            vec![Drift::new(
                Resource::AutoScalingGroup,
                "newInstancesProtectedFromScaleIn",
                "false",
                "true"
            )]
        );
        g.new_instances_protected_from_scale_in = true;
        assert!(plan_group(&c, &g, "lt-1", 1, 1).update.is_empty());
    }
}
