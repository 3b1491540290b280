//! From the tutorial's hand-built setup to GitOps: build it by hand in moto with the AWS API
//! (as the tutorial does in the console), `ecs-operator import` it, `kubectl apply` the
//! manifests, and check that the operator makes every object Ready while writing nothing
//! to AWS but owner tags; then that `ecs-operator diff` of the same manifests finds
//! nothing left to change.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::fault_proxy::FaultProxy;
use super::harness::{eventually, stderr, Operator, Sandbox};

const WAIT: Duration = Duration::from_secs(120);

/// The user data the tutorial types into the launch configuration's "User data" box.
const TUTORIAL_USER_DATA: &str =
    "#!/bin/bash\n\necho ECS_CLUSTER=my-ecs-cluster > /etc/ecs/ecs.config\n";

/// The only writes adoption may make: owner tags.
const TAG_WRITES: [&str; 4] = ["TagResource", "CreateTags", "CreateOrUpdateTags", "AddTags"];

/// The writes adopting a group on a launch configuration makes beyond tags: the launch
/// template the operator manages, and the group moved onto it.
const MOVE_WRITES: [&str; 2] = [
    "ec2:CreateLaunchTemplate",
    "autoscaling:UpdateAutoScalingGroup",
];

/// What the tutorial's Auto Scaling group launches from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launch {
    /// A launch template (what the console offers accounts that cannot make launch
    /// configurations).
    Template,
    /// A launch configuration, exactly as the tutorial makes it.
    Configuration,
}

