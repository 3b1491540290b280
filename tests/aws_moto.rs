//! The SDK-backed AWS clients against a real moto server, over real HTTP.
//!
//! Tests share one moto server while they run concurrently (the last one to finish stops
//! it) and use names no other test uses. The binary is `$MOTO_SERVER`, else the one
//! `hack/tools.sh path moto` names when it is installed, else `moto_server` on PATH.
//!
//! Where moto answers differently from AWS, the test says so at that spot and checks
//! what moto really does (or reads the state back another way).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use ecs_operator::api::service::{
    DeploymentCircuitBreaker, DeploymentConfiguration, ElbHealthCheck, Listener, ListenerProtocol,
    LoadBalancerScheme, PlacementStrategy,
};
use ecs_operator::api::task_def::{
    ContainerDefinition, EcsTaskDefSpec, KeyValuePair, LaunchType, NetworkMode, PortMapping,
};
use ecs_operator::aws::sdk::SdkProvider;
use ecs_operator::aws::types::*;
use ecs_operator::aws::{AwsClients, AwsErrorKind, AwsProvider};

const REGION: &str = "us-east-1";

/// A moto server on a free loopback port, killed on drop.
struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    fn start() -> Self {
        let binary = moto_binary();
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready(([127, 0, 0, 1], port).into(), &binary);
        server
    }

    fn wait_ready(&mut self, addr: SocketAddr, binary: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited early: {status}", binary.display());
            }
            if http_get_ok(addr, "/moto-api/data.json") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer on {addr} within 60 s",
                binary.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running shared server, or a new one.
fn moto() -> Arc<MotoServer> {
    static SHARED: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(MotoServer::start());
    *shared = Arc::downgrade(&server);
    server
}

fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let tools = manifest_dir().join("hack/tools.sh");
    if tools.exists() {
        let out = Command::new("bash")
            .arg(&tools)
            .args(["path", "moto"])
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = out {
            let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            // `path` names where the tool goes even before `hack/tools.sh moto` installed it.
            if out.status.success() && path.is_file() {
                return path;
            }
        }
    }
    PathBuf::from("moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "moto")
}

/// Our clients, through [`SdkProvider`], against `endpoint`.
async fn provider(endpoint: &str) -> SdkProvider {
    SdkProvider::with_credentials(
        Some(REGION.into()),
        Some(endpoint.to_string()),
        credentials(),
    )
    .await
    .expect("provider")
}

/// Plain SDK configuration, for setup and for checking what really reached the server.
async fn raw_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials())
        .load()
        .await
}

struct Env {
    _server: Arc<MotoServer>,
    endpoint: String,
    clients: AwsClients,
}

async fn env() -> Env {
    let server = moto();
    let endpoint = server.endpoint.clone();
    let clients = provider(&endpoint).await.clients(None);
    Env {
        _server: server,
        endpoint,
        clients,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The task definition of the ECS tutorial.
fn webapp(family: &str, tag_pairs: &[(&str, &str)]) -> RegisterTaskDefinitionInput {
    RegisterTaskDefinitionInput {
        family: family.into(),
        definition: EcsTaskDefSpec {
            container_definitions: vec![ContainerDefinition {
                name: "web".into(),
                image: "training/webapp:latest".into(),
                memory: Some(128),
                command: vec!["python".into(), "app.py".into()],
                port_mappings: vec![PortMapping {
                    container_port: 5000,
                    host_port: Some(80),
                    ..Default::default()
                }],
                environment: vec![KeyValuePair {
                    name: "PROVIDER".into(),
                    value: "ECS".into(),
                }],
                essential: Some(true),
                ..Default::default()
            }],
            network_mode: Some(NetworkMode::Bridge),
            requires_compatibilities: vec![LaunchType::Ec2],
            ..Default::default()
        },
        tags: tags(tag_pairs),
    }
}

/// Default-VPC subnets and the default security group.
async fn default_network(endpoint: &str) -> (Vec<String>, String) {
    let ec2 = aws_sdk_ec2::Client::new(&raw_config(endpoint).await);
    let subnets = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("describe subnets");
    let mut subnet_ids: Vec<String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    subnet_ids.sort();
    subnet_ids.truncate(2);
    assert_eq!(subnet_ids.len(), 2, "moto has default subnets");
    let groups = ec2
        .describe_security_groups()
        .group_names("default")
        .send()
        .await
        .expect("describe security groups");
    let sg = groups.security_groups()[0]
        .group_id()
        .expect("group id")
        .to_string();
    (subnet_ids, sg)
}

/// An AMI moto knows.
async fn some_image(endpoint: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&raw_config(endpoint).await);
    let images = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("describe images");
    images.images()[0].image_id().expect("image id").to_string()
}

#[tokio::test]
async fn cluster_create_describe_tag_delete() {
    let env = env().await;
    let ecs = &env.clients.ecs;
    let name = "it-cluster-a";

    let created = ecs
        .create_cluster(name, &tags(&[("owner", "it")]))
        .await
        .expect("create cluster");
    assert_eq!(created.name, name);
    assert_eq!(created.status, "ACTIVE");
    assert!(
        created.arn.ends_with(&format!(":cluster/{name}")),
        "{}",
        created.arn
    );
    assert_eq!(created.tags, tags(&[("owner", "it")]));

    let described = ecs
        .describe_clusters(&[name.into(), "it-cluster-missing".into()])
        .await
        .expect("describe clusters");
    assert_eq!(
        described.len(),
        1,
        "the missing cluster is left out: {described:?}"
    );
    assert_eq!(described[0].arn, created.arn);
    assert_eq!(described[0].tags, tags(&[("owner", "it")]));
    assert_eq!(described[0].registered_container_instances, 0);
    assert_eq!(described[0].active_services, 0);

    ecs.tag_resource(&created.arn, &tags(&[("extra", "1")]))
        .await
        .expect("tag cluster");
    let described = ecs
        .describe_clusters(&[name.into()])
        .await
        .expect("describe");
    assert_eq!(described[0].tags, tags(&[("owner", "it"), ("extra", "1")]));

    // UntagResource removes only the named keys; a key the cluster lacks is ignored, and
    // no keys at all is no call.
    ecs.untag_resource(&created.arn, &["extra".into(), "never-set".into()])
        .await
        .expect("untag cluster");
    ecs.untag_resource(&created.arn, &[])
        .await
        .expect("untag nothing");
    let described = ecs
        .describe_clusters(&[name.into()])
        .await
        .expect("describe");
    assert_eq!(described[0].tags, tags(&[("owner", "it")]));

    assert!(ecs.describe_clusters(&[]).await.expect("empty").is_empty());
    let missing = ecs
        .describe_clusters(&["it-cluster-missing".into()])
        .await
        .expect("describe missing");
    assert!(missing.is_empty());

    ecs.delete_cluster(name).await.expect("delete cluster");
    let after = ecs
        .describe_clusters(&[name.into()])
        .await
        .expect("describe");
    assert!(
        after.iter().all(|c| c.status == "INACTIVE"),
        "a deleted cluster is INACTIVE or gone: {after:?}"
    );

    let err = ecs
        .delete_cluster("it-cluster-missing")
        .await
        .expect_err("missing cluster");
    assert_eq!(err.code, "ClusterNotFoundException");
    assert_eq!(err.kind, AwsErrorKind::NotFound);
}

#[tokio::test]
async fn task_definition_register_describe_list_deregister() {
    let env = env().await;
    let ecs = &env.clients.ecs;

    let first = ecs
        .register_task_definition(&webapp("it-web", &[("owner", "it")]))
        .await
        .expect("register");
    assert_eq!(first.family, "it-web");
    assert_eq!(first.revision, 1);
    assert_eq!(first.status, "ACTIVE");
    assert!(
        first.arn.ends_with(":task-definition/it-web:1"),
        "{}",
        first.arn
    );
    assert_eq!(first.tags, tags(&[("owner", "it")]));

    // What reached the server, read back with the plain SDK.
    let raw = aws_sdk_ecs::Client::new(&raw_config(&env.endpoint).await)
        .describe_task_definition()
        .task_definition(&first.arn)
        .send()
        .await
        .expect("raw describe");
    let def = raw.task_definition().expect("task definition");
    assert_eq!(def.network_mode().map(|m| m.as_str()), Some("bridge"));
    assert_eq!(
        def.requires_compatibilities()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["EC2"]
    );
    let c = &def.container_definitions()[0];
    assert_eq!(c.name(), Some("web"));
    assert_eq!(c.image(), Some("training/webapp:latest"));
    assert_eq!(c.memory(), Some(128));
    assert_eq!(c.essential(), Some(true));
    assert_eq!(c.command(), ["python", "app.py"]);
    let p = &c.port_mappings()[0];
    assert_eq!((p.host_port(), p.container_port()), (Some(80), Some(5000)));
    let e = &c.environment()[0];
    assert_eq!((e.name(), e.value()), (Some("PROVIDER"), Some("ECS")));

    let described = ecs
        .describe_task_definition("it-web:1")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(described, first);
    // The definition read back is the spec it was registered from, once ECS's defaults
    // are dropped: what lets adoption and `import` compare revisions by content.
    let registered = described.definition.as_ref().expect("the definition");
    assert_eq!(
        ecs_operator::planning::task_def::spec_hash(
            &ecs_operator::planning::task_def::spec_from_registered(registered)
        ),
        ecs_operator::planning::task_def::spec_hash(&webapp("it-web", &[]).definition)
    );
    let by_family = ecs
        .describe_task_definition("it-web")
        .await
        .expect("describe family")
        .expect("exists");
    assert_eq!(by_family.revision, 1);

    let second = ecs
        .register_task_definition(&webapp("it-web", &[]))
        .await
        .expect("register again");
    assert_eq!(second.revision, 2);
    let other = ecs
        .register_task_definition(&webapp("it-web2", &[]))
        .await
        .expect("register another family");

    let listed = ecs.list_task_definitions("it-web").await.expect("list");
    assert_eq!(listed, [first.arn.clone(), second.arn.clone()]);
    let listed = ecs.list_task_definitions("it-web2").await.expect("list");
    assert_eq!(listed, std::slice::from_ref(&other.arn));

    ecs.deregister_task_definition(&first.arn)
        .await
        .expect("deregister");
    let listed = ecs.list_task_definitions("it-web").await.expect("list");
    assert_eq!(listed, std::slice::from_ref(&second.arn));
    let inactive = ecs
        .describe_task_definition(&first.arn)
        .await
        .expect("describe deregistered")
        .expect("still described");
    assert_eq!(inactive.status, "INACTIVE");

    assert_eq!(
        ecs.describe_task_definition("it-nothing:1")
            .await
            .expect("missing is not an error"),
        None
    );
    assert_eq!(
        ecs.describe_task_definition("it-nothing")
            .await
            .expect("missing family is not an error"),
        None
    );
    assert!(ecs
        .list_task_definitions("it-nothing")
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn service_with_classic_elb_create_describe_update_delete() {
    let env = env().await;
    let AwsClients { ecs, elb, .. } = &env.clients;
    let (subnets, sg) = default_network(&env.endpoint).await;
    let cluster = ecs
        .create_cluster("it-svc-cluster", &Tags::new())
        .await
        .expect("cluster");
    let td = ecs
        .register_task_definition(&webapp("it-svc-web", &[]))
        .await
        .expect("task definition");
    elb.create_load_balancer(&CreateLoadBalancerInput {
        name: "it-svc-elb".into(),
        scheme: LoadBalancerScheme::InternetFacing,
        subnet_ids: subnets,
        security_group_ids: vec![sg],
        listeners: vec![Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: 80,
            instance_port: 80,
            instance_protocol: None,
        }],
        tags: Tags::new(),
    })
    .await
    .expect("elb");

    let input = CreateServiceInput {
        cluster: "it-svc-cluster".into(),
        name: "it-svc".into(),
        task_definition: td.arn.clone(),
        desired_count: 2,
        launch_type: Some(LaunchType::Ec2),
        capacity_provider_strategy: vec![],
        role: Some("ecsServiceRole".into()),
        deployment_configuration: Some(DeploymentConfiguration {
            minimum_healthy_percent: Some(50),
            maximum_percent: Some(200),
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: true,
                rollback: true,
            }),
        }),
        health_check_grace_period_seconds: Some(30),
        network_configuration: None,
        placement_strategy: vec![PlacementStrategy {
            type_: "spread".into(),
            field: Some("attribute:ecs.availability-zone".into()),
        }],
        placement_constraints: vec![],
        load_balancers: vec![ServiceLoadBalancerRef {
            load_balancer_name: Some("it-svc-elb".into()),
            target_group_arn: None,
            container_name: "web".into(),
            container_port: 5000,
        }],
        tags: tags(&[("owner", "it")]),
        client_token: "it-svc-token-1".into(),
    };
    let created = ecs.create_service(&input).await.expect("create service");
    assert_eq!(created.name, "it-svc");
    assert_eq!(created.cluster_arn, cluster.arn);
    assert_eq!(created.status, "ACTIVE");
    assert_eq!(created.desired_count, 2);
    assert_eq!(created.task_definition, td.arn);
    assert_eq!(created.load_balancers, input.load_balancers);

    let described = ecs
        .describe_services(
            "it-svc-cluster",
            &["it-svc".into(), "it-svc-missing".into()],
        )
        .await
        .expect("describe services");
    assert_eq!(described.len(), 1, "the missing service is left out");
    let s = &described[0];
    assert_eq!(s.arn, created.arn);
    assert_eq!(s.tags, tags(&[("owner", "it")]));
    assert_eq!(s.launch_type.as_deref(), Some("EC2"));
    assert_eq!(s.load_balancers, input.load_balancers);
    assert_eq!(s.role_arn.as_deref(), Some("ecsServiceRole"));
    assert_eq!(s.network_configuration, None);
    // Moto accepts but never answers deploymentConfiguration, placementStrategy and
    // healthCheckGracePeriodSeconds, so they cannot be checked here (ECS echoes them).
    let primary = s
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .expect("a primary deployment");
    assert_eq!(primary.task_definition, td.arn);
    assert_eq!(primary.desired_count, 2);
    assert!(primary.updated_at.is_some());

    let updated = ecs
        .update_service(&UpdateServiceInput {
            cluster: "it-svc-cluster".into(),
            name: "it-svc".into(),
            desired_count: Some(3),
            ..Default::default()
        })
        .await
        .expect("update desired count");
    assert_eq!(updated.desired_count, 3);
    let described = ecs
        .describe_services("it-svc-cluster", &["it-svc".into()])
        .await
        .expect("describe");
    assert_eq!(described[0].desired_count, 3);
    assert_eq!(described[0].task_definition, td.arn, "unchanged");

    ecs.update_service(&UpdateServiceInput {
        cluster: "it-svc-cluster".into(),
        name: "it-svc".into(),
        desired_count: Some(0),
        ..Default::default()
    })
    .await
    .expect("scale to 0");
    ecs.delete_service("it-svc-cluster", "it-svc")
        .await
        .expect("delete service");
    let after = ecs
        .describe_services("it-svc-cluster", &["it-svc".into()])
        .await
        .expect("describe deleted");
    assert!(
        after.iter().all(|s| s.status != "ACTIVE"),
        "a deleted service is DRAINING, INACTIVE or gone: {after:?}"
    );

    assert!(ecs
        .describe_services("it-svc-cluster", &[])
        .await
        .expect("no names")
        .is_empty());
    let err = ecs
        .update_service(&UpdateServiceInput {
            cluster: "it-svc-cluster".into(),
            name: "it-svc-missing".into(),
            desired_count: Some(1),
            ..Default::default()
        })
        .await
        .expect_err("missing service");
    assert_eq!(err.code, "ServiceNotFoundException");
    assert_eq!(err.kind, AwsErrorKind::NotFound);

    elb.delete_load_balancer("it-svc-elb").await.expect("elb");
    ecs.delete_cluster("it-svc-cluster").await.expect("cluster");
}

