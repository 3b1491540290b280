//! [`ElbApi`] with the AWS SDK: classic load balancers.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancing::types as elb;

use super::convert::{build_error, non_empty};
use super::sdk_error;
use crate::api::service::{ElbHealthCheck, Listener, ListenerProtocol, LoadBalancerScheme};
use crate::aws::error::AwsError;
use crate::aws::types::*;
use crate::aws::ElbApi;

/// Classic ELB client.
#[derive(Clone, Debug)]
pub struct SdkElb {
    client: aws_sdk_elasticloadbalancing::Client,
    /// The same client for writes: no blind retries (see [`super::retry::NoBlindRetry`]).
    writer: aws_sdk_elasticloadbalancing::Client,
}

impl SdkElb {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_elasticloadbalancing::Client) -> Self {
        let writer = aws_sdk_elasticloadbalancing::Client::from_conf(
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
impl ElbApi for SdkElb {
    async fn describe_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ClassicLoadBalancer>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
        let resp = self
            .client
            .describe_load_balancers()
            .load_balancer_names(name)
            .send()
            .await;
        match resp {
            Ok(resp) => Ok(resp
                .load_balancer_descriptions()
                .iter()
                .find(|d| d.load_balancer_name() == Some(name))
                .map(load_balancer)),
            Err(e) => {
                let err = sdk_error(OP, e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn describe_tags(&self, name: &str) -> Result<Tags, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        let resp = self
            .client
            .describe_tags()
            .load_balancer_names(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .tag_descriptions()
            .iter()
            .filter(|d| d.load_balancer_name() == Some(name))
            .flat_map(|d| d.tags())
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    async fn describe_all_load_balancers(&self) -> Result<Vec<ClassicLoadBalancer>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
        let mut pages = self
            .client
            .describe_load_balancers()
            .page_size(400)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(d) = pages.next().await {
            out.push(load_balancer(&d.map_err(|e| sdk_error(OP, e))?));
        }
        Ok(out)
    }

    async fn describe_tags_of(
        &self,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, Tags>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        if names.is_empty() {
            return Ok(Default::default());
        }
        let resp = self
            .client
            .describe_tags()
            .set_load_balancer_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp
            .tag_descriptions()
            .iter()
            .filter_map(|d| {
                let tags = d
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                Some((d.load_balancer_name()?.to_string(), tags))
            })
            .collect())
    }

    async fn create_load_balancer(
        &self,
        input: &CreateLoadBalancerInput,
    ) -> Result<Option<String>, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateLoadBalancer";
        let listeners = input
            .listeners
            .iter()
            .map(elb_listener)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error(OP, e))?;
        let resp = self
            .writer
            .create_load_balancer()
            .load_balancer_name(&input.name)
            .set_listeners(Some(listeners))
            .scheme(scheme(input.scheme))
            .set_subnets(non_empty(input.subnet_ids.clone()))
            .set_security_groups(non_empty(input.security_group_ids.clone()))
            .set_tags(non_empty(
                elb_tags(&input.tags).map_err(|e| build_error(OP, e))?,
            ))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(resp.dns_name().map(str::to_string))
    }

    async fn configure_health_check(
        &self,
        name: &str,
        health_check: &ElbHealthCheck,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ConfigureHealthCheck";
        let check = elb::HealthCheck::builder()
            .target(&health_check.target)
            .interval(health_check.interval_seconds)
            .timeout(health_check.timeout_seconds)
            .healthy_threshold(health_check.healthy_threshold)
            .unhealthy_threshold(health_check.unhealthy_threshold)
            .build()
            .map_err(|e| build_error(OP, e))?;
        self.writer
            .configure_health_check()
            .load_balancer_name(name)
            .health_check(check)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn create_listeners(&self, name: &str, listeners: &[Listener]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:CreateLoadBalancerListeners";
        if listeners.is_empty() {
            return Ok(());
        }
        let listeners = listeners
            .iter()
            .map(elb_listener)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error(OP, e))?;
        self.writer
            .create_load_balancer_listeners()
            .load_balancer_name(name)
            .set_listeners(Some(listeners))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn delete_listeners(&self, name: &str, ports: &[i32]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteLoadBalancerListeners";
        if ports.is_empty() {
            return Ok(());
        }
        self.writer
            .delete_load_balancer_listeners()
            .load_balancer_name(name)
            .set_load_balancer_ports(Some(ports.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn attach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AttachLoadBalancerToSubnets";
        if subnets.is_empty() {
            return Ok(());
        }
        self.writer
            .attach_load_balancer_to_subnets()
            .load_balancer_name(name)
            .set_subnets(Some(subnets.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn detach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DetachLoadBalancerFromSubnets";
        if subnets.is_empty() {
            return Ok(());
        }
        self.writer
            .detach_load_balancer_from_subnets()
            .load_balancer_name(name)
            .set_subnets(Some(subnets.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn apply_security_groups(&self, name: &str, groups: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer";
        self.writer
            .apply_security_groups_to_load_balancer()
            .load_balancer_name(name)
            .set_security_groups(Some(groups.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn add_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AddTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.writer
            .add_tags()
            .load_balancer_names(name)
            .set_tags(Some(elb_tags(tags).map_err(|e| build_error(OP, e))?))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn remove_tags(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:RemoveTags";
        // ELB rejects an empty key list; nothing to remove is no call at all.
        if keys.is_empty() {
            return Ok(());
        }
        let tags = keys
            .iter()
            .map(|k| elb::TagKeyOnly::builder().key(k).build());
        self.writer
            .remove_tags()
            .load_balancer_names(name)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }

    async fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteLoadBalancer";
        self.writer
            .delete_load_balancer()
            .load_balancer_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        Ok(())
    }
}

fn scheme(s: LoadBalancerScheme) -> &'static str {
    match s {
        LoadBalancerScheme::InternetFacing => "internet-facing",
        LoadBalancerScheme::Internal => "internal",
    }
}

fn elb_tags(tags: &Tags) -> Result<Vec<elb::Tag>, aws_smithy_types::error::operation::BuildError> {
    tags.iter()
        .map(|(k, v)| elb::Tag::builder().key(k).value(v).build())
        .collect()
}

fn elb_listener(
    l: &Listener,
) -> Result<elb::Listener, aws_smithy_types::error::operation::BuildError> {
    elb::Listener::builder()
        .protocol(l.protocol.as_str())
        .load_balancer_port(l.load_balancer_port)
        .set_instance_protocol(l.instance_protocol.map(|p| p.as_str().to_string()))
        .instance_port(l.instance_port)
        .build()
}

/// The API answers protocols upper-case, but accepts (and may echo) any case.
fn protocol(s: &str) -> Option<ListenerProtocol> {
    match s.to_ascii_uppercase().as_str() {
        "HTTP" => Some(ListenerProtocol::Http),
        "HTTPS" => Some(ListenerProtocol::Https),
        "TCP" => Some(ListenerProtocol::Tcp),
        "SSL" => Some(ListenerProtocol::Ssl),
        _ => None,
    }
}

fn listener(l: &elb::Listener) -> Option<Listener> {
    let Some(p) = protocol(l.protocol()) else {
        tracing::warn!(
            protocol = l.protocol(),
            port = l.load_balancer_port(),
            "ignoring a classic ELB listener with an unknown protocol"
        );
        return None;
    };
    Some(Listener {
        protocol: p,
        load_balancer_port: l.load_balancer_port(),
        instance_port: l.instance_port(),
        instance_protocol: l.instance_protocol().and_then(protocol),
    })
}

fn health_check(h: &elb::HealthCheck) -> ElbHealthCheck {
    ElbHealthCheck {
        target: h.target().to_string(),
        interval_seconds: h.interval(),
        timeout_seconds: h.timeout(),
        healthy_threshold: h.healthy_threshold(),
        unhealthy_threshold: h.unhealthy_threshold(),
    }
}

fn load_balancer(d: &elb::LoadBalancerDescription) -> ClassicLoadBalancer {
    ClassicLoadBalancer {
        name: d.load_balancer_name().unwrap_or_default().to_string(),
        dns_name: d.dns_name().map(str::to_string),
        scheme: d.scheme().map(str::to_string),
        listeners: d
            .listener_descriptions()
            .iter()
            .filter_map(|l| l.listener())
            .filter_map(listener)
            .collect(),
        health_check: d.health_check().map(health_check),
        subnet_ids: d.subnets().to_vec(),
        security_group_ids: d.security_groups().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_convert_both_ways() {
        let ours = Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: 80,
            instance_port: 8080,
            instance_protocol: Some(ListenerProtocol::Tcp),
        };
        let theirs = elb_listener(&ours).expect("listener");
        assert_eq!(theirs.protocol(), "HTTP");
        assert_eq!(theirs.instance_protocol(), Some("TCP"));
        assert_eq!(listener(&theirs), Some(ours));
        let lower = elb::Listener::builder()
            .protocol("http")
            .load_balancer_port(80)
            .instance_port(80)
            .build()
            .expect("listener");
        assert_eq!(
            listener(&lower).map(|l| (l.protocol, l.instance_protocol)),
            Some((ListenerProtocol::Http, None))
        );
    }

    #[test]
    fn health_check_converts_both_ways() {
        let h = elb::HealthCheck::builder()
            .target("HTTP:80/")
            .interval(30)
            .timeout(5)
            .healthy_threshold(10)
            .unhealthy_threshold(2)
            .build()
            .expect("health check");
        let ours = health_check(&h);
        assert_eq!(
            ours,
            ElbHealthCheck {
                target: "HTTP:80/".into(),
                interval_seconds: 30,
                timeout_seconds: 5,
                healthy_threshold: 10,
                unhealthy_threshold: 2,
            }
        );
    }
}