/// The tutorial's resources, made with the raw SDK the way the console makes them.
async fn build_the_tutorial_by_hand(sb: &Sandbox, launch: Launch) {
    let cfg = sb.aws_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let ecs = aws_sdk_ecs::Client::new(&cfg);
    let elb = aws_sdk_elasticloadbalancing::Client::new(&cfg);
    let asg = aws_sdk_autoscaling::Client::new(&cfg);
    use aws_sdk_ec2::types as e;
    use aws_sdk_ecs::types as t;

    let mut subnets: Vec<(String, String)> = ec2
        .describe_subnets()
        .filters(
            e::Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .map(|s| {
            (
                s.availability_zone().unwrap_or_default().to_string(),
                s.subnet_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    subnets.sort();
    let subnets: Vec<String> = subnets.into_iter().take(2).map(|(_, id)| id).collect();
    let vpc = ec2
        .describe_vpcs()
        .filters(
            e::Filter::builder()
                .name("is-default")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("vpcs")
        .vpcs()[0]
        .vpc_id()
        .unwrap_or_default()
        .to_string();
    let sg = ec2
        .create_security_group()
        .group_name("ssh-and-http-from-anywhere")
        .description("SSH and HTTP from anywhere")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("security group")
        .group_id()
        .unwrap_or_default()
        .to_string();
    let ami = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("images")
        .images()
        .iter()
        .filter_map(|i| i.image_id())
        .next()
        .expect("an AMI")
        .to_string();

    ecs.create_cluster()
        .cluster_name("my-ecs-cluster")
        .send()
        .await
        .expect("cluster");

    use aws_sdk_elasticloadbalancing::types as l;
    elb.create_load_balancer()
        .load_balancer_name("ecs-load-balancer")
        .listeners(
            l::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_protocol("HTTP")
                .instance_port(80)
                .build()
                .expect("listener"),
        )
        .set_subnets(Some(subnets.clone()))
        .security_groups(&sg)
        .send()
        .await
        .expect("ELB");
    elb.configure_health_check()
        .load_balancer_name("ecs-load-balancer")
        .health_check(
            l::HealthCheck::builder()
                .target("HTTP:80/")
                .interval(30)
                .timeout(5)
                .healthy_threshold(10)
                .unhealthy_threshold(2)
                .build()
                .expect("health check"),
        )
        .send()
        .await
        .expect("health check");

    let user_data = base64::engine::general_purpose::STANDARD.encode(TUTORIAL_USER_DATA);
    let group = asg
        .create_auto_scaling_group()
        .auto_scaling_group_name("ecs-auto-scaling-group")
        .min_size(5)
        .max_size(5)
        .desired_capacity(5)
        .vpc_zone_identifier(subnets.join(","))
        .load_balancer_names("ecs-load-balancer");
    let group = match launch {
        Launch::Configuration => {
            // The tutorial's launch configuration, field for field.
            asg.create_launch_configuration()
                .launch_configuration_name("ecs-launch-configuration")
                .image_id(&ami)
                .instance_type("t2.micro")
                .iam_instance_profile("ecs-instance-role")
                .user_data(&user_data)
                .security_groups(&sg)
                .key_name("my-ec2-key-pair")
                .send()
                .await
                .expect("launch configuration");
            group.launch_configuration_name("ecs-launch-configuration")
        }
        Launch::Template => {
            // The tutorial's launch configuration, as a launch template (new accounts
            // cannot create launch configurations; the console offers templates).
            let lt = ec2
                .create_launch_template()
                .launch_template_name("ecs-launch-template")
                .launch_template_data(
                    e::RequestLaunchTemplateData::builder()
                        .image_id(&ami)
                        .instance_type(e::InstanceType::T2Micro)
                        .iam_instance_profile(
                            e::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                                .name("ecs-instance-role")
                                .build(),
                        )
                        .security_group_ids(&sg)
                        .key_name("my-ec2-key-pair")
                        .user_data(&user_data)
                        .build(),
                )
                .send()
                .await
                .expect("launch template");
            let lt_id = lt
                .launch_template()
                .and_then(|t| t.launch_template_id())
                .expect("template id")
                .to_string();
            group.launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(&lt_id)
                    .version("$Default")
                    .build(),
            )
        }
    };
    group.send().await.expect("Auto Scaling group");

    ecs.register_task_definition()
        .family("hello-world-task")
        .container_definitions(
            t::ContainerDefinition::builder()
                .name("hello-world-container")
                .image("training/webapp:latest")
                .memory(128)
                .essential(true)
                .port_mappings(
                    t::PortMapping::builder()
                        .host_port(80)
                        .container_port(5000)
                        .protocol(t::TransportProtocol::Tcp)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("task definition");
    ecs.create_service()
        .cluster("my-ecs-cluster")
        .service_name("hello-world-service")
        .task_definition("hello-world-task:1")
        .desired_count(4)
        .launch_type(t::LaunchType::Ec2)
        .role("ecs-service-role")
        .load_balancers(
            t::LoadBalancer::builder()
                .load_balancer_name("ecs-load-balancer")
                .container_name("hello-world-container")
                .container_port(5000)
                .build(),
        )
        .send()
        .await
        .expect("service");
}

fn ready(sb: &Sandbox, resource: &str, name: &str) -> bool {
    let out = sb.kubectl(&[
        "get",
        resource,
        name,
        "-n",
        "imported",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

/// The mutating calls in a proxy record other than tag writes, as `service:Operation`.
fn writes_beyond_tags(record: &[Value]) -> Vec<String> {
    record
        .iter()
        .filter(|c| c["mutating"] == json!(true))
        .filter(|c| !TAG_WRITES.contains(&c["operation"].as_str().unwrap_or_default()))
        .map(|c| {
            format!(
                "{}:{}",
                c["service"].as_str().unwrap_or_default(),
                c["operation"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// `ecs-operator import|diff …` against `endpoint`; (exit code, stdout, stderr).
fn run_cli(sb: &Sandbox, endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = sb
        .command(env!("CARGO_BIN_EXE_ecs-operator"))
        .args(args)
        .args(["--aws-endpoint-url", endpoint])
        .output()
        .expect("run ecs-operator");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_the_hand_built_tutorial() {
    import_the_tutorial(Launch::Template).await;
}

/// The tutorial as written, on a launch configuration: adoption makes the one migration
/// AWS requires (a launch template, the group moved onto it) and otherwise only tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_the_hand_built_tutorial_on_a_launch_configuration() {
    import_the_tutorial(Launch::Configuration).await;
}

async fn import_the_tutorial(launch: Launch) {
    let sb = Sandbox::up(match launch {
        Launch::Template => "import",
        Launch::Configuration => "import-lc",
    });
    sb.kubectl_ok(&["apply", "--server-side", "-f", "crds/ecs-operator.yaml"]);
    sb.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    let prereqs = sb
        .python("tutorial-prereqs.py", &[])
        .output()
        .expect("prereqs");
    assert!(
        prereqs.status.success(),
        "prerequisites: {}",
        stderr(&prereqs)
    );
    build_the_tutorial_by_hand(&sb, launch).await;

    // Import reads only.
    let import_proxy = FaultProxy::start(&sb, "import", &json!({}), 1);
    let (code, manifests, warnings) = run_cli(
        &sb,
        &import_proxy.url(),
        &[
            "import",
            "--cluster",
            "my-ecs-cluster",
            "--namespace",
            "imported",
        ],
    );
    assert_eq!(code, 0, "import failed: {warnings}");
    let warned: Vec<&str> = warnings
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    match launch {
        // Everything the tutorial made is stated by the manifests: nothing to warn about.
        Launch::Template => assert!(
            warned.is_empty(),
            "import warned about the tutorial: {warnings}"
        ),
        // Only the move to a launch template (moto reports no setting the template
        // cannot state).
        Launch::Configuration => {
            assert_eq!(warned.len(), 1, "{warnings}");
            assert!(
                warned[0].contains("launches from launch configuration ecs-launch-configuration")
                    && warned[0].contains("creates launch template my-ecs-cluster-ecs-capacity"),
                "{warnings}"
            );
        }
    }
    let writes: Vec<Value> = import_proxy
        .record()
        .into_iter()
        .filter(|c| c["mutating"] == json!(true))
        .collect();
    assert!(writes.is_empty(), "import wrote to AWS: {writes:?}");
    drop(import_proxy);
    match launch {
        Launch::Template => assert!(manifests.contains("launchTemplateName: ecs-launch-template")),
        // The operator's own template name: no field.
        Launch::Configuration => assert!(!manifests.contains("launchTemplateName")),
    }
    for needle in [
        "kind: EcsCluster",
        "kind: EcsTaskDef",
        "kind: EcsService",
        "ecsoperator.io/adopt",
        "autoScalingGroupName: ecs-auto-scaling-group",
        "userDataVerbatim: true",
        "name: ecs-load-balancer",
        "image: training/webapp:latest",
    ] {
        assert!(
            manifests.contains(needle),
            "the manifests lack {needle:?}:\n{manifests}"
        );
    }

    // Before anything is applied, diff of the manifests (with their dependencies in the
    // input) predicts only the owner tags (and the move off the launch configuration).
    let file = sb.dir.join("imported.yaml");
    std::fs::write(&file, &manifests).expect("write manifests");
    let file = file.to_string_lossy().into_owned();
    let diff_proxy = FaultProxy::start(&sb, "diff", &json!({}), 2);
    let (code, preview, err) = run_cli(
        &sb,
        &diff_proxy.url(),
        &["diff", "-f", &file, "--cluster-id", "e2e", "--offline"],
    );
    assert_eq!(
        code, 1,
        "diff before adoption: exit {code}\n{preview}\n{err}"
    );
    let planned: Vec<&str> = preview
        .lines()
        .filter_map(|l| l.strip_prefix("  > "))
        .collect();
    assert!(
        !planned.is_empty(),
        "diff predicts no owner tags:\n{preview}"
    );
    let mut moves = Vec::new();
    for call in &planned {
        let mut parts = call.split(':');
        let (service, op) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        if TAG_WRITES.contains(&op) {
            continue;
        }
        moves.push(format!("{service}:{op}"));
    }
    let expected_moves: Vec<String> = match launch {
        Launch::Template => vec![],
        Launch::Configuration => MOVE_WRITES.iter().map(|m| m.to_string()).collect(),
    };
    assert_eq!(
        moves, expected_moves,
        "diff before adoption predicts other writes than tags and the move:\n{preview}"
    );
    for line in preview.lines().filter(|l| l.starts_with("  ~ ")) {
        assert!(
            line.contains(" tags ")
                || (launch == Launch::Configuration && line.contains("launchTemplate")),
            "diff before adoption: {line}\n{preview}"
        );
    }
    assert!(
        diff_proxy
            .record()
            .iter()
            .all(|c| c["mutating"] == json!(false)),
        "diff wrote to AWS: {:?}",
        diff_proxy.record()
    );
    drop(diff_proxy);

    // Apply with the operator running behind a recording proxy.
    sb.kubectl_ok(&["create", "namespace", "imported"]);
    let out = sb.kubectl_stdin(&["apply", "-f", "-"], &manifests);
    assert!(out.status.success(), "kubectl apply: {}", stderr(&out));
    let proxy = FaultProxy::start(&sb, "adopt", &json!({}), 3);
    let operator = Operator::start(
        &sb,
        "import",
        &["--aws-endpoint-url", &proxy.url(), "--resync-period", "3s"],
    );
    eventually("every imported object Ready", WAIT, || async {
        (ready(&sb, "ecscluster", "my-ecs-cluster")
            && ready(&sb, "ecstaskdef", "hello-world-task")
            && ready(&sb, "ecsservice", "hello-world-service"))
        .then_some(())
    })
    .await;
    // A few resyncs too: drift checks of adopted resources must find nothing either.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let record = proxy.record();
    let beyond = writes_beyond_tags(&record);
    assert_eq!(
        beyond, expected_moves,
        "adopting the imported setup made other writes than owner tags and the move"
    );
    let tagged: Vec<&str> = record
        .iter()
        .filter(|c| c["mutating"] == json!(true))
        .filter_map(|c| c["operation"].as_str())
        .collect();
    for op in TAG_WRITES {
        // The launch template the operator creates carries its tags from the start.
        if launch == Launch::Configuration && op == "CreateTags" {
            continue;
        }
        assert!(
            tagged.contains(&op),
            "no {op} in {tagged:?}: adoption tags every resource"
        );
    }
    drop(operator);
    drop(proxy);

    // Adopted: diff of the same manifests against the live objects finds nothing to do —
    // but moto's DescribeLaunchTemplates shows only the tags a template was created with
    // (EC2 shows all; see tests/aws_moto.rs), so the adopted template's owner tags look
    // missing to every sync and to diff alike: that one write is moto's, not a change.
    let (code, preview, err) = run_cli(
        &sb,
        sb.aws_endpoint(),
        &["diff", "-f", &file, "--cluster-id", "e2e"],
    );
    assert!(
        code == 0 || code == 1,
        "diff after adoption: exit {code}\n{preview}\n{err}"
    );
    let planned: Vec<&str> = preview
        .lines()
        .filter_map(|l| l.strip_prefix("  > "))
        .collect();
    for call in &planned {
        assert!(
            call.starts_with("ec2:CreateTags: tag launch template "),
            "diff after adoption predicts a change: {call}\n{preview}"
        );
    }
    for object in [
        "EcsTaskDef imported/hello-world-task: no changes",
        "EcsService imported/hello-world-service: no changes",
    ] {
        assert!(preview.contains(object), "{object:?} not in\n{preview}");
    }
}