#[tokio::test]
async fn ecs_errors_are_classified() {
    let env = env().await;
    let ecs = &env.clients.ecs;
    // Moto and ECS both answer ClusterNotFoundException (not a ClientException).
    let err = ecs
        .create_service(&CreateServiceInput {
            cluster: "it-err-no-cluster".into(),
            name: "it-err-svc".into(),
            task_definition: "it-err-td:1".into(),
            desired_count: 1,
            client_token: "it-err-token".into(),
            ..Default::default()
        })
        .await
        .expect_err("missing cluster");
    assert_eq!(err.code, "ClusterNotFoundException", "{err}");
    assert_eq!(err.kind, AwsErrorKind::NotFound);
    assert_eq!(err.operation, "ecs:CreateService");
    assert!(!err.message.is_empty());

    let err = ecs
        .describe_services("it-err-no-cluster", &["it-err-svc".into()])
        .await
        .expect_err("missing cluster");
    assert_eq!(err.kind, AwsErrorKind::NotFound);
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let clients = provider(&closed).await.clients(None);
    let err = clients
        .ecs
        .describe_clusters(&["x".into()])
        .await
        .expect_err("nobody listens");
    assert_eq!(err.kind, AwsErrorKind::Transient, "{err}");
    assert_eq!(err.code, "DispatchFailure");
}

