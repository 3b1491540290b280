#!/usr/bin/env python3
"""Play the ECS container agent against moto (or any ECS endpoint).

On a real EC2 instance the ECS agent reads the instance identity document and
calls RegisterContainerInstance for the cluster named in /etc/ecs/ecs.config.
moto launches Auto Scaling instances but runs no agent, so this script does it:
it finds the Auto Scaling group's InService instances and registers every one
that is not yet a container instance of the cluster. It never registers an
instance twice (moto itself would happily create a second container instance).

Run it with the moto virtualenv's python (it needs boto3):

    "$(hack/tools.sh path moto-python)" hack/fake-ecs-agent.py \\
        --cluster my-cluster --asg my-asg [--once | --timeout 300]

Endpoint, region and credentials come from the environment as for any AWS
SDK (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...; `source env.sh` of
hack/sandbox.sh sets them), or from --endpoint-url / --region.

Without --once it polls every --interval seconds until --timeout has passed
(exit 0), or until --min-instances instances of the group are registered
(exit 0; exit 1 if the timeout comes first). SIGTERM / SIGINT end it with 0.
A missing cluster or group is waited for; an unexpected error ends a --once
run with exit 1 and is retried otherwise.
"""

import argparse
import json
import os
import signal
import sys
import time

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    sys.exit(
        "fake-ecs-agent: boto3 is missing; run this script with the moto virtualenv's "
        'python: "$(hack/tools.sh path moto-python)" hack/fake-ecs-agent.py ...'
    )

PROG = "fake-ecs-agent"


def log(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(
        prog="fake-ecs-agent.py",
        description="Register an Auto Scaling group's InService instances as "
        "ECS container instances, like the ECS agent would.",
    )
    p.add_argument("--cluster", required=True, help="ECS cluster name or ARN")
    p.add_argument("--asg", required=True, help="Auto Scaling group name")
    p.add_argument("--once", action="store_true", help="a single pass, then exit")
    p.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to keep polling (default 300)"
    )
    p.add_argument(
        "--interval", type=float, default=2.0, help="seconds between passes (default 2)"
    )
    p.add_argument(
        "--min-instances",
        type=int,
        default=None,
        help="exit 0 as soon as this many instances of the group are registered",
    )
    p.add_argument(
        "--deregister-gone",
        action="store_true",
        help="also deregister (force) container instances whose EC2 instance has "
        "left the group or is no longer running, as ECS does for terminated instances",
    )
    p.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="default: $AWS_ENDPOINT_URL",
    )
    p.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1",
    )
    return p.parse_args()


