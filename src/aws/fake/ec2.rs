//! EC2 launch templates and their versions, with the [`Ec2Api`] implementation.

use async_trait::async_trait;
use base64::Engine;

use super::{err, FakeAws};
use crate::aws::types::*;
use crate::aws::{AwsError, Ec2Api};

#[derive(Clone, Debug)]
pub(super) struct LaunchTemplateState {
    pub(super) template: LaunchTemplate,
    /// Version n is at index n - 1.
    pub(super) versions: Vec<(LaunchTemplateData, String)>,
}
// ---------------------------------------------------------------------------------------
// Test-facing API: launch template inspection.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// Every launch template.
    pub fn launch_templates(&self) -> Vec<LaunchTemplate> {
        self.lock()
            .launch_templates
            .values()
            .map(|t| t.template.clone())
            .collect()
    }

    /// The versions of a launch template (by name): data and description, version 1 first.
    pub fn launch_template_versions(&self, name: &str) -> Vec<(LaunchTemplateData, String)> {
        self.lock()
            .launch_templates
            .get(name)
            .map(|t| t.versions.clone())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------
// EC2 launch templates
// ---------------------------------------------------------------------------------------

fn validate_launch_template_data(op: &'static str, d: &LaunchTemplateData) -> Result<(), AwsError> {
    let (family, size) = d.instance_type.split_once('.').unwrap_or(("", ""));
    let well_formed = !family.is_empty()
        && !size.is_empty()
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && size
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !well_formed {
        return Err(err(
            op,
            "InvalidParameterValue",
            format!("Invalid value '{}' for InstanceType.", d.instance_type),
        ));
    }
    if !(d.image_id.starts_with("ami-") || d.image_id.starts_with("resolve:ssm:")) {
        return Err(err(
            op,
            "InvalidAMIID.Malformed",
            format!("Invalid id: \"{}\" (expecting \"ami-...\")", d.image_id),
        ));
    }
    if base64::engine::general_purpose::STANDARD
        .decode(&d.user_data_base64)
        .is_err()
    {
        return Err(err(
            op,
            "InvalidUserData.Malformed",
            "User data is not valid base64.",
        ));
    }
    Ok(())
}

#[async_trait]
impl Ec2Api for FakeAws {
    async fn describe_launch_template(
        &self,
        name: &str,
    ) -> Result<Option<LaunchTemplate>, AwsError> {
        self.call("ec2:DescribeLaunchTemplates", |s| {
            Ok(s.launch_templates.get(name).map(|t| t.template.clone()))
        })
    }

    async fn describe_launch_templates_tagged(
        &self,
        tag_key: &str,
    ) -> Result<Vec<LaunchTemplate>, AwsError> {
        self.call("ec2:DescribeLaunchTemplates", |s| {
            Ok(s.launch_templates
                .values()
                .filter(|t| t.template.tags.contains_key(tag_key))
                .map(|t| t.template.clone())
                .collect())
        })
    }

    async fn launch_template_version_description(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, AwsError> {
        self.call("ec2:DescribeLaunchTemplateVersions", |s| {
            Ok(s.launch_templates
                .values()
                .find(|t| t.template.id == id)
                .and_then(|t| {
                    usize::try_from(version - 1)
                        .ok()
                        .and_then(|i| t.versions.get(i))
                })
                .map(|(_, d)| d.clone()))
        })
    }

    async fn launch_template_version_data(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<LaunchTemplateVersionData>, AwsError> {
        self.call("ec2:DescribeLaunchTemplateVersions", |s| {
            Ok(s.launch_templates
                .values()
                .find(|t| t.template.id == id)
                .and_then(|t| {
                    usize::try_from(version - 1)
                        .ok()
                        .and_then(|i| t.versions.get(i))
                })
                .map(|(d, _)| {
                    let mut data = d.clone();
                    data.security_group_ids.sort();
                    LaunchTemplateVersionData {
                        data,
                        unmodeled: Vec::new(),
                    }
                }))
        })
    }

    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        description: &str,
        tags: &Tags,
    ) -> Result<LaunchTemplate, AwsError> {
        const OP: &str = "ec2:CreateLaunchTemplate";
        self.call(OP, |s| {
            if name.len() < 3
                || name.len() > 128
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "()./_-".contains(c))
            {
                return Err(err(
                    OP,
                    "InvalidLaunchTemplateName.MalformedException",
                    format!("The launch template name {name} is malformed."),
                ));
            }
            if s.launch_templates.contains_key(name) {
                return Err(err(
                    OP,
                    "InvalidLaunchTemplateName.AlreadyExistsException",
                    format!("Launch template name already in use: {name}"),
                ));
            }
            validate_launch_template_data(OP, data)?;
            let id = format!("lt-{:017x}", s.next());
            let template = LaunchTemplate {
                id,
                name: name.to_string(),
                latest_version: 1,
                // The operator never changes the default version: it stays the first.
                default_version: 1,
                tags: tags.clone(),
            };
            s.launch_templates.insert(
                name.to_string(),
                LaunchTemplateState {
                    template: template.clone(),
                    versions: vec![(data.clone(), description.to_string())],
                },
            );
            Ok(template)
        })
    }

    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        description: &str,
    ) -> Result<i64, AwsError> {
        const OP: &str = "ec2:CreateLaunchTemplateVersion";
        self.call(OP, |s| {
            validate_launch_template_data(OP, data)?;
            let t = s
                .launch_templates
                .values_mut()
                .find(|t| t.template.id == id)
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!(
                            "The specified launch template, with template ID {id}, does not exist."
                        ),
                    )
                })?;
            t.versions.push((data.clone(), description.to_string()));
            t.template.latest_version = t.versions.len() as i64;
            Ok(t.template.latest_version)
        })
    }

    async fn tag_launch_template(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "ec2:CreateTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let t = s
                .launch_templates
                .values_mut()
                .find(|t| t.template.id == id)
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!("The launch template ID '{id}' does not exist"),
                    )
                })?;
            t.template.tags.extend(tags.clone());
            Ok(())
        })
    }

    async fn untag_launch_template(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteTags";
        // DeleteTags without tags would delete every tag; the adapter never sends that.
        if keys.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let t = s
                .launch_templates
                .values_mut()
                .find(|t| t.template.id == id)
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!("The launch template ID '{id}' does not exist"),
                    )
                })?;
            t.template.tags.retain(|k, _| !keys.contains(k));
            Ok(())
        })
    }

    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteLaunchTemplate";
        self.call(OP, |s| {
            let name = s
                .launch_templates
                .values()
                .find(|t| t.template.id == id)
                .map(|t| t.template.name.clone())
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!(
                            "The specified launch template, with template ID {id}, does not exist."
                        ),
                    )
                })?;
            s.launch_templates.remove(&name);
            Ok(())
        })
    }

    async fn describe_subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
        self.fake_describe_subnets(ids)
    }

    async fn describe_security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError> {
        self.fake_describe_security_groups(ids)
    }

    async fn existing_key_pairs(&self, names: &[String]) -> Result<Vec<String>, AwsError> {
        self.fake_existing_key_pairs(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::test_support::lt_data;
    use crate::aws::AwsErrorKind;

    #[tokio::test]
    async fn launch_templates_have_versions_and_unique_names() {
        let fake = FakeAws::new();
        let lt = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap();
        assert_eq!(lt.latest_version, 1);
        let e = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidLaunchTemplateName.AlreadyExistsException");
        assert_eq!(e.kind, AwsErrorKind::AlreadyExists);
        let v2 = fake
            .create_launch_template_version(&lt.id, &lt_data("c", "t3.small"), "v2")
            .await
            .unwrap();
        assert_eq!(v2, 2);
        assert_eq!(
            fake.launch_template_version_description(&lt.id, 2)
                .await
                .unwrap()
                .as_deref(),
            Some("v2")
        );
        assert_eq!(
            fake.launch_template_version_description(&lt.id, 3)
                .await
                .unwrap(),
            None
        );
        let bad = fake
            .create_launch_template_version(&lt.id, &lt_data("c", "bogus"), "v3")
            .await
            .unwrap_err();
        assert_eq!(bad.kind, AwsErrorKind::InvalidInput);
        fake.delete_launch_template(&lt.id).await.unwrap();
        assert_eq!(fake.describe_launch_template("my-lt").await.unwrap(), None);
        let e = fake.delete_launch_template(&lt.id).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
    }
}