#[tokio::test]
async fn launch_template_create_version_describe_delete() {
    let env = env().await;
    let ec2 = &env.clients.ec2;
    let (_, sg) = default_network(&env.endpoint).await;
    let data = LaunchTemplateData {
        image_id: some_image(&env.endpoint).await,
        instance_type: "t3.micro".into(),
        instance_profile: Some("ecsInstanceRole".into()),
        security_group_ids: vec![sg],
        key_name: None,
        user_data_base64: "IyEvYmluL3NoCmVjaG8gRUNTX0NMVVNURVI9YyA+PiAvZXRjL2Vjcy9lY3MuY29uZmln"
            .into(),
    };

    assert_eq!(
        ec2.describe_launch_template("it-lt").await.expect("none"),
        None
    );
    let created = ec2
        .create_launch_template("it-lt", &data, "hash-1", &tags(&[("owner", "it")]))
        .await
        .expect("create");
    assert!(created.id.starts_with("lt-"), "{}", created.id);
    assert_eq!(created.name, "it-lt");
    assert_eq!(created.latest_version, 1);
    assert_eq!(created.tags, tags(&[("owner", "it")]));

    let described = ec2
        .describe_launch_template("it-lt")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(described, created);
    assert_eq!(
        ec2.launch_template_version_description(&created.id, 1)
            .await
            .expect("description")
            .as_deref(),
        Some("hash-1")
    );
    // The data read back is the data sent (what adoption compares).
    let read = ec2
        .launch_template_version_data(&created.id, 1)
        .await
        .expect("version data")
        .expect("version 1");
    assert!(
        ecs_operator::planning::cluster::same_data(&read.data, &data),
        "{read:?} != {data:?}"
    );
    assert!(read.unmodeled.is_empty(), "{read:?}");
    assert_eq!(
        ec2.launch_template_version_data(&created.id, 9)
            .await
            .expect("no version 9"),
        None
    );

    // Later versions without user data: moto stores user data of version 2+ wrongly.
    let v2_data = LaunchTemplateData {
        user_data_base64: String::new(),
        instance_profile: Some("arn:aws:iam::123456789012:instance-profile/ecs".into()),
        ..data.clone()
    };
    let v2 = ec2
        .create_launch_template_version(&created.id, &v2_data, "hash-2")
        .await
        .expect("version 2");
    assert_eq!(v2, 2);
    let described = ec2
        .describe_launch_template("it-lt")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(described.latest_version, 2);
    assert_eq!(
        ec2.launch_template_version_description(&created.id, 2)
            .await
            .expect("description")
            .as_deref(),
        Some("hash-2")
    );

    // What reached the server.
    let raw = aws_sdk_ec2::Client::new(&raw_config(&env.endpoint).await)
        .describe_launch_template_versions()
        .launch_template_id(&created.id)
        .versions("1")
        .versions("2")
        .send()
        .await
        .expect("raw versions");
    let mut versions = raw.launch_template_versions().to_vec();
    versions.sort_by_key(|v| v.version_number());
    let d1 = versions[0].launch_template_data().expect("data");
    assert_eq!(d1.image_id(), Some(data.image_id.as_str()));
    assert_eq!(d1.instance_type().map(|t| t.as_str()), Some("t3.micro"));
    assert_eq!(d1.user_data(), Some(data.user_data_base64.as_str()));
    assert_eq!(d1.security_group_ids(), data.security_group_ids.as_slice());
    assert_eq!(
        d1.iam_instance_profile().and_then(|p| p.name()),
        Some("ecsInstanceRole")
    );
    let d2 = versions[1].launch_template_data().expect("data");
    assert_eq!(
        d2.iam_instance_profile().and_then(|p| p.arn()),
        Some("arn:aws:iam::123456789012:instance-profile/ecs")
    );

    ec2.tag_launch_template(&created.id, &tags(&[("extra", "1")]))
        .await
        .expect("tag");
    // Moto keeps CreateTags tags apart from the template: DescribeLaunchTemplates shows
    // only the creation tags (EC2 shows all), DescribeTags shows all.
    let raw_tags = aws_sdk_ec2::Client::new(&raw_config(&env.endpoint).await)
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(&created.id)
                .build(),
        )
        .send()
        .await
        .expect("raw tags");
    let raw_tags: Tags = raw_tags
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect();
    assert_eq!(raw_tags, tags(&[("owner", "it"), ("extra", "1")]));

    // DeleteTags by key, whatever the value; read back through DescribeTags as above.
    ec2.untag_launch_template(&created.id, &["extra".into()])
        .await
        .expect("untag");
    ec2.untag_launch_template(&created.id, &[])
        .await
        .expect("untag nothing (must not delete every tag)");
    let raw_tags = aws_sdk_ec2::Client::new(&raw_config(&env.endpoint).await)
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(&created.id)
                .build(),
        )
        .send()
        .await
        .expect("raw tags");
    let raw_tags: Tags = raw_tags
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect();
    assert_eq!(raw_tags, tags(&[("owner", "it")]));

    ec2.delete_launch_template(&created.id)
        .await
        .expect("delete");
    assert_eq!(
        ec2.describe_launch_template("it-lt").await.expect("gone"),
        None
    );
    assert_eq!(
        ec2.launch_template_version_description(&created.id, 1)
            .await
            .expect("gone template"),
        None
    );
    let err = ec2
        .delete_launch_template(&created.id)
        .await
        .expect_err("already deleted");
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn auto_scaling_group_lifecycle() {
    let env = env().await;
    let AwsClients {
        ec2,
        autoscaling,
        elb,
        ..
    } = &env.clients;
    let (subnets, sg) = default_network(&env.endpoint).await;
    let data = LaunchTemplateData {
        image_id: some_image(&env.endpoint).await,
        instance_type: "t3.micro".into(),
        instance_profile: None,
        security_group_ids: vec![sg.clone()],
        key_name: None,
        user_data_base64: "IyEvYmluL3NoCg==".into(),
    };
    let lt = ec2
        .create_launch_template("it-asg-lt", &data, "h1", &Tags::new())
        .await
        .expect("launch template");
    elb.create_load_balancer(&CreateLoadBalancerInput {
        name: "it-asg-elb".into(),
        scheme: LoadBalancerScheme::Internal,
        subnet_ids: subnets[..1].to_vec(),
        security_group_ids: vec![sg],
        listeners: vec![Listener {
            protocol: ListenerProtocol::Tcp,
            load_balancer_port: 80,
            instance_port: 80,
            instance_protocol: None,
        }],
        tags: Tags::new(),
    })
    .await
    .expect("elb");

    assert_eq!(
        autoscaling.describe_group("it-asg").await.expect("none"),
        None
    );
    autoscaling
        .create_group(&CreateGroupInput {
            name: "it-asg".into(),
            launch_template_id: lt.id.clone(),
            launch_template_version: "1".into(),
            min_size: 1,
            max_size: 2,
            desired_capacity: 1,
            subnet_ids: subnets.clone(),
            load_balancer_names: vec!["it-asg-elb".into()],
            new_instances_protected_from_scale_in: false,
            tags: tags(&[("owner", "it")]),
        })
        .await
        .expect("create group");

    let g = autoscaling
        .describe_group("it-asg")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(g.name, "it-asg");
    assert!(g
        .arn
        .as_deref()
        .is_some_and(|a| a.contains("autoScalingGroupName/it-asg")));
    assert_eq!(g.launch_template_id.as_deref(), Some(lt.id.as_str()));
    assert_eq!(g.launch_template_version.as_deref(), Some("1"));
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (1, 2, 1));
    assert_eq!(g.subnet_ids, subnets);
    assert_eq!(g.load_balancer_names, ["it-asg-elb"]);
    assert_eq!(g.instances.len(), 1, "moto launches the instances");
    assert!(g.instances[0].instance_id.starts_with("i-"));
    assert_eq!(g.instances[0].lifecycle_state, "InService");
    assert_eq!(g.tags, tags(&[("owner", "it")]));
    let raw = aws_sdk_autoscaling::Client::new(&raw_config(&env.endpoint).await)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("it-asg")
        .send()
        .await
        .expect("raw describe");
    assert!(raw.auto_scaling_groups()[0]
        .tags()
        .iter()
        .all(|t| t.propagate_at_launch() == Some(true)));

    // Version 2 without user data: moto cannot launch from a version 2+ that has some.
    let v2 = ec2
        .create_launch_template_version(
            &lt.id,
            &LaunchTemplateData {
                user_data_base64: String::new(),
                ..data
            },
            "h2",
        )
        .await
        .expect("version 2");
    autoscaling
        .update_group(&UpdateGroupInput {
            name: "it-asg".into(),
            launch_template: Some((lt.id.clone(), v2.to_string())),
            max_size: Some(3),
            desired_capacity: Some(2),
            ..Default::default()
        })
        .await
        .expect("update group");
    let g = autoscaling
        .describe_group("it-asg")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(g.launch_template_version.as_deref(), Some("2"));
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (1, 3, 2));
    assert_eq!(g.instances.len(), 2);

    autoscaling
        .tag_group("it-asg", &tags(&[("extra", "1")]))
        .await
        .expect("tag");
    autoscaling
        .detach_load_balancers("it-asg", &["it-asg-elb".into()])
        .await
        .expect("detach");
    let g = autoscaling
        .describe_group("it-asg")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(g.tags, tags(&[("owner", "it"), ("extra", "1")]));
    assert!(g.load_balancer_names.is_empty());
    autoscaling
        .untag_group("it-asg", &["extra".into()])
        .await
        .expect("untag");
    autoscaling
        .untag_group("it-asg", &[])
        .await
        .expect("untag nothing");
    let g = autoscaling
        .describe_group("it-asg")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(g.tags, tags(&[("owner", "it")]));
    autoscaling
        .attach_load_balancers("it-asg", &["it-asg-elb".into()])
        .await
        .expect("attach");
    let g = autoscaling
        .describe_group("it-asg")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(g.load_balancer_names, ["it-asg-elb"]);

    autoscaling.delete_group("it-asg").await.expect("delete");
    let after = autoscaling
        .describe_group("it-asg")
        .await
        .expect("describe");
    assert!(
        after.as_ref().is_none_or(|g| g.status.is_some()),
        "deleted or being deleted: {after:?}"
    );

    let err = autoscaling
        .update_group(&UpdateGroupInput {
            name: "it-asg-missing".into(),
            min_size: Some(1),
            ..Default::default()
        })
        .await
        .expect_err("missing group");
    assert_eq!(err.code, "ValidationError");
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
    let err = autoscaling
        .delete_group("it-asg-missing")
        .await
        .expect_err("missing group");
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");

    elb.delete_load_balancer("it-asg-elb").await.expect("elb");
    ec2.delete_launch_template(&lt.id).await.expect("lt");
}

#[tokio::test]
async fn classic_elb_lifecycle() {
    let env = env().await;
    let elb = &env.clients.elb;
    let (subnets, sg) = default_network(&env.endpoint).await;

    assert_eq!(
        elb.describe_load_balancer("it-elb").await.expect("none"),
        None
    );
    let http = Listener {
        protocol: ListenerProtocol::Http,
        load_balancer_port: 80,
        instance_port: 5000,
        instance_protocol: None,
    };
    let dns = elb
        .create_load_balancer(&CreateLoadBalancerInput {
            name: "it-elb".into(),
            scheme: LoadBalancerScheme::Internal,
            subnet_ids: subnets[..1].to_vec(),
            security_group_ids: vec![sg.clone()],
            listeners: vec![http.clone()],
            tags: tags(&[("owner", "it")]),
        })
        .await
        .expect("create");
    let dns = dns.expect("a DNS name");
    assert!(dns.starts_with("it-elb"), "{dns}");

    let lb = elb
        .describe_load_balancer("it-elb")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(lb.name, "it-elb");
    assert_eq!(lb.dns_name.as_deref(), Some(dns.as_str()));
    assert_eq!(lb.scheme.as_deref(), Some("internal"));
    assert_eq!(lb.subnet_ids, subnets[..1]);
    assert_eq!(lb.security_group_ids, [sg]);
    // ELB fills in the instance protocol.
    assert_eq!(
        lb.listeners,
        [Listener {
            instance_protocol: Some(ListenerProtocol::Http),
            ..http.clone()
        }]
    );

    let check = ElbHealthCheck {
        target: "HTTP:5000/health".into(),
        interval_seconds: 15,
        timeout_seconds: 4,
        healthy_threshold: 3,
        unhealthy_threshold: 5,
    };
    elb.configure_health_check("it-elb", &check)
        .await
        .expect("health check");

    assert_eq!(
        elb.describe_tags("it-elb").await.expect("tags"),
        tags(&[("owner", "it")])
    );
    elb.add_tags("it-elb", &tags(&[("extra", "1")]))
        .await
        .expect("add tags");
    assert_eq!(
        elb.describe_tags("it-elb").await.expect("tags"),
        tags(&[("owner", "it"), ("extra", "1")])
    );
    elb.remove_tags("it-elb", &["extra".into()])
        .await
        .expect("remove tags");
    elb.remove_tags("it-elb", &[])
        .await
        .expect("remove nothing");
    assert_eq!(
        elb.describe_tags("it-elb").await.expect("tags"),
        tags(&[("owner", "it")])
    );

    let tcp = Listener {
        protocol: ListenerProtocol::Tcp,
        load_balancer_port: 8443,
        instance_port: 8443,
        instance_protocol: Some(ListenerProtocol::Tcp),
    };
    elb.create_listeners("it-elb", std::slice::from_ref(&tcp))
        .await
        .expect("create listeners");
    elb.delete_listeners("it-elb", &[80])
        .await
        .expect("delete listeners");
    let lb = elb
        .describe_load_balancer("it-elb")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(lb.listeners, [tcp]);
    assert_eq!(lb.health_check, Some(check));

    elb.delete_load_balancer("it-elb").await.expect("delete");
    assert_eq!(
        elb.describe_load_balancer("it-elb").await.expect("gone"),
        None
    );
    elb.delete_load_balancer("it-elb")
        .await
        .expect("deleting twice is fine");
    let err = elb.describe_tags("it-elb").await.expect_err("gone");
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
}

