//! [`ElbV2Api`] with the AWS SDK: target groups and listener rules (never targets).

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types as v2;

use super::convert::{malformed, tags_from};
use super::sdk_error;
use crate::aws::error::AwsError;
use crate::aws::types::*;
use crate::aws::ElbV2Api;

/// The attribute that holds the deregistration delay.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
/// The largest page DescribeTargetGroups and DescribeRules answer: fewer requests.
const PAGE_SIZE: i32 = 400;

/// ELBv2 client.
#[derive(Clone, Debug)]
pub struct SdkElbV2 {
    client: aws_sdk_elasticloadbalancingv2::Client,
    /// The same client for writes: no blind retries (see [`super::retry::NoBlindRetry`]),
    /// so a CreateRule whose answer was lost is not sent twice.
    writer: aws_sdk_elasticloadbalancingv2::Client,
}

impl SdkElbV2 {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_elasticloadbalancingv2::Client) -> Self {
        let writer = aws_sdk_elasticloadbalancingv2::Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_classifier(super::retry::NoBlindRetry)
                .build(),
        );
        Self { client, writer }
    }
}

/// Not found → `None`, anything else an error.
fn optional<T>(r: Result<Option<T>, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Err(e) if e.is_not_found() => Ok(None),
        other => other,
    }
}

fn target_group(t: &v2::TargetGroup) -> TargetGroup {
    TargetGroup {
        arn: t.target_group_arn().unwrap_or_default().to_string(),
        name: t.target_group_name().unwrap_or_default().to_string(),
        protocol: t
            .protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        port: t.port().unwrap_or_default(),
        vpc_id: t.vpc_id().unwrap_or_default().to_string(),
        target_type: t
            .target_type()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        health_check: TargetGroupHealthCheck {
            protocol: t
                .health_check_protocol()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            port: t.health_check_port().unwrap_or_default().to_string(),
            path: t.health_check_path().unwrap_or_default().to_string(),
            interval_seconds: t.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: t.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold_count: t.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold_count: t.unhealthy_threshold_count().unwrap_or_default(),
            matcher: t
                .matcher()
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .to_string(),
        },
        load_balancer_arns: t.load_balancer_arns().to_vec(),
    }
}

fn sdk_tags(tags: &Tags) -> Vec<v2::Tag> {
    tags.iter()
        .map(|(k, v)| v2::Tag::builder().key(k).value(v).build())
        .collect()
}

fn sdk_conditions(c: &RuleConditions) -> Vec<v2::RuleCondition> {
    let mut out = Vec::new();
    if !c.path_patterns.is_empty() {
        out.push(
            v2::RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    v2::PathPatternConditionConfig::builder()
                        .set_values(Some(c.path_patterns.clone()))
                        .build(),
                )
                .build(),
        );
    }
    if !c.host_headers.is_empty() {
        out.push(
            v2::RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    v2::HostHeaderConditionConfig::builder()
                        .set_values(Some(c.host_headers.clone()))
                        .build(),
                )
                .build(),
        );
    }
    out
}

fn forward(target_group_arn: &str) -> v2::Action {
    v2::Action::builder()
        .r#type(v2::ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

fn rule(r: &v2::Rule) -> ListenerRule {
    let mut conditions = RuleConditions::default();
    let mut other_conditions = false;
    for c in r.conditions() {
        // The new form (…Config) and the legacy Values both appear in answers.
        match c.field() {
            Some("path-pattern") => conditions.path_patterns.extend(
                c.path_pattern_config()
                    .map(|p| p.values().to_vec())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| c.values().to_vec()),
            ),
            Some("host-header") => conditions.host_headers.extend(
                c.host_header_config()
                    .map(|p| p.values().to_vec())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| c.values().to_vec()),
            ),
            _ => other_conditions = true,
        }
    }
    let mut forward_to = Vec::new();
    for a in r.actions() {
        if a.r#type() != Some(&v2::ActionTypeEnum::Forward) {
            continue;
        }
        if let Some(tg) = a.target_group_arn() {
            forward_to.push(tg.to_string());
        } else if let Some(cfg) = a.forward_config() {
            forward_to.extend(
                cfg.target_groups()
                    .iter()
                    .filter_map(|t| t.target_group_arn().map(str::to_string)),
            );
        }
    }
    forward_to.sort();
    forward_to.dedup();
    ListenerRule {
        arn: r.rule_arn().unwrap_or_default().to_string(),
        priority: r.priority().and_then(|p| p.parse().ok()),
        conditions,
        other_conditions,
        forward_to,
    }
}

