//! Which AWS call a request is: service, operation, the resource it names.
//!
//! Only the wire formats the operator's SDK clients use are understood: ECS speaks
//! JSON 1.1 (`X-Amz-Target`), Auto Scaling, classic ELB and EC2 speak the Query
//! protocol (a form body with `Action` and `Version`). Everything else (STS, SSM, IAM,
//! moto's own `/moto-api/`) is [`Service::Other`] and passes through untouched.

use std::fmt;

use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Uri};
use serde_json::Value;

/// The tag the operator puts on each task definition revision: the hash of the
/// normalized spec. Two registrations with the same family and hash are a duplicate.
pub const SPEC_HASH_TAG: &str = "ecsoperator.io/spec-hash";

/// The AWS services the proxy understands (and so may fault and throttle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Amazon ECS (JSON 1.1 protocol).
    Ecs,
    /// EC2 Auto Scaling (Query protocol, version 2011-01-01).
    AutoScaling,
    /// Classic Elastic Load Balancing (Query protocol, version 2012-06-01).
    Elb,
    /// Amazon EC2 (its own flavour of the Query protocol, version 2016-11-15).
    Ec2,
    /// Anything else: forwarded untouched, never faulted or throttled.
    Other,
}

impl Service {
    /// The name used in records, summaries and rules: the SigV4 signing name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Ecs => "ecs",
            Service::AutoScaling => "autoscaling",
            Service::Elb => "elasticloadbalancing",
            Service::Ec2 => "ec2",
            Service::Other => "other",
        }
    }

    /// The service a SigV4 signing name stands for; `None` for names not understood.
    pub fn from_name(name: &str) -> Option<Service> {
        match name {
            "ecs" => Some(Service::Ecs),
            "autoscaling" => Some(Service::AutoScaling),
            "elasticloadbalancing" => Some(Service::Elb),
            "ec2" => Some(Service::Ec2),
            _ => None,
        }
    }

    /// The names rules may list under `services`.
    pub const RULE_NAMES: [&'static str; 4] = ["ecs", "autoscaling", "elasticloadbalancing", "ec2"];
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One identified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The AWS service, or [`Service::Other`].
    pub service: Service,
    /// The API operation (`CreateService`); for unidentified requests `METHOD /path`.
    pub operation: String,
    /// The resource the call is about, when one could be read from the request.
    pub resource: Option<String>,
    /// Extra detail: the spec-hash tag of an ECS `RegisterTaskDefinition`.
    pub detail: Option<String>,
    /// Whether the call changes state (any operation not starting Describe/List/Get).
    pub mutating: bool,
    /// The Query protocol `Version`, so an error answer uses the namespace the client
    /// asked for.
    pub api_version: Option<String>,
}

impl Call {
    /// `service:Operation`, the key of the summary's per-call tables.
    pub fn key(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }
}