/// A canned ECS endpoint for what moto cannot show: moto treats `familyPrefix` as an
/// exact family and never paginates ListTaskDefinitions, real ECS does both.
#[tokio::test]
async fn list_task_definitions_follows_pages_and_filters_prefix_matches() {
    use axum::http::{header, HeaderMap};
    use axum::response::IntoResponse;

    let requests: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = requests.clone();
    let handler = move |headers: HeaderMap, body: String| {
        let seen = seen.clone();
        async move {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            assert!(target.ends_with(".ListTaskDefinitions"), "{target}");
            let request: serde_json::Value = serde_json::from_str(&body).expect("json body");
            let arn = |f: &str| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{f}");
            let page = match request.get("nextToken").and_then(|t| t.as_str()) {
                None => serde_json::json!({
                    "taskDefinitionArns": [arn("web:1"), arn("web2:1")],
                    "nextToken": "page-2",
                }),
                Some("page-2") => serde_json::json!({
                    "taskDefinitionArns": [arn("web-x:4"), arn("web:2")],
                }),
                Some(other) => panic!("unexpected token {other}"),
            };
            seen.lock().expect("lock").push(request);
            (
                [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                page.to_string(),
            )
                .into_response()
        }
    };
    let app = axum::Router::new().route("/", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let clients = provider(&format!("http://{addr}")).await.clients(None);
    let listed = clients
        .ecs
        .list_task_definitions("web")
        .await
        .expect("list");
    server.abort();

    let arn = |f: &str| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{f}");
    assert_eq!(listed, [arn("web:1"), arn("web:2")]);
    let requests = requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!(r["familyPrefix"], "web");
        assert_eq!(r["status"], "ACTIVE");
        assert_eq!(r["sort"], "ASC");
    }
    assert_eq!(requests[1]["nextToken"], "page-2");
}

/// A canned ECS endpoint that throttles: a real ThrottlingException over HTTP must be
/// retried by the SDK (standard mode) and, when it persists, reach the reconciler as
/// `Throttled` and be counted in the metrics.
#[tokio::test]
async fn throttling_is_retried_then_classified_and_counted() {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use ecs_operator::aws::guard::GuardedProvider;
    use ecs_operator::telemetry::metrics::Metrics;

    // Throttle the first `throttled` requests, then answer.
    let served = Arc::new(Mutex::new(0usize));
    let throttled = Arc::new(Mutex::new(0usize));
    let (served2, throttled2) = (served.clone(), throttled.clone());
    let handler = move || {
        let (served, throttled) = (served2.clone(), throttled2.clone());
        async move {
            let mut n = served.lock().expect("lock");
            *n += 1;
            if *n <= *throttled.lock().expect("lock") {
                let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                return (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                    body,
                )
                    .into_response();
            }
            let body = r#"{"clusters":[{"clusterName":"c","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/c","status":"ACTIVE"}],"failures":[]}"#;
            ([(header::CONTENT_TYPE, "application/x-amz-json-1.1")], body).into_response()
        }
    };
    let app = axum::Router::new().route("/", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let metrics = Metrics::default();
    let sdk = Arc::new(provider(&format!("http://{addr}")).await);
    let guarded = GuardedProvider::new(sdk, metrics.clone(), 1.0);
    let ecs = guarded.clients(None).ecs;
    let names = vec!["c".to_string()];

    // Two throttles: the SDK's retries absorb them.
    *throttled.lock().expect("lock") = 2;
    let found = ecs
        .describe_clusters(&names)
        .await
        .expect("retried to success");
    assert_eq!(found.len(), 1);
    assert_eq!(*served.lock().expect("lock"), 3);

    // Throttled on every attempt: the error says so, after the SDK's 3 attempts.
    *served.lock().expect("lock") = 0;
    *throttled.lock().expect("lock") = usize::MAX;
    let err = ecs.describe_clusters(&names).await.expect_err("throttled");
    server.abort();
    assert_eq!(err.kind, AwsErrorKind::Throttled, "{err}");
    assert_eq!(*served.lock().expect("lock"), 3);
    let text = metrics.encode().expect("metrics");
    assert!(
        text.contains(r#"ecs_operator_aws_throttles_total{operation="ecs:DescribeClusters"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"ecs_operator_aws_calls_total{operation="ecs:DescribeClusters",outcome="success"} 1"#
        ),
        "{text}"
    );
    // AWS's bucket was charged for every attempt the SDK sent, not once per call.
    assert!(
        text.contains(r#"ecs_operator_aws_requests_total{operation="ecs:DescribeClusters"} 6"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ecs_operator_aws_bucket_calls_total{bucket="ecs_cluster_read"} 6"#),
        "{text}"
    );
}

#[tokio::test]
async fn classic_elb_moves_subnets_and_replaces_security_groups() {
    let env = env().await;
    let elb = &env.clients.elb;
    let (subnets, default_sg) = default_network(&env.endpoint).await;
    let ec2 = aws_sdk_ec2::Client::new(&raw_config(&env.endpoint).await);
    let sg = ec2
        .create_security_group()
        .group_name("it-elb-net-sg")
        .description("ecs-operator adapter test")
        .send()
        .await
        .expect("security group")
        .group_id()
        .expect("group id")
        .to_string();
    elb.create_load_balancer(&CreateLoadBalancerInput {
        name: "it-elb-net".into(),
        scheme: LoadBalancerScheme::InternetFacing,
        subnet_ids: subnets[..1].to_vec(),
        security_group_ids: vec![default_sg.clone()],
        listeners: vec![Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: 80,
            instance_port: 80,
            instance_protocol: None,
        }],
        tags: Tags::new(),
    })
    .await
    .expect("create");

    elb.attach_subnets("it-elb-net", &subnets[1..])
        .await
        .expect("attach");
    let lb = elb
        .describe_load_balancer("it-elb-net")
        .await
        .expect("describe")
        .expect("exists");
    let mut attached = lb.subnet_ids.clone();
    attached.sort();
    assert_eq!(attached, subnets);
    elb.detach_subnets("it-elb-net", &subnets[..1])
        .await
        .expect("detach");
    elb.apply_security_groups("it-elb-net", std::slice::from_ref(&sg))
        .await
        .expect("apply security groups");
    let lb = elb
        .describe_load_balancer("it-elb-net")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(lb.subnet_ids, subnets[1..]);
    assert_eq!(lb.security_group_ids, [sg]);
    // Nothing to attach or detach is no call at all.
    elb.attach_subnets("it-elb-net", &[]).await.expect("no-op");
    elb.detach_subnets("it-elb-net", &[]).await.expect("no-op");

    // AWS answers LoadBalancerNotFound for a missing ELB; moto fails with HTTP 500 and
    // no body, which is classified as transient (retried), never as terminal.
    let err = elb
        .attach_subnets("it-elb-net-missing", &subnets[..1])
        .await
        .expect_err("missing ELB");
    assert_eq!(err.kind, AwsErrorKind::Transient, "{err}");
    elb.delete_load_balancer("it-elb-net")
        .await
        .expect("delete");
}

#[tokio::test]
async fn update_service_replaces_and_removes_load_balancers() {
    let env = env().await;
    let AwsClients { ecs, elb, .. } = &env.clients;
    let (subnets, sg) = default_network(&env.endpoint).await;
    ecs.create_cluster("it-svclb-cluster", &Tags::new())
        .await
        .expect("cluster");
    let td = ecs
        .register_task_definition(&webapp("it-svclb-web", &[]))
        .await
        .expect("task definition");
    for name in ["it-svclb-old", "it-svclb-new"] {
        elb.create_load_balancer(&CreateLoadBalancerInput {
            name: name.into(),
            scheme: LoadBalancerScheme::InternetFacing,
            subnet_ids: subnets.clone(),
            security_group_ids: vec![sg.clone()],
            listeners: vec![Listener {
                protocol: ListenerProtocol::Http,
                load_balancer_port: 80,
                instance_port: 80,
                instance_protocol: None,
            }],
            tags: Tags::new(),
        })
        .await
        .expect("elb");
    }
    let lb = |name: &str| ServiceLoadBalancerRef {
        load_balancer_name: Some(name.into()),
        target_group_arn: None,
        container_name: "web".into(),
        container_port: 5000,
    };
    ecs.create_service(&CreateServiceInput {
        cluster: "it-svclb-cluster".into(),
        name: "it-svclb".into(),
        task_definition: td.arn.clone(),
        desired_count: 1,
        launch_type: Some(LaunchType::Ec2),
        load_balancers: vec![lb("it-svclb-old")],
        client_token: "it-svclb-token".into(),
        ..Default::default()
    })
    .await
    .expect("create service");

    let described = |ecs: std::sync::Arc<dyn ecs_operator::aws::EcsApi>| async move {
        ecs.describe_services("it-svclb-cluster", &["it-svclb".into()])
            .await
            .expect("describe")
            .remove(0)
            .load_balancers
    };
    let update = |lbs: Vec<ServiceLoadBalancerRef>| UpdateServiceInput {
        cluster: "it-svclb-cluster".into(),
        name: "it-svclb".into(),
        load_balancers: Some(lbs),
        ..Default::default()
    };
    ecs.update_service(&update(vec![lb("it-svclb-new")]))
        .await
        .expect("move to the new ELB");
    assert_eq!(described(ecs.clone()).await, [lb("it-svclb-new")]);
    // An empty list is sent (not left out): it detaches the service.
    ecs.update_service(&update(vec![])).await.expect("detach");
    assert_eq!(described(ecs.clone()).await, []);
    // None leaves the load balancers alone.
    ecs.update_service(&update(vec![lb("it-svclb-new")]))
        .await
        .expect("attach again");
    ecs.update_service(&UpdateServiceInput {
        cluster: "it-svclb-cluster".into(),
        name: "it-svclb".into(),
        desired_count: Some(0),
        ..Default::default()
    })
    .await
    .expect("scale to 0");
    assert_eq!(described(ecs.clone()).await, [lb("it-svclb-new")]);

    ecs.delete_service("it-svclb-cluster", "it-svclb")
        .await
        .expect("delete service");
    for name in ["it-svclb-old", "it-svclb-new"] {
        elb.delete_load_balancer(name).await.expect("elb");
    }
    ecs.delete_cluster("it-svclb-cluster")
        .await
        .expect("cluster");
}

/// An endpoint that reads each request and closes the connection without an answer (a
/// lost response): the SDK retries a read, but never a write, which may have taken
/// effect; the reconciler observes before it tries the write again.
#[tokio::test]
async fn writes_whose_answer_was_lost_are_not_retried_by_the_sdk() {
    use tokio::io::AsyncReadExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = received.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 64 * 1024];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let target = head
                .lines()
                .find_map(|l| l.strip_prefix("x-amz-target:"))
                .map(|t| t.trim().rsplit('.').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            seen.lock().expect("lock").push(target);
            drop(socket);
        }
    });
    let sdk = provider(&format!("http://{addr}")).await;
    let ecs = sdk.clients(None).ecs;

    let err = ecs
        .create_cluster("c", &Tags::new())
        .await
        .expect_err("no answer");
    assert_eq!(err.kind, AwsErrorKind::Transient, "{err}");
    let writes = received.lock().expect("lock").clone();
    assert_eq!(writes, ["createcluster"], "a lost write is sent once");

    received.lock().expect("lock").clear();
    ecs.describe_clusters(&["c".to_string()])
        .await
        .expect_err("no answer");
    let reads = received.lock().expect("lock").len();
    server.abort();
    assert_eq!(reads, 3, "a read is retried by the SDK (3 attempts)");
}

