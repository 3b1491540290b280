//! Classic Elastic Load Balancing: load balancers, listeners, health checks and tags, with
//! the [`ElbApi`] implementation.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{err, valid_name, FakeAws, REGION};
use crate::api::service::{ElbHealthCheck, Listener, LoadBalancerScheme};
use crate::aws::types::*;
use crate::aws::{AwsError, ElbApi};

/// Most tags a classic ELB takes.
const MAX_ELB_TAGS: usize = 10;

#[derive(Clone, Debug)]
pub(super) struct Elb {
    lb: ClassicLoadBalancer,
    tags: Tags,
}
// ---------------------------------------------------------------------------------------
// Test-facing API: load balancer inspection.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// Every classic load balancer.
    pub fn load_balancers(&self) -> Vec<ClassicLoadBalancer> {
        self.lock().elbs.values().map(|e| e.lb.clone()).collect()
    }

    /// One classic load balancer.
    pub fn load_balancer(&self, name: &str) -> Option<ClassicLoadBalancer> {
        self.lock().elbs.get(name).map(|e| e.lb.clone())
    }

    /// Tags of a classic load balancer.
    pub fn load_balancer_tags(&self, name: &str) -> Option<Tags> {
        self.lock().elbs.get(name).map(|e| e.tags.clone())
    }
}

// ---------------------------------------------------------------------------------------
// Classic ELB
// ---------------------------------------------------------------------------------------

fn elb_not_found(op: &'static str, name: &str) -> AwsError {
    err(
        op,
        "LoadBalancerNotFound",
        format!("There is no ACTIVE Load Balancer named '{name}'"),
    )
}

/// ELB reports the instance protocol even when the caller left it out.
fn listener_with_defaults(l: &Listener) -> Listener {
    Listener {
        instance_protocol: Some(l.instance_protocol.unwrap_or(l.protocol)),
        ..l.clone()
    }
}

fn validate_listeners(op: &'static str, listeners: &[Listener]) -> Result<(), AwsError> {
    let mut ports = BTreeSet::new();
    for l in listeners {
        if !(1..=65535).contains(&l.load_balancer_port) || !(1..=65535).contains(&l.instance_port) {
            return Err(err(
                op,
                "ValidationError",
                "Listener ports must be 1-65535.",
            ));
        }
        if !ports.insert(l.load_balancer_port) {
            return Err(err(
                op,
                "DuplicateListener",
                format!(
                    "A listener already exists for port {}",
                    l.load_balancer_port
                ),
            ));
        }
    }
    Ok(())
}

fn validate_health_check(op: &'static str, hc: &ElbHealthCheck) -> Result<(), AwsError> {
    let bad = |m: String| Err(err(op, "ValidationError", m));
    let (protocol, rest) = hc.target.split_once(':').unwrap_or((&hc.target, ""));
    let (port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return bad(format!("Invalid port in HealthCheck Target {}", hc.target));
    }
    match (protocol, path) {
        ("HTTP" | "HTTPS", Some(_)) | ("TCP" | "SSL", None) => {}
        ("HTTP" | "HTTPS", None) => {
            return bad(format!(
                "HealthCheck Target {} must specify a path for HTTP and HTTPS",
                hc.target
            ))
        }
        ("TCP" | "SSL", Some(_)) => {
            return bad(format!(
                "HealthCheck Target {} must not specify a path for TCP and SSL",
                hc.target
            ))
        }
        _ => {
            return bad(format!(
                "Invalid protocol in HealthCheck Target {}",
                hc.target
            ))
        }
    }
    if hc.timeout_seconds >= hc.interval_seconds {
        return bad("HealthCheck Timeout must be less than Interval".into());
    }
    Ok(())
}

#[async_trait]
impl ElbApi for FakeAws {
    async fn describe_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ClassicLoadBalancer>, AwsError> {
        self.call("elasticloadbalancing:DescribeLoadBalancers", |s| {
            Ok(s.elbs.get(name).map(|e| e.lb.clone()))
        })
    }

