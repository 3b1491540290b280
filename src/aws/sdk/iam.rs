//! [`IamApi`] with the AWS SDK: the two reads of the preflight checks.

use async_trait::async_trait;

use super::sdk_error;
use crate::aws::error::AwsError;
use crate::aws::IamApi;

/// IAM client (reads only, so the SDK's own retries are always safe).
#[derive(Clone, Debug)]
pub struct SdkIam {
    client: aws_sdk_iam::Client,
}

impl SdkIam {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_iam::Client) -> Self {
        Self { client }
    }
}

/// `Ok(None)` for an error that says the entity does not exist.
fn none_if_not_found<T>(err: AwsError) -> Result<Option<T>, AwsError> {
    if err.is_not_found() {
        Ok(None)
    } else {
        Err(err)
    }
}

#[async_trait]
impl IamApi for SdkIam {
    async fn get_role(&self, name: &str) -> Result<Option<String>, AwsError> {
        const OP: &str = "iam:GetRole";
        match self.client.get_role().role_name(name).send().await {
            Ok(resp) => Ok(Some(
                resp.role().map(|r| r.arn().to_string()).unwrap_or_default(),
            )),
            Err(e) => none_if_not_found(sdk_error(OP, e)),
        }
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<String>, AwsError> {
        const OP: &str = "iam:GetInstanceProfile";
        match self
            .client
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(resp) => Ok(Some(
                resp.instance_profile()
                    .map(|p| p.arn().to_string())
                    .unwrap_or_default(),
            )),
            Err(e) => none_if_not_found(sdk_error(OP, e)),
        }
    }
}
