//! [`Ec2Api`] with the AWS SDK: launch templates.

use async_trait::async_trait;
use aws_sdk_ec2::types as ec2;

use super::convert::{malformed, non_empty, tags_from};
use super::sdk_error;
use crate::aws::error::AwsError;
use crate::aws::types::*;
use crate::aws::Ec2Api;

/// EC2 client.
#[derive(Clone, Debug)]
pub struct SdkEc2 {
    client: aws_sdk_ec2::Client,
    /// The same client for writes: no blind retries (see [`super::retry::NoBlindRetry`]).
    writer: aws_sdk_ec2::Client,
}

impl SdkEc2 {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_ec2::Client) -> Self {
        let writer = aws_sdk_ec2::Client::from_conf(
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
impl Ec2Api for SdkEc2 {
    async fn describe_launch_template(
        &self,
        name: &str,
    ) -> Result<Option<LaunchTemplate>, AwsError> {
        const OP: &str = "ec2:DescribeLaunchTemplates";
        let resp = self
            .client
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await;
        match resp {
            Ok(resp) => Ok(resp
                .launch_templates()
                .iter()
                .find(|t| t.launch_template_name() == Some(name))
                .map(launch_template)),
            Err(e) => none_if_not_found(sdk_error(OP, e)),
        }
    }

    async fn describe_launch_templates_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<LaunchTemplate>, AwsError> {
        const OP: &str = "ec2:DescribeLaunchTemplates";
        let mut pages = self
            .client
            .describe_launch_templates()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag-key")
                    .values(tag_key)
                    .build(),
            )
            .max_results(200)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(t) = pages.next().await {
            let t = launch_template(&t.map_err(|e| sdk_error(OP, e))?);
            // Checked here too: the filter is the API's, the decision is ours.
            if t.tags.contains_key(tag_key) {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn launch_template_version_description(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, AwsError> {
        const OP: &str = "ec2:DescribeLaunchTemplateVersions";
        let resp = self
            .client
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions(version.to_string())
            .send()
            .await;
        match resp {
            Ok(resp) => Ok(resp
                .launch_template_versions()
                .iter()
                .find(|v| v.version_number() == Some(version))
                .and_then(|v| v.version_description())
                .map(str::to_string)),
            Err(e) => none_if_not_found(sdk_error(OP, e)),
        }
    }

    async fn launch_template_version_data(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<LaunchTemplateVersionData>, AwsError> {
        const OP: &str = "ec2:DescribeLaunchTemplateVersions";
        let resp = self
            .client
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions(version.to_string())
            .send()
            .await;
        match resp {
            Ok(resp) => Ok(resp
                .launch_template_versions()
                .iter()
                .find(|v| v.version_number() == Some(version))
                .and_then(|v| v.launch_template_data())
                .map(response_data)),
            Err(e) => none_if_not_found(sdk_error(OP, e)),
        }
    }

    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        description: &str,
        tags: &Tags,
    ) -> Result<LaunchTemplate, AwsError> {
        const OP: &str = "ec2:CreateLaunchTemplate";
        let tag_specification = non_empty(ec2_tags(tags)).map(|tags| {
            vec![ec2::TagSpecification::builder()
                .resource_type(ec2::ResourceType::LaunchTemplate)
                .set_tags(Some(tags))
                .build()]
        });
        let resp = self
            .writer
            .create_launch_template()
            .launch_template_name(name)
            .version_description(description)
            .launch_template_data(launch_template_data(data))
            .set_tag_specifications(tag_specification)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let template = resp
            .launch_template()
            .ok_or_else(|| malformed(OP, "LaunchTemplate"))?;
        let mut out = launch_template(template);
        if out.tags.is_empty() {
            out.tags = tags.clone();
        }
        Ok(out)
    }

    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        description: &str,
    ) -> Result<i64, AwsError> {
        const OP: &str = "ec2:CreateLaunchTemplateVersion";
        let resp = self
            .writer
            .create_launch_template_version()
            .launch_template_id(id)
            .version_description(description)
            .launch_template_data(launch_template_data(data))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        resp.launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| malformed(OP, "LaunchTemplateVersion.VersionNumber"))
    }

    async fn tag_launch_template(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "ec2:CreateTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.writer
            .create_tags()
            .resources(id)
            .set_tags(Some(ec2_tags(tags)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn untag_launch_template(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteTags";
        // DeleteTags without tags deletes every tag of the resource: never send that.
        if keys.is_empty() {
            return Ok(());
        }
        // A tag without a value deletes the key whatever its value.
        let tags = keys.iter().map(|k| ec2::Tag::builder().key(k).build());
        self.writer
            .delete_tags()
            .resources(id)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteLaunchTemplate";
        self.writer
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn describe_subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
        const OP: &str = "ec2:DescribeSubnets";
        if ids.is_empty() {
            // An empty filter would list every subnet of the region.
            return Ok(Vec::new());
        }
        // A filter, not SubnetIds: with SubnetIds one missing ID fails the whole call and
        // AWS names only one of them.
        let mut pages = self
            .client
            .describe_subnets()
            .filters(filter("subnet-id", ids))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(s) = pages.next().await {
            let s = s.map_err(|e| sdk_error(OP, e))?;
            out.push(Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
            });
        }
        Ok(out)
    }

    async fn describe_security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError> {
        const OP: &str = "ec2:DescribeSecurityGroups";
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pages = self
            .client
            .describe_security_groups()
            .filters(filter("group-id", ids))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(g) = pages.next().await {
            let g = g.map_err(|e| sdk_error(OP, e))?;
            out.push(SecurityGroup {
                id: g.group_id().unwrap_or_default().to_string(),
                vpc_id: g.vpc_id().unwrap_or_default().to_string(),
            });
        }
        Ok(out)
    }

    async fn existing_key_pairs(&self, names: &[String]) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ec2:DescribeKeyPairs";
        if names.is_empty() {
            return Ok(Vec::new());
        }
        // DescribeKeyPairs is not paginated.
        let resp = self
            .client
            .describe_key_pairs()
            .filters(filter("key-name", names))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name().map(str::to_string))
            .collect())
    }
}

/// An EC2 filter matching any of `values`.
fn filter(name: &str, values: &[String]) -> ec2::Filter {
    ec2::Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

fn none_if_not_found<T>(err: AwsError) -> Result<Option<T>, AwsError> {
    if err.is_not_found() {
        Ok(None)
    } else {
        Err(err)
    }
}

fn ec2_tags(tags: &Tags) -> Vec<ec2::Tag> {
    tags.iter()
        .map(|(k, v)| ec2::Tag::builder().key(k).value(v).build())
        .collect()
}

fn launch_template(t: &ec2::LaunchTemplate) -> LaunchTemplate {
    LaunchTemplate {
        id: t.launch_template_id().unwrap_or_default().to_string(),
        name: t.launch_template_name().unwrap_or_default().to_string(),
        latest_version: t.latest_version_number().unwrap_or_default(),
        default_version: t.default_version_number().unwrap_or_default(),
        tags: tags_from(t.tags().iter().map(|t| (t.key(), t.value()))),
    }
}

fn launch_template_data(d: &LaunchTemplateData) -> ec2::RequestLaunchTemplateData {
    let profile = d
        .instance_profile
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let spec = ec2::LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
            if p.starts_with("arn:") {
                spec.arn(p).build()
            } else {
                spec.name(p).build()
            }
        });
    ec2::RequestLaunchTemplateData::builder()
        .image_id(&d.image_id)
        .instance_type(ec2::InstanceType::from(d.instance_type.as_str()))
        .set_iam_instance_profile(profile)
        .set_security_group_ids(non_empty(d.security_group_ids.clone()))
        .set_key_name(d.key_name.clone().filter(|k| !k.is_empty()))
        .set_user_data(Some(d.user_data_base64.clone()).filter(|u| !u.is_empty()))
        .build()
}

/// A version's data: the managed part, and the names of the other settings it has.
fn response_data(d: &ec2::ResponseLaunchTemplateData) -> LaunchTemplateVersionData {
    let present = [
        ("blockDeviceMappings", !d.block_device_mappings().is_empty()),
        ("networkInterfaces", !d.network_interfaces().is_empty()),
        // The tags of instances and volumes launched; moto also echoes the template's
        // own tags here (EC2 does not), which are no launch setting.
        (
            "tagSpecifications",
            d.tag_specifications()
                .iter()
                .any(|t| t.resource_type() != Some(&ec2::ResourceType::LaunchTemplate)),
        ),
        ("metadataOptions", d.metadata_options().is_some()),
        ("monitoring", d.monitoring().is_some()),
        ("placement", d.placement().is_some()),
        ("ebsOptimized", d.ebs_optimized().is_some()),
        ("creditSpecification", d.credit_specification().is_some()),
        (
            "instanceMarketOptions",
            d.instance_market_options().is_some(),
        ),
        ("cpuOptions", d.cpu_options().is_some()),
        ("instanceRequirements", d.instance_requirements().is_some()),
        ("kernelId", d.kernel_id().is_some()),
        ("ramDiskId", d.ram_disk_id().is_some()),
    ];
    LaunchTemplateVersionData {
        data: managed_data(d),
        unmodeled: present
            .iter()
            .filter(|(_, p)| *p)
            .map(|(n, _)| n.to_string())
            .collect(),
    }
}

/// The managed part of a version's data. Security groups given by ID, or on the first
/// network interface, are both read (the console puts them there when it sets a subnet);
/// sorted, as the operator sends them.
fn managed_data(d: &ec2::ResponseLaunchTemplateData) -> LaunchTemplateData {
    let mut sgs: Vec<String> = d.security_group_ids().to_vec();
    if sgs.is_empty() {
        if let Some(ni) = d.network_interfaces().first() {
            sgs = ni.groups().to_vec();
        }
    }
    sgs.sort();
    LaunchTemplateData {
        image_id: d.image_id().unwrap_or_default().to_string(),
        instance_type: d
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        instance_profile: d
            .iam_instance_profile()
            .and_then(|p| p.arn().or(p.name()))
            .map(str::to_string),
        security_group_ids: sgs,
        key_name: d.key_name().map(str::to_string),
        user_data_base64: d.user_data().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_data_reads_the_managed_part_and_names_the_rest() {
        let d = ec2::ResponseLaunchTemplateData::builder()
            .image_id("ami-1")
            .instance_type(ec2::InstanceType::T2Micro)
            .iam_instance_profile(
                ec2::LaunchTemplateIamInstanceProfileSpecification::builder()
                    .name("ecs-instance-role")
                    .build(),
            )
            .network_interfaces(
                ec2::LaunchTemplateInstanceNetworkInterfaceSpecification::builder()
                    .groups("sg-2")
                    .groups("sg-1")
                    .build(),
            )
            .block_device_mappings(ec2::LaunchTemplateBlockDeviceMapping::builder().build())
            .user_data("IyEvYmluL3NoCg==")
            .build();
        let read = response_data(&d);
        assert_eq!(read.data.image_id, "ami-1");
        assert_eq!(read.data.instance_type, "t2.micro");
        assert_eq!(
            read.data.instance_profile.as_deref(),
            Some("ecs-instance-role")
        );
        assert_eq!(read.data.security_group_ids, ["sg-1", "sg-2"]);
        assert_eq!(read.data.user_data_base64, "IyEvYmluL3NoCg==");
        assert_eq!(read.unmodeled, ["blockDeviceMappings", "networkInterfaces"]);
    }

    #[test]
    fn instance_profile_is_an_arn_or_a_name() {
        let mut d = LaunchTemplateData {
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            instance_profile: Some("arn:aws:iam::1:instance-profile/ecs".into()),
            security_group_ids: vec!["sg-1".into()],
            key_name: Some("k".into()),
            user_data_base64: "IyEvYmluL3NoCg==".into(),
        };
        let r = launch_template_data(&d);
        let p = r.iam_instance_profile().expect("profile");
        assert_eq!(
            (p.arn(), p.name()),
            (Some("arn:aws:iam::1:instance-profile/ecs"), None)
        );
        assert_eq!(r.image_id(), Some("ami-1"));
        assert_eq!(r.instance_type(), Some(&ec2::InstanceType::T3Micro));
        assert_eq!(r.security_group_ids(), ["sg-1"]);
        assert_eq!(r.key_name(), Some("k"));
        assert_eq!(r.user_data(), Some("IyEvYmluL3NoCg=="));

        d.instance_profile = Some("ecsInstanceRole".into());
        let r = launch_template_data(&d);
        let p = r.iam_instance_profile().expect("profile");
        assert_eq!((p.arn(), p.name()), (None, Some("ecsInstanceRole")));
    }
}
