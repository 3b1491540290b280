//! Invalid input stalls: what AWS refuses, and the preflight checks of a spec's references
//! before the first write of a generation.

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::AwsErrorKind;
use ecs_operator::reconciler::error::{Error, Treatment};
use ecs_operator::reconciler::managed::Synced;

use super::support::{
    bare_cluster, bump, deps_for, is_preflight_read, no_deps, steady_tutorial, sync, sync_ok,
    tutorial_cluster, tutorial_service, tutorial_task_def, ELB, FAMILY, ROLE,
};

// ---------------------------------------------------------------------------------------
// Errors: stall or retry
// ---------------------------------------------------------------------------------------

fn assert_stalls_on_invalid_input<S: std::fmt::Debug>(result: Result<Synced<S>, Error>) {
    match result {
        Err(e @ Error::Aws(_)) => {
            let Error::Aws(aws) = &e else { unreachable!() };
            assert_eq!(aws.kind, AwsErrorKind::InvalidInput, "{e}");
            assert_eq!(
                e.treatment(),
                Treatment::Stall {
                    reason: "InvalidSpec"
                }
            );
        }
        other => panic!("expected an AWS invalid input error, got {other:?}"),
    }
}

#[tokio::test]
async fn aws_invalid_input_stalls() {
    let fake = FakeAws::new();
    fake.set_known_roles(&["some-other-role"]);
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;

    // A role IAM does not know, where the preflight check may not read IAM (a policy from
    // before it): CreateService refuses it.
    let mut svc = tutorial_service();
    fake.fail_next(
        "iam:GetRole",
        ecs_operator::aws::AwsError::new(
            AwsErrorKind::AccessDenied,
            "iam:GetRole",
            "AccessDenied",
            "not allowed",
        ),
        1,
    );
    assert_stalls_on_invalid_input(sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await);
    assert!(fake.services().is_empty());

    // A container memory ECS refuses.
    let mut bad_td = tutorial_task_def();
    bad_td.spec.container_definitions[0].memory = Some(2);
    bump(&mut bad_td);
    assert_stalls_on_invalid_input(sync(&fake, &mut bad_td, &no_deps(), false).await);
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);

    // An instance type EC2 does not know.
    let mut bad_cluster = tutorial_cluster();
    bad_cluster.spec.capacity.as_mut().unwrap().instance_type = "bogus".into();
    assert_stalls_on_invalid_input(sync(&fake, &mut bad_cluster, &(), false).await);
    assert!(fake.groups().is_empty());
}

// ---------------------------------------------------------------------------------------
// Preflight: references checked before the first write of a generation
// ---------------------------------------------------------------------------------------

/// The sync fails with a Stalled InvalidSpec whose message contains each of `expected`,
/// and made no mutating call.
fn assert_preflight_stall<S: std::fmt::Debug>(
    fake: &FakeAws,
    result: Result<Synced<S>, Error>,
    expected: &[&str],
) -> String {
    let e = result.expect_err("preflight must refuse the spec");
    assert_eq!(
        e.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        },
        "{e}"
    );
    let Error::InvalidSpec(message) = &e else {
        panic!("expected InvalidSpec, got {e:?}");
    };
    for x in expected {
        assert!(message.contains(x), "{message:?} does not name {x:?}");
    }
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    message.clone()
}

#[tokio::test]
async fn preflight_unknown_subnet_stalls_the_cluster_before_any_write() {
    let fake = FakeAws::new();
    fake.remove_references(&["subnet-b"]);
    let mut cluster = tutorial_cluster();
    let message = assert_preflight_stall(
        &fake,
        sync(&fake, &mut cluster, &(), false).await,
        &["subnet subnet-b (capacity.subnetIds) does not exist"],
    );
    assert!(!message.contains("subnet-a"), "{message}");
    assert!(fake.clusters().is_empty() && fake.launch_templates().is_empty());

    // The subnet is created meanwhile (Terraform in parallel): the next look (every
    // resync period for a Stalled object) goes through.
    fake.restore_reference("subnet-b");
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.group("my-ecs-cluster-ecs-capacity").is_some());
}

