//! Helpers shared by the unit tests of the fake's modules.

use base64::Engine;

use crate::aws::types::{LaunchTemplateData, Tags};

pub(super) fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn lt_data(cluster: &str, instance_type: &str) -> LaunchTemplateData {
    LaunchTemplateData {
        image_id: "ami-123".into(),
        instance_type: instance_type.into(),
        user_data_base64: base64::engine::general_purpose::STANDARD.encode(format!(
            "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"
        )),
        ..Default::default()
    }
}
