//! [`AutoScalingApi`] with the AWS SDK.

use async_trait::async_trait;
use aws_sdk_autoscaling::types as asg;

use super::convert::{non_empty, tags_from};
use super::sdk_error;
use crate::aws::error::{AwsError, AwsErrorKind};
use crate::aws::types::*;
use crate::aws::AutoScalingApi;

/// Auto Scaling client.
#[derive(Clone, Debug)]
pub struct SdkAutoScaling {
    client: aws_sdk_autoscaling::Client,
    /// The same client for writes: no blind retries (see [`super::retry::NoBlindRetry`]).
    writer: aws_sdk_autoscaling::Client,
}

impl SdkAutoScaling {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_autoscaling::Client) -> Self {
        let writer = aws_sdk_autoscaling::Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_classifier(super::retry::NoBlindRetry)
                .build(),
        );
        Self { client, writer }
    }
}

#[async_trait]
impl AutoScalingApi for SdkAutoScaling {
    async fn describe_group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
        const OP: &str = "autoscaling:DescribeAutoScalingGroups";
        let resp = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(resp
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(name))
            .map(group))
    }

    async fn describe_groups_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        const OP: &str = "autoscaling:DescribeAutoScalingGroups";
        let mut pages = self
            .client
            .describe_auto_scaling_groups()
            .filters(
                aws_sdk_autoscaling::types::Filter::builder()
                    .name("tag-key")
                    .values(tag_key)
                    .build(),
            )
            .max_records(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(g) = pages.next().await {
            let g = group(&g.map_err(|e| group_error(OP, e))?);
            if g.tags.contains_key(tag_key) {
                out.push(g);
            }
        }
        Ok(out)
    }

    async fn describe_all_groups(&self) -> Result<Vec<AutoScalingGroup>, AwsError> {
        const OP: &str = "autoscaling:DescribeAutoScalingGroups";
        let mut pages = self
            .client
            .describe_auto_scaling_groups()
            .max_records(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(g) = pages.next().await {
            out.push(group(&g.map_err(|e| group_error(OP, e))?));
        }
        Ok(out)
    }

    async fn describe_launch_configuration(
        &self,
        name: &str,
    ) -> Result<Option<LaunchConfiguration>, AwsError> {
        const OP: &str = "autoscaling:DescribeLaunchConfigurations";
        let resp = self
            .client
            .describe_launch_configurations()
            .launch_configuration_names(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .launch_configurations()
            .iter()
            .find(|c| c.launch_configuration_name() == Some(name))
            .map(launch_configuration))
    }

    async fn create_group(&self, input: &CreateGroupInput) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:CreateAutoScalingGroup";
        self.writer
            .create_auto_scaling_group()
            .auto_scaling_group_name(&input.name)
            .launch_template(launch_template_spec(
                &input.launch_template_id,
                &input.launch_template_version,
            ))
            .min_size(input.min_size)
            .max_size(input.max_size)
            .desired_capacity(input.desired_capacity)
            .set_vpc_zone_identifier(vpc_zone_identifier(&input.subnet_ids))
            .set_load_balancer_names(non_empty(input.load_balancer_names.clone()))
            .set_new_instances_protected_from_scale_in(
                Some(true).filter(|_| input.new_instances_protected_from_scale_in),
            )
            .set_tags(non_empty(asg_tags(&input.name, &input.tags)))
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }

    async fn update_group(&self, input: &UpdateGroupInput) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:UpdateAutoScalingGroup";
        self.writer
            .update_auto_scaling_group()
            .auto_scaling_group_name(&input.name)
            .set_launch_template(
                input
                    .launch_template
                    .as_ref()
                    .map(|(id, version)| launch_template_spec(id, version)),
            )
            .set_min_size(input.min_size)
            .set_max_size(input.max_size)
            .set_desired_capacity(input.desired_capacity)
            .set_vpc_zone_identifier(input.subnet_ids.as_deref().and_then(vpc_zone_identifier))
            .set_new_instances_protected_from_scale_in(input.new_instances_protected_from_scale_in)
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }

    async fn attach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:AttachLoadBalancers";
        if elbs.is_empty() {
            return Ok(());
        }
        self.writer
            .attach_load_balancers()
            .auto_scaling_group_name(name)
            .set_load_balancer_names(Some(elbs.to_vec()))
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }

    async fn detach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DetachLoadBalancers";
        if elbs.is_empty() {
            return Ok(());
        }
        self.writer
            .detach_load_balancers()
            .auto_scaling_group_name(name)
            .set_load_balancer_names(Some(elbs.to_vec()))
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }

    async fn tag_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:CreateOrUpdateTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.writer
            .create_or_update_tags()
            .set_tags(Some(asg_tags(name, tags)))
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }

    async fn untag_group(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DeleteTags";
        if keys.is_empty() {
            return Ok(());
        }
        // Auto Scaling deletes a tag by key; the value is not needed.
        let tags = keys.iter().map(|k| {
            asg::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .build()
        });
        self.writer
            .delete_tags()
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }

    async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DeleteAutoScalingGroup";
        self.writer
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true)
            .send()
            .await
            .map_err(|e| group_error(OP, e))?;
        Ok(())
    }
}