# What a t3.micro-ish ECS-optimized instance's agent reports.
TOTAL_RESOURCES = [
    {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
    {"name": "MEMORY", "type": "INTEGER", "integerValue": 993},
    {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
    {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
]
VERSION_INFO = {
    "agentVersion": "1.0.0-fake",
    "agentHash": "fake",
    "dockerVersion": "DockerVersion: 25.0.0",
}


class Agent:
    def __init__(self, args):
        self.args = args
        kw = {"region_name": args.region}
        if args.endpoint_url:
            kw["endpoint_url"] = args.endpoint_url
        self.ecs = boto3.client("ecs", **kw)
        self.asg = boto3.client("autoscaling", **kw)
        self.ec2 = boto3.client("ec2", **kw)
        self.account = None

    def cluster_exists(self):
        resp = self.ecs.describe_clusters(clusters=[self.args.cluster])
        return any(c.get("status") == "ACTIVE" for c in resp.get("clusters", []))

    def group_instances(self):
        """InService instance ids of the group, or None if the group is missing."""
        resp = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.args.asg])
        groups = resp.get("AutoScalingGroups", [])
        if not groups:
            return None
        return sorted(
            i["InstanceId"]
            for i in groups[0].get("Instances", [])
            if i.get("LifecycleState") == "InService"
        )

    def registered(self):
        """{ec2 instance id: container instance arn} of the cluster's ACTIVE/DRAINING instances."""
        arns = []
        for status in ("ACTIVE", "DRAINING"):
            token = None
            while True:
                kw = {"cluster": self.args.cluster, "status": status}
                if token:
                    kw["nextToken"] = token
                resp = self.ecs.list_container_instances(**kw)
                arns.extend(resp.get("containerInstanceArns", []))
                token = resp.get("nextToken")
                if not token:
                    break
        out = {}
        for i in range(0, len(arns), 100):
            resp = self.ecs.describe_container_instances(
                cluster=self.args.cluster, containerInstances=arns[i : i + 100]
            )
            for ci in resp.get("containerInstances", []):
                out.setdefault(ci["ec2InstanceId"], ci["containerInstanceArn"])
        return out

    def identity_document(self, instance_id):
        resp = self.ec2.describe_instances(InstanceIds=[instance_id])
        inst = resp["Reservations"][0]["Instances"][0]
        if self.account is None:
            self.account = resp["Reservations"][0].get("OwnerId", "123456789012")
        doc = {
            "accountId": self.account,
            "architecture": inst.get("Architecture", "x86_64"),
            "availabilityZone": inst.get("Placement", {}).get("AvailabilityZone", self.args.region + "a"),
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": inst.get("ImageId"),
            "instanceId": instance_id,
            "instanceType": inst.get("InstanceType"),
            "kernelId": None,
            "pendingTime": inst["LaunchTime"].strftime("%Y-%m-%dT%H:%M:%SZ") if inst.get("LaunchTime") else None,
            "privateIp": inst.get("PrivateIpAddress"),
            "ramdiskId": None,
            "region": self.args.region,
            "version": "2017-09-30",
        }
        return json.dumps(doc), inst.get("State", {}).get("Name")

    def running_instances(self, ids):
        if not ids:
            return set()
        resp = self.ec2.describe_instances(InstanceIds=list(ids))
        return {
            i["InstanceId"]
            for r in resp["Reservations"]
            for i in r["Instances"]
            if i.get("State", {}).get("Name") in ("pending", "running")
        }

    def one_pass(self):
        """Returns the number of the group's instances registered, or None if the
        cluster or group does not exist (yet)."""
        if not self.cluster_exists():
            log(f"cluster {self.args.cluster} not found (yet)")
            return None
        in_service = self.group_instances()
        if in_service is None:
            log(f"auto scaling group {self.args.asg} not found (yet)")
            return None
        known = self.registered()
        for iid in in_service:
            if iid in known:
                continue
            doc, state = self.identity_document(iid)
            if state not in ("pending", "running"):
                continue
            resp = self.ecs.register_container_instance(
                cluster=self.args.cluster,
                instanceIdentityDocument=doc,
                totalResources=TOTAL_RESOURCES,
                versionInfo=VERSION_INFO,
            )
            arn = resp["containerInstance"]["containerInstanceArn"]
            known[iid] = arn
            log(f"registered {iid} in cluster {self.args.cluster} as {arn}")
        if self.args.deregister_gone:
            candidates = [iid for iid in known if iid not in in_service]
            alive = self.running_instances(candidates) if candidates else set()
            for iid in candidates:
                if iid in alive:
                    # Still running (e.g. detached or in another group): leave it.
                    continue
                self.ecs.deregister_container_instance(
                    cluster=self.args.cluster, containerInstance=known[iid], force=True
                )
                log(f"deregistered {iid} ({known[iid]}): no longer running")
        return sum(1 for iid in in_service if iid in known)


def main():
    args = parse_args()
    stop = {"now": False}

    def on_signal(signum, _frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    agent = Agent(args)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            count = agent.one_pass()
        except (ClientError, BotoCoreError) as e:
            if args.once:
                log(f"error: {e}")
                return 1
            log(f"error (retrying): {e}")
            count = None
        if args.once:
            return 0
        if args.min_instances is not None and count is not None and count >= args.min_instances:
            log(f"{count} instance(s) of {args.asg} registered in {args.cluster}")
            return 0
        if stop["now"]:
            return 0
        if time.monotonic() >= deadline:
            if args.min_instances is not None:
                log(f"timed out: fewer than {args.min_instances} instance(s) registered")
                return 1
            return 0
        end = min(deadline, time.monotonic() + args.interval)
        while not stop["now"] and time.monotonic() < end:
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
