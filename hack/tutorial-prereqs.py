"""Create in (moto's) AWS what the tutorial makes by hand before the operator's part:
the key pair and the two IAM roles (instance role with its instance profile, ECS service
role). Idempotent. Run with the moto virtualenv's python and the sandbox env."""
import json

import boto3
from botocore.exceptions import ClientError


def trust(service):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })


def ignore_exists(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("EntityAlreadyExists", "InvalidKeyPair.Duplicate", "LimitExceeded"):
            raise


ec2 = boto3.client("ec2")
iam = boto3.client("iam")
ignore_exists(ec2.create_key_pair, KeyName="my-ec2-key-pair")
ignore_exists(iam.create_role, RoleName="ecs-instance-role", AssumeRolePolicyDocument=trust("ec2.amazonaws.com"))
ignore_exists(iam.create_instance_profile, InstanceProfileName="ecs-instance-role")
ignore_exists(iam.add_role_to_instance_profile, InstanceProfileName="ecs-instance-role", RoleName="ecs-instance-role")
ignore_exists(iam.create_role, RoleName="ecs-service-role", AssumeRolePolicyDocument=trust("ecs.amazonaws.com"))
# The Fargate variant (config/samples/fargate): the agent's execution role.
ignore_exists(iam.create_role, RoleName="ecsTaskExecutionRole", AssumeRolePolicyDocument=trust("ecs-tasks.amazonaws.com"))
print("tutorial prerequisites: key pair my-ec2-key-pair, roles ecs-instance-role, ecs-service-role and ecsTaskExecutionRole")