#[async_trait]
impl ElbV2Api for SdkElbV2 {
    async fn describe_target_group(&self, name: &str) -> Result<Option<TargetGroup>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroups";
        let resp = self
            .client
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e));
        optional(resp.map(|r| {
            r.target_groups()
                .iter()
                .find(|t| t.target_group_name() == Some(name))
                .map(target_group)
        }))
    }

    async fn describe_target_groups(&self, names: &[String]) -> Result<Vec<TargetGroup>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroups";
        // No names would describe every target group of the region.
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_target_groups()
                .set_names(Some(names.to_vec()))
                .page_size(PAGE_SIZE)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            out.extend(resp.target_groups().iter().map(target_group));
            match resp.next_marker() {
                Some(m) if !m.is_empty() && Some(m) != marker.as_deref() => {
                    marker = Some(m.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn create_target_group(
        &self,
        input: &CreateTargetGroupInput,
    ) -> Result<TargetGroup, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateTargetGroup";
        let hc = &input.health_check;
        let resp = self
            .writer
            .create_target_group()
            .name(&input.name)
            .protocol(v2::ProtocolEnum::from(input.protocol.as_str()))
            .port(input.port)
            .vpc_id(&input.vpc_id)
            .target_type(v2::TargetTypeEnum::from(input.target_type.as_str()))
            .health_check_enabled(true)
            .health_check_protocol(v2::ProtocolEnum::from(hc.protocol.as_str()))
            .health_check_port(&hc.port)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(hc.interval_seconds)
            .health_check_timeout_seconds(hc.timeout_seconds)
            .healthy_threshold_count(hc.healthy_threshold_count)
            .unhealthy_threshold_count(hc.unhealthy_threshold_count)
            .matcher(v2::Matcher::builder().http_code(&hc.matcher).build())
            .set_tags(Some(sdk_tags(&input.tags)).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        resp.target_groups()
            .first()
            .map(target_group)
            .ok_or_else(|| malformed(OP, "target group"))
    }

    async fn modify_target_group(
        &self,
        arn: &str,
        hc: &TargetGroupHealthCheck,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyTargetGroup";
        self.writer
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_protocol(v2::ProtocolEnum::from(hc.protocol.as_str()))
            .health_check_port(&hc.port)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(hc.interval_seconds)
            .health_check_timeout_seconds(hc.timeout_seconds)
            .healthy_threshold_count(hc.healthy_threshold_count)
            .unhealthy_threshold_count(hc.unhealthy_threshold_count)
            .matcher(v2::Matcher::builder().http_code(&hc.matcher).build())
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn set_deregistration_delay(&self, arn: &str, seconds: i32) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyTargetGroupAttributes";
        self.writer
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                v2::TargetGroupAttribute::builder()
                    .key(DEREGISTRATION_DELAY)
                    .value(seconds.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn deregistration_delay(&self, arn: &str) -> Result<Option<i32>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroupAttributes";
        let resp = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok()))
    }

    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteTargetGroup";
        self.writer
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn describe_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        let resp = self
            .client
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(tags_from(
            resp.tag_descriptions()
                .iter()
                .filter(|d| d.resource_arn() == Some(arn))
                .flat_map(|d| d.tags())
                .map(|t| (t.key(), t.value())),
        ))
    }

    async fn describe_tags_of(&self, arns: &[String]) -> Result<Vec<(String, Tags)>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let resp = self
            .client
            .describe_tags()
            .set_resource_arns(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .tag_descriptions()
            .iter()
            .filter_map(|d| {
                let arn = d.resource_arn()?;
                let tags = tags_from(d.tags().iter().map(|t| (t.key(), t.value())));
                Some((arn.to_string(), tags))
            })
            .collect())
    }

    async fn add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AddTags";
        self.writer
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn remove_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:RemoveTags";
        self.writer
            .remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn describe_listener(&self, arn: &str) -> Result<Option<ElbV2Listener>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeListeners";
        let resp = self
            .client
            .describe_listeners()
            .listener_arns(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e));
        optional(resp.map(|r| {
            r.listeners()
                .iter()
                .find(|l| l.listener_arn() == Some(arn))
                .map(|l| ElbV2Listener {
                    arn: arn.to_string(),
                    load_balancer_arn: l.load_balancer_arn().unwrap_or_default().to_string(),
                    protocol: l.protocol().map(|p| p.as_str().to_string()),
                    port: l.port(),
                })
        }))
    }

    async fn describe_load_balancer(
        &self,
        arn: &str,
    ) -> Result<Option<ElbV2LoadBalancer>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
        let resp = self
            .client
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e));
        optional(resp.map(|r| {
            r.load_balancers()
                .iter()
                .find(|l| l.load_balancer_arn() == Some(arn))
                .map(|l| ElbV2LoadBalancer {
                    arn: arn.to_string(),
                    vpc_id: l.vpc_id().map(str::to_string),
                    dns_name: l.dns_name().map(str::to_string),
                })
        }))
    }

    async fn describe_rules(&self, listener_arn: &str) -> Result<Vec<ListenerRule>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeRules";
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_rules()
                .listener_arn(listener_arn)
                .page_size(PAGE_SIZE)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            out.extend(resp.rules().iter().map(rule));
            match resp.next_marker() {
                Some(m) if !m.is_empty() && Some(m) != marker.as_deref() => {
                    marker = Some(m.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn create_rule(&self, input: &CreateRuleInput) -> Result<ListenerRule, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateRule";
        let resp = self
            .writer
            .create_rule()
            .listener_arn(&input.listener_arn)
            .priority(input.priority)
            .set_conditions(Some(sdk_conditions(&input.conditions)))
            .actions(forward(&input.target_group_arn))
            .set_tags(Some(sdk_tags(&input.tags)).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        resp.rules()
            .first()
            .map(rule)
            .ok_or_else(|| malformed(OP, "rule"))
    }

    async fn modify_rule(
        &self,
        arn: &str,
        conditions: &RuleConditions,
        target_group_arn: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyRule";
        self.writer
            .modify_rule()
            .rule_arn(arn)
            .set_conditions(Some(sdk_conditions(conditions)))
            .actions(forward(target_group_arn))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn set_rule_priority(&self, arn: &str, priority: i32) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:SetRulePriorities";
        self.writer
            .set_rule_priorities()
            .rule_priorities(
                v2::RulePriorityPair::builder()
                    .rule_arn(arn)
                    .priority(priority)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn delete_rule(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteRule";
        self.writer
            .delete_rule()
            .rule_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }
}