/// Auto Scaling reports a missing group as `ValidationError` "AutoScalingGroup name not
/// found - …", which the generic classification cannot tell from bad input.
fn group_error<E, R>(
    operation: &'static str,
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> AwsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: super::RawStatus + std::fmt::Debug + 'static,
{
    let mut err = sdk_error(operation, err);
    if err.code == "ValidationError"
        && err
            .message
            .to_ascii_lowercase()
            .contains("autoscalinggroup name not found")
    {
        err.kind = AwsErrorKind::NotFound;
    }
    err
}

fn launch_template_spec(id: &str, version: &str) -> asg::LaunchTemplateSpecification {
    asg::LaunchTemplateSpecification::builder()
        .launch_template_id(id)
        .version(version)
        .build()
}

/// Subnets travel as one comma-separated string.
fn vpc_zone_identifier(subnets: &[String]) -> Option<String> {
    non_empty(subnets.to_vec()).map(|s| s.join(","))
}

fn asg_tags(name: &str, tags: &Tags) -> Vec<asg::Tag> {
    tags.iter()
        .map(|(k, v)| {
            asg::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .build()
        })
        .collect()
}

fn group(g: &asg::AutoScalingGroup) -> AutoScalingGroup {
    let template = g.launch_template().or_else(|| {
        g.mixed_instances_policy()
            .and_then(|p| p.launch_template())
            .and_then(|t| t.launch_template_specification())
    });
    AutoScalingGroup {
        name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
        arn: g.auto_scaling_group_arn().map(str::to_string),
        launch_template_id: template
            .and_then(|t| t.launch_template_id())
            .map(str::to_string),
        launch_template_version: template.and_then(|t| t.version()).map(str::to_string),
        launch_template_name: template
            .and_then(|t| t.launch_template_name())
            .map(str::to_string),
        launch_configuration_name: g.launch_configuration_name().map(str::to_string),
        min_size: g.min_size().unwrap_or_default(),
        max_size: g.max_size().unwrap_or_default(),
        desired_capacity: g.desired_capacity().unwrap_or_default(),
        subnet_ids: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        load_balancer_names: g.load_balancer_names().to_vec(),
        new_instances_protected_from_scale_in: g
            .new_instances_protected_from_scale_in()
            .unwrap_or_default(),
        instances: g
            .instances()
            .iter()
            .map(|i| AsgInstance {
                instance_id: i.instance_id().unwrap_or_default().to_string(),
                lifecycle_state: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                protected_from_scale_in: i.protected_from_scale_in().unwrap_or_default(),
            })
            .collect(),
        status: g.status().map(str::to_string),
        tags: tags_from(g.tags().iter().map(|t| (t.key(), t.value()))),
    }
}

/// A launch configuration as the launch template data it translates into, and the names
/// of its settings a launch template of the operator cannot state.
fn launch_configuration(c: &asg::LaunchConfiguration) -> LaunchConfiguration {
    let mut sgs = c.security_groups().to_vec();
    sgs.sort();
    let present = [
        ("blockDeviceMappings", !c.block_device_mappings().is_empty()),
        // Launch configurations monitor in detail unless told otherwise; a launch template
        // without `monitoring` launches with basic monitoring.
        (
            "instanceMonitoring",
            c.instance_monitoring()
                .and_then(|m| m.enabled())
                .unwrap_or(false),
        ),
        // Only `true` changes what instances get: without it the template follows the
        // subnet's setting (moto answers `false` for a configuration that never set it).
        (
            "associatePublicIpAddress",
            c.associate_public_ip_address().unwrap_or(false),
        ),
        ("spotPrice", c.spot_price().is_some_and(|p| !p.is_empty())),
        ("ebsOptimized", c.ebs_optimized().unwrap_or(false)),
        (
            "placementTenancy",
            c.placement_tenancy().is_some_and(|t| t != "default"),
        ),
        ("metadataOptions", c.metadata_options().is_some()),
        ("kernelId", c.kernel_id().is_some_and(|k| !k.is_empty())),
        ("ramdiskId", c.ramdisk_id().is_some_and(|r| !r.is_empty())),
        (
            "classicLinkVPCId",
            c.classic_link_vpc_id().is_some_and(|v| !v.is_empty()),
        ),
    ];
    LaunchConfiguration {
        name: c
            .launch_configuration_name()
            .unwrap_or_default()
            .to_string(),
        arn: c.launch_configuration_arn().map(str::to_string),
        data: LaunchTemplateData {
            image_id: c.image_id().unwrap_or_default().to_string(),
            instance_type: c.instance_type().unwrap_or_default().to_string(),
            instance_profile: c
                .iam_instance_profile()
                .filter(|p| !p.is_empty())
                .map(str::to_string),
            security_group_ids: sgs,
            key_name: c.key_name().filter(|k| !k.is_empty()).map(str::to_string),
            // Auto Scaling answers the user data base64-encoded, as EC2 does.
            user_data_base64: c.user_data().unwrap_or_default().to_string(),
        },
        unmodeled: present
            .iter()
            .filter(|(_, p)| *p)
            .map(|(n, _)| n.to_string())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_round_trip_through_the_zone_identifier() {
        assert_eq!(vpc_zone_identifier(&[]), None);
        let joined = vpc_zone_identifier(&["subnet-a".into(), "subnet-b".into()]);
        assert_eq!(joined.as_deref(), Some("subnet-a,subnet-b"));
        let g = asg::AutoScalingGroup::builder()
            .auto_scaling_group_name("g")
            .vpc_zone_identifier("subnet-a, subnet-b")
            .build();
        assert_eq!(group(&g).subnet_ids, ["subnet-a", "subnet-b"]);
    }

    #[test]
    fn a_launch_configuration_reads_as_launch_template_data() {
        let c = asg::LaunchConfiguration::builder()
            .launch_configuration_name("lc")
            .image_id("ami-1")
            .instance_type("t2.micro")
            .iam_instance_profile("ecs-instance-role")
            .security_groups("sg-2")
            .security_groups("sg-1")
            .key_name("")
            .user_data("IyEvYmluL3NoCg==")
            .instance_monitoring(asg::InstanceMonitoring::builder().enabled(true).build())
            .block_device_mappings(
                asg::BlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .build(),
            )
            .ebs_optimized(false)
            .build();
        let lc = launch_configuration(&c);
        assert_eq!(lc.name, "lc");
        assert_eq!(
            lc.data,
            LaunchTemplateData {
                image_id: "ami-1".into(),
                instance_type: "t2.micro".into(),
                instance_profile: Some("ecs-instance-role".into()),
                security_group_ids: vec!["sg-1".into(), "sg-2".into()],
                key_name: None,
                user_data_base64: "IyEvYmluL3NoCg==".into(),
            }
        );
        assert_eq!(lc.unmodeled, ["blockDeviceMappings", "instanceMonitoring"]);
    }

    #[test]
    fn tags_propagate_at_launch() {
        let tags = asg_tags("g", &[("k".to_string(), "v".to_string())].into());
        assert_eq!(tags[0].propagate_at_launch(), Some(true));
        assert_eq!(tags[0].resource_id(), Some("g"));
        assert_eq!(tags[0].resource_type(), Some("auto-scaling-group"));
    }
}