/// Whether an operation changes state. AWS names read-only operations Describe*, List*
/// and Get*; everything else writes.
pub fn is_mutating(operation: &str) -> bool {
    !["Describe", "List", "Get"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Identifies a request from its method, URI, headers and (buffered) body.
pub fn identify(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Call {
    let path = uri.path();
    let other = |operation: String| Call {
        service: Service::Other,
        mutating: is_mutating(&operation),
        operation,
        resource: None,
        detail: None,
        api_version: None,
    };
    if path.starts_with("/moto-api") {
        return other(format!("{method} {path}"));
    }
    let scope = signing_service(headers, uri);

    if let Some(target) = header_str(headers, "x-amz-target") {
        let (prefix, operation) = target.rsplit_once('.').unwrap_or(("", target));
        let is_ecs = match scope.as_deref() {
            Some(s) => s == "ecs",
            None => prefix.starts_with("AmazonEC2ContainerService"),
        };
        if !is_ecs || operation.is_empty() {
            return other(operation.to_string());
        }
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let (resource, detail) = match &json {
            Some(v) => (ecs_resource(operation, v), ecs_detail(operation, v)),
            None => (None, None),
        };
        return Call {
            service: Service::Ecs,
            operation: operation.to_string(),
            resource,
            detail,
            mutating: is_mutating(operation),
            api_version: None,
        };
    }

    let mut params = uri.query().map(parse_form).unwrap_or_default();
    if is_form(headers, body) {
        if let Ok(text) = std::str::from_utf8(body) {
            params.extend(parse_form(text));
        }
    }
    let Some(action) = param(&params, "Action").filter(|a| !a.is_empty()) else {
        return other(format!("{method} {path}"));
    };
    let version = param(&params, "Version").map(str::to_string);
    let service = match scope.as_deref() {
        Some(s) => Service::from_name(s).filter(|s| *s != Service::Ecs),
        None => match version.as_deref() {
            Some("2011-01-01") => Some(Service::AutoScaling),
            Some("2012-06-01") => Some(Service::Elb),
            Some("2016-11-15") => Some(Service::Ec2),
            _ => None,
        },
    };
    let Some(service) = service else {
        return other(action.to_string());
    };
    Call {
        service,
        operation: action.to_string(),
        resource: query_resource(&params),
        detail: None,
        mutating: is_mutating(action),
        api_version: version,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The service name in the SigV4 credential scope
/// (`Credential=AKID/20261129/us-east-1/ecs/aws4_request`), from the `Authorization`
/// header or a presigned URL's `X-Amz-Credential`. It is what the SDK really signed
/// for, so it beats guessing from the API version.
pub fn signing_service(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let credential = header_str(headers, AUTHORIZATION.as_str())
        .and_then(|auth| {
            let start = auth.find("Credential=")? + "Credential=".len();
            let rest = &auth[start..];
            let end = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            Some(rest[..end].to_string())
        })
        .or_else(|| {
            let params = parse_form(uri.query()?);
            param(&params, "X-Amz-Credential").map(str::to_string)
        })?;
    // AKID/date/region/service/aws4_request: count from the end, the key id is opaque.
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() < 5 {
        return None;
    }
    Some(parts[parts.len() - 2].to_string())
}

fn is_form(headers: &HeaderMap, body: &[u8]) -> bool {
    match header_str(headers, CONTENT_TYPE.as_str()) {
        Some(ct) => ct
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded"),
        // Some clients leave the content type out; a Query body always starts so.
        None => body.starts_with(b"Action="),
    }
}

/// Decodes `a=1&b=x%20y` (with `+` as space) into pairs, keeping their order.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The Query parameters that name a call's resource, most specific first: a call about
/// an Auto Scaling group that also lists load balancers (AttachLoadBalancers) is about
/// the group.
const QUERY_RESOURCE_PARAMS: &[&str] = &[
    "LoadBalancerName",
    "AutoScalingGroupName",
    "LaunchTemplateName",
    "LaunchTemplateId",
    "LaunchTemplate.LaunchTemplateName",
    "LaunchTemplate.LaunchTemplateId",
    "ResourceId.1",
    "LoadBalancerNames.member.1",
    "AutoScalingGroupNames.member.1",
    "Tags.member.1.ResourceId",
    "LaunchTemplateName.1",
    "LaunchTemplateId.1",
    "InstanceId",
    "InstanceId.1",
    "InstanceIds.member.1",
    "GroupName",
    "GroupId",
    "GroupId.1",
    "KeyName",
];

fn query_resource(params: &[(String, String)]) -> Option<String> {
    QUERY_RESOURCE_PARAMS
        .iter()
        .find_map(|name| param(params, name))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The ECS request fields that name a call's resource, most specific first: a service
/// call also names its cluster and task definition, but is about the service.
const ECS_RESOURCE_FIELDS: &[&str] = &[
    "serviceName",
    "service",
    "services",
    "family",
    "taskDefinition",
    "familyPrefix",
    "resourceArn",
    "clusterName",
    "cluster",
    "clusters",
];

fn ecs_resource(operation: &str, body: &Value) -> Option<String> {
    let fields: &[&str] = match operation {
        // Tag calls name the resource by ARN; `cluster` does not appear in them.
        "TagResource" | "UntagResource" | "ListTagsForResource" => &["resourceArn"],
        _ => ECS_RESOURCE_FIELDS,
    };
    fields.iter().find_map(|f| match body.get(*f)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        // DescribeServices/DescribeClusters take a list: name them all.
        Value::Array(items) => {
            let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!names.is_empty()).then(|| names.join(","))
        }
        _ => None,
    })
}

fn ecs_detail(operation: &str, body: &Value) -> Option<String> {
    if operation != "RegisterTaskDefinition" {
        return None;
    }
    body.get("tags")?.as_array()?.iter().find_map(|tag| {
        (tag.get("key")?.as_str()? == SPEC_HASH_TAG)
            .then(|| tag.get("value")?.as_str().map(str::to_string))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    /// Headers as aws-sdk-rust sends them (names lower-case; the signature is opaque).
    fn sdk_headers(service: &str, content_type: &str, target: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:4566"));
        h.insert("content-type", content_type.parse().unwrap());
        if let Some(t) = target {
            h.insert("x-amz-target", t.parse().unwrap());
        }
        h.insert("x-amz-date", HeaderValue::from_static("20261129T234448Z"));
        h.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261129/us-east-1/{service}/aws4_request, \
                 SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target;x-amz-user-agent, \
                 Signature=37067174564c541f1f52450e819c98504dfd2ff7378cc5394b705f79f1b25905"
            )
            .parse()
            .unwrap(),
        );
        h.insert(
            "amz-sdk-invocation-id",
            HeaderValue::from_static("32dd4db7-8193-4ddd-b453-169bec3249f6"),
        );
        h.insert(
            "amz-sdk-request",
            HeaderValue::from_static("attempt=1; max=3"),
        );
        h.insert(
            "x-amz-user-agent",
            HeaderValue::from_static(
                "aws-sdk-rust/1.3.9 ua/2.1 api/ecs/1.98.0 os/linux lang/rust/1.95.0",
            ),
        );
        h
    }

    fn ecs(op: &str, body: &str) -> Call {
        let target = format!("AmazonEC2ContainerServiceV20141113.{op}");
        identify(
            &Method::POST,
            &Uri::from_static("/"),
            &sdk_headers("ecs", "application/x-amz-json-1.1", Some(&target)),
            body.as_bytes(),
        )
    }

    fn query(service: &str, body: &str) -> Call {
        identify(
            &Method::POST,
            &Uri::from_static("/"),
            &sdk_headers(service, "application/x-www-form-urlencoded", None),
            body.as_bytes(),
        )
    }

    #[test]
    fn ecs_create_service() {
        let call = ecs(
            "CreateService",
            r#"{"cluster":"demo","serviceName":"web","taskDefinition":"webapp:1","desiredCount":2,"clientToken":"abc"}"#,
        );
        assert_eq!(call.service, Service::Ecs);
        assert_eq!(call.operation, "CreateService");
        assert_eq!(call.resource.as_deref(), Some("web"));
        assert!(call.mutating);
        assert_eq!(call.key(), "ecs:CreateService");
    }

    #[test]
    fn ecs_update_and_describe_services() {
        let call = ecs(
            "UpdateService",
            r#"{"cluster":"demo","service":"web","desiredCount":3}"#,
        );
        assert_eq!(call.resource.as_deref(), Some("web"));
        assert!(call.mutating);
        let call = ecs(
            "DescribeServices",
            r#"{"cluster":"demo","services":["web","api"],"include":["TAGS"]}"#,
        );
        assert_eq!(call.resource.as_deref(), Some("web,api"));
        assert!(!call.mutating);
    }

    #[test]
    fn ecs_clusters() {
        assert_eq!(
            ecs("CreateCluster", r#"{"clusterName":"demo","tags":[]}"#)
                .resource
                .as_deref(),
            Some("demo")
        );
        assert_eq!(
            ecs("DeleteCluster", r#"{"cluster":"demo"}"#)
                .resource
                .as_deref(),
            Some("demo")
        );
        assert_eq!(
            ecs("ListServices", r#"{"cluster":"demo"}"#)
                .resource
                .as_deref(),
            Some("demo")
        );
    }

    #[test]
    fn ecs_register_task_definition_with_spec_hash() {
        let call = ecs(
            "RegisterTaskDefinition",
            r#"{"family":"webapp","containerDefinitions":[{"name":"web","image":"training/webapp","memory":128}],"tags":[{"key":"ecsoperator.io/owner","value":"c/ns/EcsTaskDef/webapp"},{"key":"ecsoperator.io/spec-hash","value":"abc123"}]}"#,
        );
        assert_eq!(call.operation, "RegisterTaskDefinition");
        assert_eq!(call.resource.as_deref(), Some("webapp"));
        assert_eq!(call.detail.as_deref(), Some("abc123"));
        assert!(call.mutating);
        let untagged = ecs("RegisterTaskDefinition", r#"{"family":"webapp"}"#);
        assert_eq!(untagged.detail, None);
    }

    #[test]
    fn ecs_deregister_and_tags() {
        assert_eq!(
            ecs(
                "DeregisterTaskDefinition",
                r#"{"taskDefinition":"webapp:3"}"#
            )
            .resource
            .as_deref(),
            Some("webapp:3")
        );
        let arn = "arn:aws:ecs:us-east-1:123456789012:service/demo/web";
        let call = ecs(
            "TagResource",
            &format!(r#"{{"resourceArn":"{arn}","tags":[{{"key":"team","value":"a"}}]}}"#),
        );
        assert_eq!(call.resource.as_deref(), Some(arn));
        assert!(call.mutating);
        assert!(!ecs("ListTagsForResource", "{}").mutating);
    }

    #[test]
    fn ecs_without_scope_uses_the_target_prefix() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.ListClusters"),
        );
        let call = identify(&Method::POST, &Uri::from_static("/"), &h, b"{}");
        assert_eq!(call.service, Service::Ecs);
        assert_eq!(call.operation, "ListClusters");
        assert!(!call.mutating);
    }

    #[test]
    fn ecs_unparsable_body_still_identified() {
        let call = ecs("CreateService", "not json");
        assert_eq!(call.service, Service::Ecs);
        assert_eq!(call.resource, None);
    }

    #[test]
    fn elb_create_load_balancer() {
        let call = query(
            "elasticloadbalancing",
            "Action=CreateLoadBalancer&Version=2012-06-01&LoadBalancerName=web-elb&Listeners.member.1.Protocol=HTTP&Listeners.member.1.LoadBalancerPort=80&Listeners.member.1.InstanceProtocol=HTTP&Listeners.member.1.InstancePort=8080&AvailabilityZones.member.1=us-east-1a",
        );
        assert_eq!(call.service, Service::Elb);
        assert_eq!(call.operation, "CreateLoadBalancer");
        assert_eq!(call.resource.as_deref(), Some("web-elb"));
        assert_eq!(call.api_version.as_deref(), Some("2012-06-01"));
        assert!(call.mutating);
        let call = query(
            "elasticloadbalancing",
            "Action=DescribeTags&Version=2012-06-01&LoadBalancerNames.member.1=web-elb",
        );
        assert_eq!(call.resource.as_deref(), Some("web-elb"));
        assert!(!call.mutating);
    }

    #[test]
    fn autoscaling_calls() {
        let call = query(
            "autoscaling",
            "Action=CreateAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=demo-asg&LaunchTemplate.LaunchTemplateName=demo-lt&LaunchTemplate.Version=%24Latest&MinSize=0&MaxSize=5&AvailabilityZones.member.1=us-east-1a",
        );
        assert_eq!(call.service, Service::AutoScaling);
        assert_eq!(call.operation, "CreateAutoScalingGroup");
        assert_eq!(call.resource.as_deref(), Some("demo-asg"));
        let call = query(
            "autoscaling",
            "Action=CreateOrUpdateTags&Version=2011-01-01&Tags.member.1.ResourceId=demo-asg&Tags.member.1.ResourceType=auto-scaling-group&Tags.member.1.Key=team&Tags.member.1.Value=a&Tags.member.1.PropagateAtLaunch=true",
        );
        assert_eq!(call.resource.as_deref(), Some("demo-asg"));
        let call = query(
            "autoscaling",
            "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=demo-asg",
        );
        assert_eq!(call.resource.as_deref(), Some("demo-asg"));
        assert!(!call.mutating);
    }

    #[test]
    fn ec2_calls() {
        let call = query(
            "ec2",
            "Action=CreateLaunchTemplate&Version=2016-11-15&LaunchTemplateName=demo-lt&LaunchTemplateData.InstanceType=t2.micro&LaunchTemplateData.UserData=IyEvYmluL2Jhc2g%3D&TagSpecification.1.ResourceType=launch-template",
        );
        assert_eq!(call.service, Service::Ec2);
        assert_eq!(call.resource.as_deref(), Some("demo-lt"));
        let call = query(
            "ec2",
            "Action=CreateTags&Version=2016-11-15&ResourceId.1=lt-0123456789abcdef0&Tag.1.Key=a&Tag.1.Value=b",
        );
        assert_eq!(call.operation, "CreateTags");
        assert_eq!(call.resource.as_deref(), Some("lt-0123456789abcdef0"));
        let call = query(
            "ec2",
            "Action=CreateLaunchTemplateVersion&Version=2016-11-15&LaunchTemplateId=lt-0123456789abcdef0&SourceVersion=1",
        );
        assert_eq!(call.resource.as_deref(), Some("lt-0123456789abcdef0"));
        let call = query(
            "ec2",
            "Action=DescribeLaunchTemplates&Version=2016-11-15&LaunchTemplateName.1=demo-lt",
        );
        assert_eq!(call.resource.as_deref(), Some("demo-lt"));
        assert!(!call.mutating);
    }

    #[test]
    fn query_without_scope_uses_the_version() {
        let ct = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("content-type", HeaderValue::from_static(v));
            h
        };
        for (body, svc) in [
            (
                "Action=DescribeAutoScalingGroups&Version=2011-01-01",
                Service::AutoScaling,
            ),
            (
                "Action=DescribeLoadBalancers&Version=2012-06-01",
                Service::Elb,
            ),
            ("Action=DescribeInstances&Version=2016-11-15", Service::Ec2),
            (
                "Action=GetCallerIdentity&Version=2011-06-15",
                Service::Other,
            ),
        ] {
            let call = identify(
                &Method::POST,
                &Uri::from_static("/"),
                &ct("application/x-www-form-urlencoded; charset=utf-8"),
                body.as_bytes(),
            );
            assert_eq!(call.service, svc, "{body}");
        }
        // Without a content type, a body starting with Action= is still a Query call.
        let call = identify(
            &Method::POST,
            &Uri::from_static("/"),
            &HeaderMap::new(),
            b"Action=DescribeInstances&Version=2016-11-15",
        );
        assert_eq!(call.service, Service::Ec2);
        // GET with the parameters in the URL (EC2 accepts that too).
        let call = identify(
            &Method::GET,
            &Uri::from_static("/?Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1"),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(call.service, Service::Ec2);
        assert_eq!(call.resource.as_deref(), Some("i-1"));
    }

    #[test]
    fn scope_beats_version() {
        // ELBv2's version with the classic signing name: the signing name decides.
        let call = query(
            "elasticloadbalancing",
            "Action=DescribeLoadBalancers&Version=2015-12-01",
        );
        assert_eq!(call.service, Service::Elb);
        // An Auto Scaling version signed for STS is not Auto Scaling.
        let call = query("sts", "Action=GetCallerIdentity&Version=2011-01-01");
        assert_eq!(call.service, Service::Other);
        assert_eq!(call.operation, "GetCallerIdentity");
    }

    #[test]
    fn others_pass_through() {
        let sts = query("sts", "Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(sts.service, Service::Other);
        let ssm = identify(
            &Method::POST,
            &Uri::from_static("/"),
            &sdk_headers(
                "ssm",
                "application/x-amz-json-1.1",
                Some("AmazonSSM.GetParameters"),
            ),
            br#"{"Names":["/aws/service/ecs/optimized-ami/amazon-linux-2/recommended"]}"#,
        );
        assert_eq!(ssm.service, Service::Other);
        assert_eq!(ssm.operation, "GetParameters");
        let moto = identify(
            &Method::POST,
            &Uri::from_static("/moto-api/reset"),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(moto.service, Service::Other);
        assert_eq!(moto.operation, "POST /moto-api/reset");
        let plain = identify(&Method::GET, &Uri::from_static("/"), &HeaderMap::new(), b"");
        assert_eq!(plain.service, Service::Other);
    }

    #[test]
    fn signing_service_from_header_and_presigned_url() {
        let h = sdk_headers("autoscaling", "text/plain", None);
        assert_eq!(
            signing_service(&h, &Uri::from_static("/")).as_deref(),
            Some("autoscaling")
        );
        let uri = Uri::from_static(
            "/?Action=DescribeInstances&X-Amz-Credential=AKID%2F20261129%2Fus-east-1%2Fec2%2Faws4_request",
        );
        assert_eq!(
            signing_service(&HeaderMap::new(), &uri).as_deref(),
            Some("ec2")
        );
        let mut bad = HeaderMap::new();
        bad.insert("authorization", HeaderValue::from_static("Bearer xyz"));
        assert_eq!(signing_service(&bad, &Uri::from_static("/")), None);
    }

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_form("a=x%20y&b=1+2&c&d=%24Latest&e=%zz"),
            vec![
                ("a".to_string(), "x y".to_string()),
                ("b".to_string(), "1 2".to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), "$Latest".to_string()),
                ("e".to_string(), "%zz".to_string()),
            ]
        );
        assert_eq!(
            parse_form("x=%4"),
            vec![("x".to_string(), "%4".to_string())]
        );
    }

    #[test]
    fn mutating() {
        for op in [
            "CreateService",
            "TagResource",
            "RegisterTaskDefinition",
            "RunInstances",
        ] {
            assert!(is_mutating(op), "{op}");
        }
        for op in ["DescribeServices", "ListTagsForResource", "GetParameters"] {
            assert!(!is_mutating(op), "{op}");
        }
    }
}