/// The bulk reads of the sweep against moto: every classic ELB in one paged listing, and
/// the tags of several in one DescribeTags call.
#[tokio::test]
async fn classic_elbs_are_read_in_bulk() {
    let env = env().await;
    let elb = &env.clients.elb;
    let (subnets, sg) = default_network(&env.endpoint).await;
    let listener = Listener {
        protocol: ListenerProtocol::Http,
        load_balancer_port: 80,
        instance_port: 5000,
        instance_protocol: None,
    };
    let names: Vec<String> = (0..3).map(|i| format!("bulk-elb-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        elb.create_load_balancer(&CreateLoadBalancerInput {
            name: name.clone(),
            scheme: LoadBalancerScheme::Internal,
            subnet_ids: subnets[..1].to_vec(),
            security_group_ids: vec![sg.clone()],
            listeners: vec![listener.clone()],
            tags: tags(&[("n", &i.to_string())]),
        })
        .await
        .expect("create");
    }
    let all = elb
        .describe_all_load_balancers()
        .await
        .expect("describe all");
    for name in &names {
        assert!(all.iter().any(|lb| &lb.name == name), "{name} listed");
    }
    let found = elb
        .describe_tags_of(&names[..2])
        .await
        .expect("describe tags");
    assert_eq!(found.len(), 2);
    assert_eq!(found["bulk-elb-1"].get("n").map(String::as_str), Some("1"));
    for name in &names {
        elb.delete_load_balancer(name).await.expect("delete");
    }
}

/// AWS charges its buckets per HTTP request: one DescribeServices call of 25 names is three
/// requests of 10, and the client-side bucket is charged three tokens, not one.
#[tokio::test]
async fn rate_limiter_charges_every_http_request_of_a_call() {
    use ecs_operator::aws::guard::GuardedProvider;
    use ecs_operator::telemetry::metrics::Metrics;
    let env = env().await;
    env.clients
        .ecs
        .create_cluster("it-charge-pages", &Tags::new())
        .await
        .expect("cluster");
    let metrics = Metrics::default();
    let sdk = Arc::new(provider(&env.endpoint).await);
    let guarded = GuardedProvider::new(sdk, metrics.clone(), 1.0);
    let ecs = guarded.clients(None).ecs;
    let names: Vec<String> = (0..25).map(|i| format!("absent-{i}")).collect();
    let found = ecs
        .describe_services("it-charge-pages", &names)
        .await
        .expect("describe");
    assert!(found.is_empty());
    let text = metrics.encode().expect("metrics");
    assert!(
        text.contains(r#"ecs_operator_aws_requests_total{operation="ecs:DescribeServices"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ecs_operator_aws_bucket_calls_total{bucket="ecs_service_read"} 3"#),
        "{text}"
    );
}

/// The capacity sweep's bulk reads: launch templates and Auto Scaling groups by tag key,
/// those without the tag left out.
#[tokio::test]
async fn launch_templates_and_groups_are_listed_by_tag_key() {
    let env = env().await;
    let AwsClients {
        ec2, autoscaling, ..
    } = &env.clients;
    let (subnets, sg) = default_network(&env.endpoint).await;
    let data = LaunchTemplateData {
        image_id: some_image(&env.endpoint).await,
        instance_type: "t3.micro".into(),
        instance_profile: None,
        security_group_ids: vec![sg],
        key_name: None,
        user_data_base64: "IyEvYmluL3NoCg==".into(),
    };
    let key = "it-bulk-owner";
    let mut ids = Vec::new();
    for (name, tagged) in [("it-bulk-lt-a", true), ("it-bulk-lt-b", false)] {
        let t = if tagged {
            tags(&[(key, "x")])
        } else {
            Tags::new()
        };
        let lt = ec2
            .create_launch_template(name, &data, "h", &t)
            .await
            .expect("launch template");
        ids.push(lt.id);
    }
    for (name, tagged) in [("it-bulk-asg-a", true), ("it-bulk-asg-b", false)] {
        autoscaling
            .create_group(&CreateGroupInput {
                name: name.into(),
                launch_template_id: ids[0].clone(),
                launch_template_version: "1".into(),
                min_size: 0,
                max_size: 1,
                desired_capacity: 0,
                subnet_ids: subnets.clone(),
                load_balancer_names: vec![],
                new_instances_protected_from_scale_in: false,
                tags: if tagged {
                    tags(&[(key, "x")])
                } else {
                    tags(&[("other", "y")])
                },
            })
            .await
            .expect("create group");
    }
    let templates = ec2
        .describe_launch_templates_tagged(key)
        .await
        .expect("templates");
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["it-bulk-lt-a"]);
    assert_eq!(templates[0].latest_version, 1);
    let groups = autoscaling
        .describe_groups_tagged(key)
        .await
        .expect("groups");
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["it-bulk-asg-a"]);
    assert_eq!(groups[0].tags.get(key).map(String::as_str), Some("x"));
    // `import` looks at every group, with the template each launches.
    let all = autoscaling.describe_all_groups().await.expect("all groups");
    let b = all
        .iter()
        .find(|g| g.name == "it-bulk-asg-b")
        .expect("the untagged group too");
    assert_eq!(b.launch_template_id.as_deref(), Some(ids[0].as_str()));
    assert_eq!(b.launch_template_name.as_deref(), Some("it-bulk-lt-a"));
    assert_eq!(b.launch_configuration_name, None);
}

/// A group made from a launch configuration (as before launch templates), read by
/// `import` through DescribeLaunchConfigurations, then moved to a launch template by
/// UpdateAutoScalingGroup as the operator does when it adopts the group. moto 5.2.5 keeps
/// reporting the group's (and its instances') LaunchConfigurationName after the move,
/// beside the template (AWS drops it); the adapter reads the template first.
#[tokio::test]
async fn launch_configuration_is_read_and_its_group_moves_to_a_launch_template() {
    use base64::Engine;
    let env = env().await;
    let (subnets, sg) = default_network(&env.endpoint).await;
    let image = some_image(&env.endpoint).await;
    let cfg = raw_config(&env.endpoint).await;
    let raw = aws_sdk_autoscaling::Client::new(&cfg);
    let script = "#!/bin/bash\n\necho ECS_CLUSTER=my-ecs-cluster > /etc/ecs/ecs.config\n";
    let user_data = base64::engine::general_purpose::STANDARD.encode(script);
    raw.create_launch_configuration()
        .launch_configuration_name("it-lc")
        .image_id(&image)
        .instance_type("t2.micro")
        .iam_instance_profile("ecs-instance-role")
        .security_groups(&sg)
        .key_name("my-ec2-key-pair")
        .user_data(&user_data)
        .send()
        .await
        .expect("create launch configuration");
    raw.create_auto_scaling_group()
        .auto_scaling_group_name("it-lc-asg")
        .launch_configuration_name("it-lc")
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .vpc_zone_identifier(subnets.join(","))
        .send()
        .await
        .expect("create group from the launch configuration");

    let asg = &env.clients.autoscaling;
    let lc = asg
        .describe_launch_configuration("it-lc")
        .await
        .expect("describe launch configuration")
        .expect("it exists");
    assert_eq!(lc.name, "it-lc");
    assert!(lc.arn.is_some());
    assert_eq!(
        lc.data,
        LaunchTemplateData {
            image_id: image.clone(),
            instance_type: "t2.micro".into(),
            instance_profile: Some("ecs-instance-role".into()),
            security_group_ids: vec![sg.clone()],
            key_name: Some("my-ec2-key-pair".into()),
            user_data_base64: user_data.clone(),
        }
    );
    // moto answers InstanceMonitoring false and AssociatePublicIpAddress false when unset.
    assert!(lc.unmodeled.is_empty(), "{:?}", lc.unmodeled);
    assert_eq!(
        asg.describe_launch_configuration("it-no-such-lc")
            .await
            .expect("describe a missing one"),
        None
    );
    let g = asg
        .describe_group("it-lc-asg")
        .await
        .expect("describe group")
        .expect("group");
    assert_eq!(g.launch_configuration_name.as_deref(), Some("it-lc"));
    assert_eq!(g.launch_template_id, None);
    assert_eq!(g.instances.len(), 1, "moto launches from the configuration");

    // The move the operator makes: the same data as a launch template, then the group.
    let lt = env
        .clients
        .ec2
        .create_launch_template("it-lc-asg-lt", &lc.data, "from it-lc", &Tags::new())
        .await
        .expect("launch template");
    asg.update_group(&UpdateGroupInput {
        name: "it-lc-asg".into(),
        launch_template: Some((lt.id.clone(), "1".into())),
        ..Default::default()
    })
    .await
    .expect("move the group to the template");
    let g = asg
        .describe_group("it-lc-asg")
        .await
        .expect("describe group")
        .expect("group");
    assert_eq!(g.launch_template_id.as_deref(), Some(lt.id.as_str()));
    assert_eq!(g.launch_template_version.as_deref(), Some("1"));
    assert_eq!(g.instances.len(), 1, "existing instances are not replaced");
}

