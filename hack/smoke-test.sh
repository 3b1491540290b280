#!/usr/bin/env bash
# shellcheck disable=SC2317  # check bodies are called indirectly
# End-to-end check of the local control plane: builds/installs the tools if
# needed, brings a sandbox up in a temporary state dir, exercises the
# kube-apiserver (kubectl, ServiceAccount tokens), moto (boto3, an Auto Scaling
# group with a launch template) and hack/fake-ecs-agent.py, then takes it down
# and checks that no process is left. Exit 0 only if every check passed.
#
#   hack/smoke-test.sh
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ecs-sandbox-smoke.XXXXXX")
PASSED=0
FAILED=0

cleanup() {
  "$HACK_DIR/sandbox.sh" down --state-dir "$STATE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

check() {
  local name=$1
  shift
  if "$@" >"$STATE/check.out" 2>&1; then
    echo "ok   $name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL $name"
    sed 's/^/     /' "$STATE/check.out" | tail -n 20
    FAILED=$((FAILED + 1))
  fi
}

"$HACK_DIR/tools.sh" etcd kube-apiserver moto
PY=$("$HACK_DIR/tools.sh" path moto-python)

check "sandbox up" "$HACK_DIR/sandbox.sh" up --state-dir "$STATE"
# shellcheck disable=SC1091
source "$STATE/env.sh"

second_up_refuses() { ! "$HACK_DIR/sandbox.sh" up --state-dir "$STATE"; }
sa_token() {
  local t
  kubectl create serviceaccount smoke
  t=$(kubectl create token smoke)
  kubectl --kubeconfig=/dev/null --server="$SANDBOX_APISERVER_URL" \
    --certificate-authority="$ECS_SANDBOX_DIR/pki/ca.crt" --token="$t" auth whoami |
    grep -q system:serviceaccount:default:smoke
}
rbac_enforced() {
  [[ $(kubectl auth can-i list secrets --as=system:serviceaccount:default:smoke) == no ]]
}
check "second up refuses" second_up_refuses
check "kubectl get ns" kubectl get ns default
check "service account token" sa_token
check "RBAC enforced" rbac_enforced

asg_setup() {
  "$PY" - <<'EOF'
import base64, boto3
ec2, asg, ecs, ssm = (boto3.client(s) for s in ("ec2", "autoscaling", "ecs", "ssm"))
ami = ssm.get_parameter(Name="/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id")["Parameter"]["Value"]
subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
ud = base64.b64encode(b"#!/bin/bash\necho ECS_CLUSTER=smoke >> /etc/ecs/ecs.config\n").decode()
lt = ec2.create_launch_template(LaunchTemplateName="smoke",
    LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro", "UserData": ud})["LaunchTemplate"]
asg.create_auto_scaling_group(AutoScalingGroupName="smoke",
    LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
    MinSize=2, MaxSize=3, DesiredCapacity=2, VPCZoneIdentifier=",".join(subnets[:2]))
ecs.create_cluster(clusterName="smoke")
EOF
}

count_container_instances() {
  "$PY" -c 'import boto3; print(len(boto3.client("ecs").list_container_instances(cluster="smoke")["containerInstanceArns"]))'
}

agent_registers() {
  "$PY" "$HACK_DIR/fake-ecs-agent.py" --cluster smoke --asg smoke --min-instances 2 --timeout 30
  "$PY" "$HACK_DIR/fake-ecs-agent.py" --cluster smoke --asg smoke --once
  [[ $(count_container_instances) == 2 ]]
}

check "boto3 -> moto" "$PY" -c 'import boto3; boto3.client("sts").get_caller_identity()'
check "auto scaling group with launch template" asg_setup
check "fake-ecs-agent registers each instance once" agent_registers

check "sandbox down" "$HACK_DIR/sandbox.sh" down --state-dir "$STATE"
no_processes_left() {
  local f
  for f in etcd kube-apiserver moto; do
    [[ ! -e $STATE/run/$f.pid ]] || return 1
  done
  ! pgrep -f -- "--data-dir=$STATE/" && ! pgrep -f -- "$STATE/pki/"
}
check "no processes left" no_processes_left
check "down is idempotent" "$HACK_DIR/sandbox.sh" down --state-dir "$STATE"

echo "smoke: $PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