    async fn describe_tags(&self, name: &str) -> Result<Tags, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        self.call(OP, |s| {
            s.elbs
                .get(name)
                .map(|e| e.tags.clone())
                .ok_or_else(|| elb_not_found(OP, name))
        })
    }

    async fn describe_all_load_balancers(&self) -> Result<Vec<ClassicLoadBalancer>, AwsError> {
        self.call("elasticloadbalancing:DescribeLoadBalancers", |s| {
            Ok(s.elbs.values().map(|e| e.lb.clone()).collect())
        })
    }

    async fn describe_tags_of(
        &self,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, Tags>, AwsError> {
        self.call("elasticloadbalancing:DescribeTags", |s| {
            Ok(names
                .iter()
                .filter_map(|n| s.elbs.get(n).map(|e| (n.clone(), e.tags.clone())))
                .collect())
        })
    }

    async fn create_load_balancer(
        &self,
        input: &CreateLoadBalancerInput,
    ) -> Result<Option<String>, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateLoadBalancer";
        self.call(OP, |s| {
            let name = &input.name;
            if !valid_name(name, 32, &['-']) || name.starts_with('-') || name.ends_with('-') {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!(
                        "LoadBalancerName {name} must be 1-32 letters, numbers and hyphens, \
                         not starting or ending with a hyphen"
                    ),
                ));
            }
            if s.elbs.contains_key(name) {
                return Err(err(
                    OP,
                    "DuplicateLoadBalancerName",
                    format!("Load Balancer named '{name}' already exists"),
                ));
            }
            if input.listeners.is_empty() {
                return Err(err(OP, "ValidationError", "Listeners cannot be empty"));
            }
            validate_listeners(OP, &input.listeners)?;
            if input.subnet_ids.is_empty() {
                return Err(err(
                    OP,
                    "ValidationError",
                    "Either AvailabilityZones or SubnetIds must be specified",
                ));
            }
            if input.tags.len() > MAX_ELB_TAGS {
                return Err(err(
                    OP,
                    "TooManyTags",
                    format!("A load balancer can have at most {MAX_ELB_TAGS} tags."),
                ));
            }
            let (scheme, prefix) = match input.scheme {
                LoadBalancerScheme::InternetFacing => ("internet-facing", ""),
                LoadBalancerScheme::Internal => ("internal", "internal-"),
            };
            let dns = format!("{prefix}{name}-123456.{REGION}.elb.amazonaws.com");
            let first_port = input.listeners[0].instance_port;
            s.elbs.insert(
                name.clone(),
                Elb {
                    lb: ClassicLoadBalancer {
                        name: name.clone(),
                        dns_name: Some(dns.clone()),
                        scheme: Some(scheme.into()),
                        listeners: input.listeners.iter().map(listener_with_defaults).collect(),
                        // Every new classic ELB gets this default check.
                        health_check: Some(ElbHealthCheck {
                            target: format!("TCP:{first_port}"),
                            interval_seconds: 30,
                            timeout_seconds: 5,
                            healthy_threshold: 10,
                            unhealthy_threshold: 2,
                        }),
                        subnet_ids: input.subnet_ids.clone(),
                        security_group_ids: input.security_group_ids.clone(),
                    },
                    tags: input.tags.clone(),
                },
            );
            Ok(Some(dns))
        })
    }

    async fn configure_health_check(
        &self,
        name: &str,
        health_check: &ElbHealthCheck,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ConfigureHealthCheck";
        self.call(OP, |s| {
            validate_health_check(OP, health_check)?;
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            e.lb.health_check = Some(health_check.clone());
            Ok(())
        })
    }

    async fn create_listeners(&self, name: &str, listeners: &[Listener]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:CreateLoadBalancerListeners";
        if listeners.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            validate_listeners(OP, listeners)?;
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            for l in listeners.iter().map(listener_with_defaults) {
                match e
                    .lb
                    .listeners
                    .iter()
                    .find(|h| h.load_balancer_port == l.load_balancer_port)
                {
                    Some(h) if *h == l => {}
                    Some(_) => {
                        return Err(err(
                            OP,
                            "DuplicateListener",
                            format!(
                                "A listener already exists for {name} with LoadBalancerPort {}, \
                                 but with a different InstancePort, Protocol, or \
                                 SSLCertificateId",
                                l.load_balancer_port
                            ),
                        ))
                    }
                    None => e.lb.listeners.push(l),
                }
            }
            Ok(())
        })
    }

    async fn delete_listeners(&self, name: &str, ports: &[i32]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteLoadBalancerListeners";
        if ports.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            e.lb.listeners
                .retain(|l| !ports.contains(&l.load_balancer_port));
            Ok(())
        })
    }

    async fn attach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AttachLoadBalancerToSubnets";
        if subnets.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            for subnet in subnets {
                if !e.lb.subnet_ids.contains(subnet) {
                    e.lb.subnet_ids.push(subnet.clone());
                }
            }
            Ok(())
        })
    }

    async fn detach_subnets(&self, name: &str, subnets: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DetachLoadBalancerFromSubnets";
        if subnets.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            if e.lb.subnet_ids.iter().all(|x| subnets.contains(x)) {
                return Err(err(
                    OP,
                    "InvalidConfigurationRequest",
                    format!("Load balancer {name} must remain attached to at least one subnet."),
                ));
            }
            e.lb.subnet_ids.retain(|x| !subnets.contains(x));
            Ok(())
        })
    }

    async fn apply_security_groups(&self, name: &str, groups: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer";
        self.call(OP, |s| {
            if groups.is_empty() {
                return Err(err(
                    OP,
                    "ValidationError",
                    "SecurityGroups must contain at least one security group.",
                ));
            }
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            e.lb.security_group_ids = groups.to_vec();
            Ok(())
        })
    }

    async fn add_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AddTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            let mut merged = e.tags.clone();
            merged.extend(tags.clone());
            if merged.len() > MAX_ELB_TAGS {
                return Err(err(
                    OP,
                    "TooManyTags",
                    format!("A load balancer can have at most {MAX_ELB_TAGS} tags."),
                ));
            }
            e.tags = merged;
            Ok(())
        })
    }

    async fn remove_tags(&self, name: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:RemoveTags";
        if keys.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            e.tags.retain(|k, _| !keys.contains(k));
            Ok(())
        })
    }

    async fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError> {
        self.call("elasticloadbalancing:DeleteLoadBalancer", |s| {
            // Idempotent in AWS: deleting a missing load balancer succeeds.
            s.elbs.remove(name);
            for g in s.groups.values_mut() {
                g.elbs.retain(|lb| lb != name);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::ListenerProtocol;
    use crate::aws::fake::test_support::tags;
    use crate::aws::AwsErrorKind;

    fn http(port: i32) -> Listener {
        Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: port,
            instance_port: port,
            instance_protocol: None,
        }
    }

    #[tokio::test]
    async fn classic_elbs() {
        let fake = FakeAws::new();
        let input = CreateLoadBalancerInput {
            name: "lb".into(),
            scheme: LoadBalancerScheme::InternetFacing,
            subnet_ids: vec!["subnet-a".into()],
            security_group_ids: vec![],
            listeners: vec![http(80)],
            tags: tags(&[("a", "1")]),
        };
        let dns = fake.create_load_balancer(&input).await.unwrap();
        assert_eq!(
            dns.as_deref(),
            Some("lb-123456.us-east-1.elb.amazonaws.com")
        );
        let e = fake.create_load_balancer(&input).await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("DuplicateLoadBalancerName", AwsErrorKind::AlreadyExists)
        );
        let lb = fake.describe_load_balancer("lb").await.unwrap().unwrap();
        assert_eq!(
            lb.health_check.unwrap().target,
            "TCP:80",
            "ELB's default check"
        );
        assert_eq!(
            lb.listeners[0].instance_protocol,
            Some(ListenerProtocol::Http)
        );
        let hc = ElbHealthCheck {
            target: "HTTP:80/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        };
        fake.configure_health_check("lb", &hc).await.unwrap();
        let bad = ElbHealthCheck {
            target: "HTTP:80".into(),
            ..hc.clone()
        };
        let e = fake.configure_health_check("lb", &bad).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        fake.create_listeners("lb", &[http(81)]).await.unwrap();
        let mut changed = http(81);
        changed.instance_port = 8081;
        let e = fake.create_listeners("lb", &[changed]).await.unwrap_err();
        assert_eq!(e.code, "DuplicateListener");
        fake.delete_listeners("lb", &[80]).await.unwrap();
        let lb = fake.describe_load_balancer("lb").await.unwrap().unwrap();
        assert_eq!(lb.listeners.len(), 1);
        assert_eq!(lb.listeners[0].load_balancer_port, 81);
        assert_eq!(lb.health_check, Some(hc));
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        fake.attach_subnets("lb", &strings(&["subnet-b", "subnet-a"]))
            .await
            .unwrap();
        fake.detach_subnets("lb", &strings(&["subnet-a"]))
            .await
            .unwrap();
        let e = fake
            .detach_subnets("lb", &strings(&["subnet-b"]))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("InvalidConfigurationRequest", AwsErrorKind::InvalidInput),
            "the last subnet stays"
        );
        fake.apply_security_groups("lb", &strings(&["sg-2"]))
            .await
            .unwrap();
        let e = fake.apply_security_groups("lb", &[]).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        let lb = fake.describe_load_balancer("lb").await.unwrap().unwrap();
        assert_eq!(lb.subnet_ids, ["subnet-b"]);
        assert_eq!(lb.security_group_ids, ["sg-2"]);
        fake.add_tags("lb", &tags(&[("b", "2")])).await.unwrap();
        assert_eq!(
            fake.describe_tags("lb").await.unwrap(),
            tags(&[("a", "1"), ("b", "2")])
        );
        fake.delete_load_balancer("lb").await.unwrap();
        fake.delete_load_balancer("lb").await.unwrap();
        assert_eq!(fake.describe_load_balancer("lb").await.unwrap(), None);
        let e = fake.describe_tags("lb").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
        let internal = CreateLoadBalancerInput {
            scheme: LoadBalancerScheme::Internal,
            ..input
        };
        assert_eq!(
            fake.create_load_balancer(&internal)
                .await
                .unwrap()
                .as_deref(),
            Some("internal-lb-123456.us-east-1.elb.amazonaws.com")
        );
    }
}