/// Capacity providers through our adapters. moto 5.2 stores what it is sent and checks
/// nothing (see the gaps at each step): the rules are in the fake, this checks the wire
/// format both ways. Measured with moto 5.2.5 beyond what this test shows: names starting
/// with aws/ecs/fargate are accepted; a second CreateCapacityProvider of a name silently
/// replaces the first; one group may back several providers; managed termination
/// protection is accepted without managed scaling or a protecting group;
/// PutClusterCapacityProviders accepts providers that do not exist and strategies naming
/// providers outside the set; DeleteCapacityProvider or UpdateCapacityProvider of a
/// missing provider answer HTTP 500; DescribeCapacityProviders without names answers 500;
/// managedDraining is echoed only when sent.
#[tokio::test]
async fn capacity_provider_create_describe_update_attach_delete() {
    let env = env().await;
    let AwsClients {
        ecs,
        ec2,
        autoscaling,
        ..
    } = &env.clients;
    let (subnets, sg) = default_network(&env.endpoint).await;
    ecs.create_cluster("it-cp-cluster", &Tags::new())
        .await
        .expect("cluster");
    let data = LaunchTemplateData {
        image_id: some_image(&env.endpoint).await,
        instance_type: "t3.micro".into(),
        instance_profile: None,
        security_group_ids: vec![sg],
        key_name: None,
        user_data_base64: "IyEvYmluL3NoCg==".into(),
    };
    let lt = ec2
        .create_launch_template("it-cp-lt", &data, "h1", &Tags::new())
        .await
        .expect("launch template");
    autoscaling
        .create_group(&CreateGroupInput {
            name: "it-cp-asg".into(),
            launch_template_id: lt.id.clone(),
            launch_template_version: "1".into(),
            min_size: 0,
            max_size: 2,
            desired_capacity: 1,
            subnet_ids: subnets,
            load_balancer_names: vec![],
            new_instances_protected_from_scale_in: true,
            tags: tags(&[("AmazonECSManaged", "true")]),
        })
        .await
        .expect("create group");
    let g = autoscaling
        .describe_group("it-cp-asg")
        .await
        .expect("describe group")
        .expect("group");
    assert!(g.new_instances_protected_from_scale_in);
    assert!(
        g.instances.iter().all(|i| i.protected_from_scale_in),
        "{:?}",
        g.instances
    );
    let group_arn = g.arn.clone().expect("group arn");

    // Absent: left out (moto answers a MISSING failure, as ECS does).
    assert_eq!(
        ecs.describe_capacity_providers(&["it-cp".into()])
            .await
            .expect("describe none"),
        vec![]
    );
    let settings = CapacityProviderSettings {
        managed_scaling: Some(ManagedScalingSettings {
            target_capacity: 90,
            minimum_scaling_step_size: 1,
            maximum_scaling_step_size: 10,
            instance_warmup_period: 120,
        }),
        managed_termination_protection: true,
        managed_draining: true,
    };
    let created = ecs
        .create_capacity_provider(&CreateCapacityProviderInput {
            name: "it-cp".into(),
            auto_scaling_group_arn: group_arn.clone(),
            settings: settings.clone(),
            tags: tags(&[("owner", "it")]),
        })
        .await
        .expect("create provider");
    assert_eq!(created.name, "it-cp");
    assert!(
        created.arn.ends_with(":capacity-provider/it-cp"),
        "{}",
        created.arn
    );
    assert_eq!(created.status, "ACTIVE");
    assert_eq!(created.auto_scaling_group_arn, group_arn);
    assert_eq!(created.settings, settings);
    let described = ecs
        .describe_capacity_providers(&["it-cp".into(), "it-cp-missing".into()])
        .await
        .expect("describe");
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].settings, settings);
    assert_eq!(described[0].tags, tags(&[("owner", "it")]));
    // The bulk sweep's read: every name in one call, the missing one left out.
    let seen = ecs_operator::aws::observed::RegionCache::default();
    let swept = seen
        .sweep_capacity_providers(ecs.as_ref(), &["it-cp".into(), "it-cp-missing".into()])
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    assert_eq!(
        seen.capacity_provider("it-cp", Duration::from_secs(60))
            .map(|p| p.settings),
        Some(settings.clone())
    );

    // Update: moto applies managed scaling and termination protection, but ignores
    // managedDraining on update (gap: it keeps the value given at creation).
    let mut changed = settings.clone();
    changed.managed_scaling = Some(ManagedScalingSettings {
        target_capacity: 80,
        ..settings.managed_scaling.clone().expect("scaling")
    });
    let updated = ecs
        .update_capacity_provider("it-cp", &changed)
        .await
        .expect("update provider");
    assert_eq!(updated.settings, changed);
    assert_eq!(updated.update_status.as_deref(), Some("UPDATE_COMPLETE"));

    // The cluster's set and default strategy, both ways.
    let strategy = vec![
        StrategyItem {
            capacity_provider: "it-cp".into(),
            weight: 1,
            base: 1,
        },
        StrategyItem {
            capacity_provider: "FARGATE".into(),
            weight: 3,
            base: 0,
        },
    ];
    let c = ecs
        .put_cluster_capacity_providers(
            "it-cp-cluster",
            &["it-cp".into(), "FARGATE".into()],
            &strategy,
        )
        .await
        .expect("put providers");
    assert_eq!(c.capacity_providers, ["it-cp", "FARGATE"]);
    assert_eq!(c.default_capacity_provider_strategy, strategy);
    let c = ecs
        .describe_clusters(&["it-cp-cluster".into()])
        .await
        .expect("describe cluster");
    assert_eq!(c[0].capacity_providers, ["it-cp", "FARGATE"]);
    assert_eq!(c[0].default_capacity_provider_strategy, strategy);

    // Detach (empty lists are sent, and clear both), then delete. moto would delete an
    // attached provider too (gap: no dependency check) and removes it at once (no
    // DELETE_IN_PROGRESS).
    let c = ecs
        .put_cluster_capacity_providers("it-cp-cluster", &[], &[])
        .await
        .expect("detach");
    assert!(c.capacity_providers.is_empty() && c.default_capacity_provider_strategy.is_empty());
    ecs.delete_capacity_provider("it-cp")
        .await
        .expect("delete provider");
    assert_eq!(
        ecs.describe_capacity_providers(&["it-cp".into()])
            .await
            .expect("describe deleted"),
        vec![]
    );
}