#[tokio::test]
async fn preflight_names_every_missing_capacity_reference() {
    let fake = FakeAws::new();
    fake.remove_references(&["sg-0123", "my-ec2-key-pair", "ecs-instance-role"]);
    let mut cluster = tutorial_cluster();
    cluster.spec.capacity.as_mut().unwrap().instance_profile =
        Some("arn:aws:iam::123456789012:instance-profile/ecs-instance-role".into());
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut cluster, &(), false).await,
        &[
            "security group sg-0123 (capacity.securityGroupIds) does not exist",
            "key pair my-ec2-key-pair (capacity.keyName) does not exist",
            "instance profile ecs-instance-role (capacity.instanceProfile) does not exist",
        ],
    );
}

#[tokio::test]
async fn preflight_security_group_in_another_vpc_stalls() {
    let fake = FakeAws::new();
    fake.put_in_vpc("subnet-a", "vpc-1");
    fake.put_in_vpc("subnet-b", "vpc-1");
    fake.put_in_vpc("sg-0123", "vpc-2");
    let mut cluster = tutorial_cluster();
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut cluster, &(), false).await,
        &[
            "security group sg-0123 is in vpc-2 (capacity.securityGroupIds), the subnets \
           (capacity.subnetIds) in vpc-1",
        ],
    );

    // Subnets of two VPCs for the managed ELB of a service.
    fake.put_in_vpc("sg-0123", "vpc-1");
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.put_in_vpc("subnet-b", "vpc-2");
    fake.clear_calls();
    let mut svc = tutorial_service();
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await,
        &[
            "the subnets of loadBalancer.managed.subnetIds are in different VPCs: subnet-a in \
           vpc-1, subnet-b in vpc-2",
        ],
    );
    assert!(fake.load_balancer(ELB).is_none() && fake.services().is_empty());
}

#[tokio::test]
async fn preflight_missing_service_role_and_awsvpc_subnet_stall_the_service() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.remove_references(&[ROLE, "subnet-x"]);
    fake.clear_calls();
    let mut svc = tutorial_service();
    svc.spec.network_configuration = Some(ecs_operator::api::service::NetworkConfiguration {
        awsvpc_configuration: Some(ecs_operator::api::service::AwsVpcConfiguration {
            subnets: vec!["subnet-x".into()],
            security_groups: vec!["sg-0123".into()],
            assign_public_ip: None,
        }),
    });
    svc.spec.role = Some(format!("arn:aws:iam::123456789012:role/{ROLE}"));
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await,
        &[
            "subnet subnet-x (networkConfiguration.awsvpcConfiguration.subnets) does not exist",
            "IAM role ecs-service-role (role) does not exist",
        ],
    );
}

#[tokio::test]
async fn preflight_missing_execution_role_stalls_the_task_def_before_registering() {
    let fake = FakeAws::new();
    fake.remove_references(&["ecsTaskExecutionRole"]);
    let mut td = tutorial_task_def();
    td.spec.execution_role_arn = Some("arn:aws:iam::123456789012:role/ecsTaskExecutionRole".into());
    td.spec.task_role_arn = Some("arn:aws:iam::123456789012:role/app".into());
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut td, &no_deps(), false).await,
        &["IAM role ecsTaskExecutionRole (executionRoleArn) does not exist"],
    );
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 0);
    assert_eq!(fake.count("iam:GetRole"), 2);
}

#[tokio::test]
async fn preflight_runs_once_per_generation_and_not_on_a_converged_resync() {
    let fake = FakeAws::new();
    let (mut cluster, mut td, mut svc) = steady_tutorial(&fake).await;
    // Each kind checked its references on its first sync only.
    assert_eq!(fake.count("ec2:DescribeSubnets"), 2, "{:?}", fake.calls());
    assert_eq!(fake.count("iam:GetInstanceProfile"), 1);
    assert_eq!(fake.count("iam:GetRole"), 1);
    let deps = deps_for(&cluster, &td);
    // Resyncs of converged generations, as the reconciler runs them (and without the
    // sweep's view, reading AWS): no preflight read.
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut td, &no_deps()).await;
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(
        !fake.calls().iter().any(|c| is_preflight_read(c)),
        "{:?}",
        fake.calls()
    );
    // A new generation checks again, once.
    bump(&mut cluster);
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.count("ec2:DescribeSubnets"), 1, "{:?}", fake.calls());
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.count("ec2:DescribeSubnets"), 0, "{:?}", fake.calls());
}