/// Application Auto Scaling of an ECS service's desired count, against moto.
///
/// moto 5.2.5 models scalable targets and target tracking policies, not: tags of scalable
/// targets (RegisterScalableTarget's Tags are dropped; ListTagsForResource, TagResource
/// and UntagResource answer an HTML error page), DescribeScalingActivities (same), the
/// desired count brought into a new range by RegisterScalableTarget, policies deleted
/// with their target, ObjectNotFoundException (a missing target or policy is a
/// ValidationException whose message says so), and PutScalingPolicy on an unregistered
/// target (accepted).
#[tokio::test]
async fn application_auto_scaling_target_policies_and_errors() {
    let env = env().await;
    let AwsClients {
        ecs,
        app_autoscaling: aas,
        ..
    } = &env.clients;
    ecs.create_cluster("it-aas", &Tags::new())
        .await
        .expect("cluster");
    let td = ecs
        .register_task_definition(&webapp("it-aas-web", &[]))
        .await
        .expect("task definition");
    ecs.create_service(&CreateServiceInput {
        cluster: "it-aas".into(),
        name: "it-aas-svc".into(),
        task_definition: td.arn,
        desired_count: 2,
        client_token: "it-aas".into(),
        ..Default::default()
    })
    .await
    .expect("service");
    let id = "service/it-aas/it-aas-svc";

    // A missing service: ECS's "doesn't exist" is a state to wait for, not bad input.
    let missing = aas
        .register_scalable_target(&RegisterScalableTargetInput {
            resource_id: "service/it-aas/nope".into(),
            min_capacity: 1,
            max_capacity: 2,
            tags: Tags::new(),
        })
        .await
        .expect_err("no such service");
    assert_eq!(missing.kind, AwsErrorKind::Dependency, "{missing}");
    assert_eq!(missing.code, "ValidationException");

    // Bad input is terminal.
    let bad = aas
        .register_scalable_target(&RegisterScalableTargetInput {
            resource_id: "not-a-resource-id".into(),
            min_capacity: 1,
            max_capacity: 2,
            tags: Tags::new(),
        })
        .await
        .expect_err("bad resource id");
    assert_eq!(bad.kind, AwsErrorKind::InvalidInput, "{bad}");
    assert!(!bad.is_retryable());

    assert_eq!(
        aas.describe_scalable_target(id).await.expect("describe"),
        None
    );
    let owner = tags(&[("ecsoperator.io/owner", "it/default/EcsService/it-aas-svc")]);
    let arn = aas
        .register_scalable_target(&RegisterScalableTargetInput {
            resource_id: id.into(),
            min_capacity: 3,
            max_capacity: 4,
            tags: owner.clone(),
        })
        .await
        .expect("register")
        .expect("an ARN");
    let target = aas
        .describe_scalable_target(id)
        .await
        .expect("describe")
        .expect("registered");
    assert_eq!(
        target,
        ScalableTarget {
            resource_id: id.into(),
            arn: Some(arn.clone()),
            min_capacity: 3,
            max_capacity: 4,
        }
    );
    // Registering again updates the same target (same ARN).
    let again = aas
        .register_scalable_target(&RegisterScalableTargetInput {
            resource_id: id.into(),
            min_capacity: 1,
            max_capacity: 5,
            tags: owner.clone(),
        })
        .await
        .expect("register again");
    assert_eq!(again.as_deref(), Some(arn.as_str()));
    let target = aas.describe_scalable_target(id).await.expect("describe");
    assert_eq!(
        target.map(|t| (t.min_capacity, t.max_capacity)),
        Some((1, 5))
    );
    // moto gap: AWS would have set the service's desired count into [3, 4] (3).
    let svc = ecs
        .describe_services("it-aas", &["it-aas-svc".to_string()])
        .await
        .expect("describe service");
    assert_eq!(svc[0].desired_count, 2);
    // moto gap: no tags on scalable targets; the HTML answer is unreadable, so it is
    // retried (never taken as terminal).
    let no_tags = aas.target_tags(&arn).await.expect_err("moto has no tags");
    assert!(no_tags.is_retryable(), "{no_tags:?}");
    assert!(aas.tag_target(&arn, &tags(&[("k", "v")])).await.is_err());
    // moto gap: no scaling activities.
    assert!(aas.latest_scaling_activity(id).await.is_err());

    let cpu = PutScalingPolicyInput {
        name: "it-aas-svc-cpu".into(),
        resource_id: id.into(),
        config: TargetTrackingConfig {
            predefined_metric: "ECSServiceAverageCPUUtilization".into(),
            resource_label: None,
            target_value: 60.0,
            scale_in_cooldown: Some(300),
            scale_out_cooldown: Some(60),
        },
    };
    aas.put_scaling_policy(&cpu).await.expect("put");
    let mut cpu70 = cpu.clone();
    cpu70.config.target_value = 70.5;
    aas.put_scaling_policy(&cpu70)
        .await
        .expect("put again: an upsert by name");
    let alb = PutScalingPolicyInput {
        name: "it-aas-svc-alb-requests".into(),
        resource_id: id.into(),
        config: TargetTrackingConfig {
            predefined_metric: "ALBRequestCountPerTarget".into(),
            resource_label: Some(
                "app/front/0123456789abcdef/targetgroup/web/fedcba9876543210".into(),
            ),
            target_value: 500.0,
            ..Default::default()
        },
    };
    aas.put_scaling_policy(&alb).await.expect("put alb");
    let mut policies = aas.describe_scaling_policies(id).await.expect("policies");
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        policies,
        vec![
            ScalingPolicy {
                name: alb.name.clone(),
                resource_id: id.into(),
                target_tracking: Some(alb.config.clone()),
            },
            ScalingPolicy {
                name: cpu.name.clone(),
                resource_id: id.into(),
                target_tracking: Some(cpu70.config.clone()),
            },
        ]
    );
    aas.delete_scaling_policy(&cpu.name, id)
        .await
        .expect("delete");
    let gone = aas
        .delete_scaling_policy(&cpu.name, id)
        .await
        .expect_err("deleted");
    assert!(gone.is_not_found(), "{gone:?}");

    aas.deregister_scalable_target(id)
        .await
        .expect("deregister");
    assert_eq!(
        aas.describe_scalable_target(id).await.expect("describe"),
        None
    );
    let gone = aas
        .deregister_scalable_target(id)
        .await
        .expect_err("deregistered");
    assert!(gone.is_not_found(), "{gone:?}");
    // moto gap: AWS deletes a target's policies with it; moto keeps them.
    let left = aas.describe_scaling_policies(id).await.expect("policies");
    assert_eq!(left.len(), 1, "{left:?}");
}

/// The preflight reads against moto: subnets and security groups with their VPCs (IDs that
/// do not exist left out, not an error), key pairs by name, IAM roles and instance
/// profiles (NoSuchEntity is `None`).
#[tokio::test]
async fn preflight_reads_subnets_groups_key_pairs_roles_and_profiles() {
    let env = env().await;
    let c = &env.clients;
    let (subnets, default_sg) = default_network(&env.endpoint).await;
    let raw = raw_config(&env.endpoint).await;
    let ec2 = aws_sdk_ec2::Client::new(&raw);
    let default_vpc = ec2
        .describe_subnets()
        .subnet_ids(&subnets[0])
        .send()
        .await
        .expect("describe subnet")
        .subnets()[0]
        .vpc_id()
        .expect("vpc")
        .to_string();
    // Another VPC, with a subnet and a security group of its own.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .send()
        .await
        .expect("create vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let other_subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.77.1.0/24")
        .send()
        .await
        .expect("create subnet")
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_string();
    let other_sg = ec2
        .create_security_group()
        .group_name("it-preflight-other")
        .description("preflight test")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("create security group")
        .group_id()
        .expect("group id")
        .to_string();
    ec2.create_key_pair()
        .key_name("it-preflight-key")
        .send()
        .await
        .expect("create key pair");

    let missing_subnet = "subnet-0000000000000dead".to_string();
    let mut found = c
        .ec2
        .describe_subnets(&[
            subnets[0].clone(),
            other_subnet.clone(),
            missing_subnet.clone(),
        ])
        .await
        .expect("DescribeSubnets");
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        Subnet {
            id: subnets[0].clone(),
            vpc_id: default_vpc.clone(),
        },
        Subnet {
            id: other_subnet.clone(),
            vpc_id: vpc.clone(),
        },
    ];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, expected);
    assert!(c
        .ec2
        .describe_subnets(&[missing_subnet])
        .await
        .expect("only missing")
        .is_empty());

    let mut groups = c
        .ec2
        .describe_security_groups(&[
            default_sg.clone(),
            other_sg.clone(),
            "sg-0000000000000dead".into(),
        ])
        .await
        .expect("DescribeSecurityGroups");
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        SecurityGroup {
            id: default_sg,
            vpc_id: default_vpc,
        },
        SecurityGroup {
            id: other_sg,
            vpc_id: vpc,
        },
    ];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(groups, expected);

    assert_eq!(
        c.ec2
            .existing_key_pairs(&["it-preflight-key".into(), "it-preflight-missing".into()])
            .await
            .expect("DescribeKeyPairs"),
        ["it-preflight-key"]
    );
    assert!(c
        .ec2
        .existing_key_pairs(&["it-preflight-missing".into()])
        .await
        .expect("only missing")
        .is_empty());

    // IAM: a role and an instance profile.
    let iam = aws_sdk_iam::Client::new(&raw);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("it-preflight-role")
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("create role");
    iam.create_instance_profile()
        .instance_profile_name("it-preflight-profile")
        .send()
        .await
        .expect("create instance profile");
    let arn = c
        .iam
        .get_role("it-preflight-role")
        .await
        .expect("GetRole")
        .expect("role exists");
    assert!(arn.ends_with(":role/it-preflight-role"), "{arn}");
    assert_eq!(
        c.iam
            .get_role("it-preflight-missing")
            .await
            .expect("GetRole"),
        None
    );
    let arn = c
        .iam
        .get_instance_profile("it-preflight-profile")
        .await
        .expect("GetInstanceProfile")
        .expect("profile exists");
    assert!(
        arn.ends_with(":instance-profile/it-preflight-profile"),
        "{arn}"
    );
    assert_eq!(
        c.iam
            .get_instance_profile("it-preflight-missing")
            .await
            .expect("GetInstanceProfile"),
        None
    );
}

/// An ALB in the default VPC with an HTTP listener on 80, made with the plain SDK (the
/// operator never creates load balancers); returns (VPC ID, ALB ARN, listener ARN).
async fn alb(endpoint: &str, name: &str) -> (String, String, String) {
    let (subnets, sg) = default_network(endpoint).await;
    let raw = aws_sdk_elasticloadbalancingv2::Client::new(&raw_config(endpoint).await);
    let lb = raw
        .create_load_balancer()
        .name(name)
        .set_subnets(Some(subnets))
        .security_groups(sg)
        .send()
        .await
        .expect("create ALB");
    let lb = lb.load_balancers().first().expect("ALB").clone();
    let lb_arn = lb.load_balancer_arn().expect("ALB ARN").to_string();
    let listener = raw
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("create listener");
    let listener_arn = listener.listeners()[0]
        .listener_arn()
        .expect("listener ARN")
        .to_string();
    (lb.vpc_id().expect("VPC").to_string(), lb_arn, listener_arn)
}

fn alb_health_check() -> TargetGroupHealthCheck {
    TargetGroupHealthCheck {
        protocol: "HTTP".into(),
        port: "traffic-port".into(),
        path: "/health".into(),
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold_count: 5,
        unhealthy_threshold_count: 2,
        matcher: "200".into(),
    }
}

/// The ELBv2 adapter against moto 5.2.5: target group create/describe (health check,
/// target type, VPC, the ALB a rule associates it with), DuplicateTargetGroupName, tags,
/// deregistration delay, listener and load balancer by ARN, rules (create, describe with
/// conditions and forward target, modify, priority, delete), PriorityInUse, ListenerNotFound
/// and ResourceInUse classified as the reconciler needs them. moto's gap found: DeleteRule
/// of a rule that is gone succeeds instead of RuleNotFound.
#[tokio::test]
async fn elbv2_target_groups_rules_and_errors() {
    let env = env().await;
    let v2 = &env.clients.elbv2;
    let (vpc, lb_arn, listener_arn) = alb(&env.endpoint, "it-alb").await;

    let listener = v2
        .describe_listener(&listener_arn)
        .await
        .expect("describe listener")
        .expect("listener");
    assert_eq!(listener.load_balancer_arn, lb_arn);
    let lb = v2
        .describe_load_balancer(&lb_arn)
        .await
        .expect("describe ALB")
        .expect("ALB");
    assert_eq!(lb.vpc_id.as_deref(), Some(vpc.as_str()));
    assert_eq!(
        ecs_operator::planning::target_group::load_balancer_arn_of_listener(&listener_arn)
            .as_deref(),
        Some(lb_arn.as_str()),
        "moto's listener ARNs derive from the ALB's"
    );
    let gone = listener_arn.replace("/it-alb/", "/it-gone/");
    assert_eq!(v2.describe_listener(&gone).await.expect("missing"), None);

    assert_eq!(v2.describe_target_group("it-tg").await.expect("none"), None);
    let input = CreateTargetGroupInput {
        name: "it-tg".into(),
        protocol: "HTTP".into(),
        port: 5000,
        vpc_id: vpc.clone(),
        target_type: "ip".into(),
        health_check: alb_health_check(),
        tags: tags(&[("ecsoperator.io/owner", "mc/ns/EcsService/web")]),
    };
    let tg = v2.create_target_group(&input).await.expect("create tg");
    assert_eq!(
        (tg.name.as_str(), tg.port, tg.target_type.as_str()),
        ("it-tg", 5000, "ip")
    );
    let seen = v2
        .describe_target_group("it-tg")
        .await
        .expect("describe tg")
        .expect("tg");
    assert_eq!(seen.arn, tg.arn);
    assert_eq!(seen.vpc_id, vpc);
    assert_eq!(
        seen.health_check,
        alb_health_check(),
        "health check read back as set"
    );
    assert_eq!(v2.describe_tags(&tg.arn).await.expect("tags"), input.tags);
    v2.add_tags(&tg.arn, &tags(&[("team", "web")]))
        .await
        .expect("add tags");
    v2.remove_tags(&tg.arn, &["team".to_string()])
        .await
        .expect("remove tags");
    assert_eq!(v2.describe_tags(&tg.arn).await.expect("tags"), input.tags);

    let mut hc = alb_health_check();
    hc.path = "/ready".into();
    hc.interval_seconds = 10;
    v2.modify_target_group(&tg.arn, &hc)
        .await
        .expect("modify tg");
    let seen = v2.describe_target_group("it-tg").await.unwrap().unwrap();
    assert_eq!(seen.health_check.path, "/ready");
    assert_eq!(seen.health_check.interval_seconds, 10);
    v2.set_deregistration_delay(&tg.arn, 30)
        .await
        .expect("delay");
    assert_eq!(
        v2.deregistration_delay(&tg.arn).await.expect("attrs"),
        Some(30)
    );

    // A second create of the same name with other settings.
    let mut dup = input.clone();
    dup.port = 8080;
    let e = v2
        .create_target_group(&dup)
        .await
        .expect_err("duplicate name");
    assert_eq!(e.code, "DuplicateTargetGroupName");
    assert_eq!(e.kind, AwsErrorKind::AlreadyExists, "{e}");

    let conditions = RuleConditions {
        path_patterns: vec!["/hello/*".into()],
        host_headers: vec![],
    };
    let rule = v2
        .create_rule(&CreateRuleInput {
            listener_arn: listener_arn.clone(),
            priority: 10,
            conditions: conditions.clone(),
            target_group_arn: tg.arn.clone(),
            tags: tags(&[("ecsoperator.io/owner", "mc/ns/EcsService/web")]),
        })
        .await
        .expect("create rule");
    assert_eq!(rule.priority, Some(10));
    assert_eq!(rule.forward_to, std::slice::from_ref(&tg.arn));
    let rules = v2.describe_rules(&listener_arn).await.expect("rules");
    let ours = rules.iter().find(|r| r.arn == rule.arn).expect("our rule");
    assert_eq!(ours.conditions, conditions);
    assert_eq!(ours.forward_to, std::slice::from_ref(&tg.arn));
    assert!(!ours.other_conditions);
    assert!(
        rules.iter().any(|r| r.priority.is_none()),
        "the default rule is listed without a priority"
    );
    // The rule associates the group with the ALB (what ECS checks at CreateService).
    let seen = v2.describe_target_group("it-tg").await.unwrap().unwrap();
    assert_eq!(seen.load_balancer_arns, std::slice::from_ref(&lb_arn));

    let taken = v2
        .create_rule(&CreateRuleInput {
            listener_arn: listener_arn.clone(),
            priority: 10,
            conditions: conditions.clone(),
            target_group_arn: tg.arn.clone(),
            tags: Tags::new(),
        })
        .await
        .expect_err("priority taken");
    assert_eq!(taken.code, "PriorityInUse", "{taken}");
    assert_eq!(taken.kind, AwsErrorKind::InvalidInput);

    let both = RuleConditions {
        path_patterns: vec!["/hi/*".into()],
        host_headers: vec!["www.example.com".into()],
    };
    v2.modify_rule(&rule.arn, &both, &tg.arn)
        .await
        .expect("modify rule");
    v2.set_rule_priority(&rule.arn, 11).await.expect("priority");
    let rules = v2.describe_rules(&listener_arn).await.expect("rules");
    let ours = rules.iter().find(|r| r.arn == rule.arn).expect("our rule");
    assert_eq!(ours.conditions, both);
    assert_eq!(ours.priority, Some(11));

    let in_use = v2
        .delete_target_group(&tg.arn)
        .await
        .expect_err("a rule forwards to it");
    assert_eq!(in_use.code, "ResourceInUse");
    assert_eq!(
        in_use.kind,
        AwsErrorKind::Dependency,
        "waited for, not stalled"
    );

    let missing = v2
        .describe_rules(&gone)
        .await
        .expect_err("missing listener");
    assert!(missing.is_not_found(), "{missing}");

    v2.delete_rule(&rule.arn).await.expect("delete rule");
    // moto's gap: deleting a rule that is gone succeeds (AWS answers RuleNotFound); the
    // operator takes both as done.
    assert!(v2.delete_rule(&rule.arn).await.is_ok());
    v2.delete_target_group(&tg.arn).await.expect("delete tg");
    assert_eq!(v2.describe_target_group("it-tg").await.expect("gone"), None);
}

/// The target group sweep's bulk reads against moto: DescribeTargetGroups of several names
/// in one call (one missing name fails the call, NotFound, as in AWS), DescribeTags of
/// groups and rules in one call, and the sweep through the guard charging every HTTP
/// request (a chunk with a missing name is split until it is alone).
#[tokio::test]
async fn elbv2_target_groups_and_tags_are_read_in_bulk() {
    use ecs_operator::aws::guard::GuardedProvider;
    use ecs_operator::aws::observed::elbv2::TargetGroupSweep;
    use ecs_operator::aws::observed::RegionCache;
    use ecs_operator::telemetry::metrics::Metrics;
    use std::collections::HashMap;

    let env = env().await;
    let v2 = &env.clients.elbv2;
    let (vpc, _lb, listener_arn) = alb(&env.endpoint, "it-bulk-alb").await;
    let names: Vec<String> = (0..3).map(|i| format!("it-bulk-tg-{i}")).collect();
    let mut arns = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let tg = v2
            .create_target_group(&CreateTargetGroupInput {
                name: name.clone(),
                protocol: "HTTP".into(),
                port: 5000,
                vpc_id: vpc.clone(),
                target_type: "ip".into(),
                health_check: alb_health_check(),
                tags: tags(&[("n", &i.to_string())]),
            })
            .await
            .expect("create tg");
        arns.push(tg.arn);
    }
    let found = v2
        .describe_target_groups(&names)
        .await
        .expect("describe in bulk");
    let mut found: Vec<String> = found.into_iter().map(|t| t.name).collect();
    found.sort();
    assert_eq!(found, names);
    let mut with_missing = names.clone();
    with_missing.push("it-bulk-missing".into());
    let e = v2
        .describe_target_groups(&with_missing)
        .await
        .expect_err("one missing name fails the call");
    assert!(e.is_not_found(), "{e}");

    let rule = v2
        .create_rule(&CreateRuleInput {
            listener_arn: listener_arn.clone(),
            priority: 10,
            conditions: RuleConditions {
                path_patterns: vec!["/bulk/*".into()],
                host_headers: vec![],
            },
            target_group_arn: arns[0].clone(),
            tags: tags(&[("r", "1")]),
        })
        .await
        .expect("create rule");
    let mut all = arns.clone();
    all.push(rule.arn.clone());
    let tagged: HashMap<String, Tags> = v2
        .describe_tags_of(&all)
        .await
        .expect("tags in bulk")
        .into_iter()
        .collect();
    assert_eq!(tagged.len(), 4);
    assert_eq!(tagged[&arns[2]], tags(&[("n", "2")]));
    assert_eq!(tagged[&rule.arn], tags(&[("r", "1")]));

    // The sweep through the guard: the limiter is charged per HTTP request.
    let metrics = Metrics::default();
    let sdk = Arc::new(provider(&env.endpoint).await);
    let guarded = GuardedProvider::new(sdk, metrics.clone(), 1.0);
    let seen = RegionCache::default();
    let want = TargetGroupSweep {
        names: with_missing.clone(),
        listeners: vec![listener_arn.clone()],
        with_delay: vec![names[0].clone()],
    };
    let counts = seen
        .sweep_target_groups(guarded.clients(None).elbv2.as_ref(), &want)
        .await
        .expect("sweep");
    assert_eq!(counts, (3, 1));
    let max = Duration::from_secs(60);
    let (tg, tg_tags) = seen.target_group(&names[1], max).expect("swept group");
    assert_eq!(tg.arn, arns[1]);
    assert_eq!(tg_tags, tags(&[("n", "1")]));
    let rules = seen
        .listener_rules(&listener_arn, max)
        .expect("swept rules");
    assert!(rules.iter().any(|r| r.arn == rule.arn));
    assert_eq!(seen.rule_tags(&rule.arn, max), Some(tags(&[("r", "1")])));
    assert!(seen.deregistration_delay(&arns[0], max).is_some());
    let text = metrics.encode().expect("metrics");
    // All four fail for the missing one; then [0, 1] answers, [2, missing] fails, [2]
    // answers and [missing] fails alone.
    assert!(
        text.contains(
            r#"ecs_operator_aws_requests_total{operation="elasticloadbalancing:DescribeTargetGroups"} 5"#
        ),
        "{text}"
    );
    // The groups' tags in one request, the rule's in another.
    assert!(
        text.contains(
            r#"ecs_operator_aws_requests_total{operation="elasticloadbalancing:DescribeTags"} 2"#
        ),
        "{text}"
    );

    v2.delete_rule(&rule.arn).await.expect("delete rule");
    for arn in &arns {
        v2.delete_target_group(arn).await.expect("delete tg");
    }
}

/// This checkout, as `cargo test` names it at run time (a binary reused from a shared
/// target dir has another checkout's path baked in).
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}
