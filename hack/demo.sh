#!/usr/bin/env bash
# The tutorial "Running Docker on AWS from the ground up", replayed by ecs-operator on a
# local default: a real kube-apiserver + etcd and moto standing in for AWS.
#
#   hack/demo.sh        build what is needed, start everything, apply config/samples,
#                       watch `kubectl get ecs -o wide` converge, then roll to revision 2
#   hack/demo.sh down   stop the operator and the sandbox
#
# Everything stays running afterwards so you can look around; the script says how.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ecs-operator/cargo-target}
STATE=${ECS_DEMO_DIR:-$HOME/.cache/ecs-operator/demo}
NS=tutorial
OPERATOR_PID=$STATE/operator.pid
AGENT_PID=$STATE/agent.pid

say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

stop_pid() {
  local f=$1
  [[ -f $f ]] || return 0
  local pid
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  stop_pid "$AGENT_PID"
  stop_pid "$OPERATOR_PID"
  hack/sandbox.sh down --state-dir "$STATE"
}

if [[ ${1:-} == down ]]; then
  down
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: hack/demo.sh [down]"

for tool in cargo go python3 kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not installed; the demo needs cargo, go, python3 and kubectl"
done

say "Building the control plane tools (once per version) and the operator"
hack/tools.sh kube-apiserver etcd moto || die "building the tools failed (see above)"
cargo build --bin ecs-operator || die "building ecs-operator failed"

say "Starting kube-apiserver, etcd and moto in $STATE"
stop_pid "$AGENT_PID"
stop_pid "$OPERATOR_PID"
hack/sandbox.sh down --state-dir "$STATE" >/dev/null 2>&1 || true
hack/sandbox.sh up --state-dir "$STATE" || die "the sandbox did not start (see above)"
# shellcheck disable=SC1091
source "$STATE/env.sh"
trap 'echo "demo.sh: failed; stop everything with: hack/demo.sh down" >&2' ERR

say "Installing the CRDs"
kubectl apply --server-side -f crds/ecs-operator.yaml 2>/dev/null
kubectl wait --for=condition=Established --timeout=60s crd --all >/dev/null

say "The tutorial's manual steps: key pair and IAM roles (moto)"
"$(hack/tools.sh path moto-python)" hack/tutorial-prereqs.py

say "Starting ecs-operator (log: $STATE/operator.log)"
"$CARGO_TARGET_DIR/debug/ecs-operator" run --cluster-id demo --log-format text \
  --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 --resync-period 30s \
  >"$STATE/operator.log" 2>&1 &
echo $! >"$OPERATOR_PID"

say "kubectl apply -f config/samples (subnets and security group of moto's default VPC)"
kubectl create namespace "$NS" 2>/dev/null || true
hack/render-samples.sh | kubectl apply -n "$NS" -f - 2>/dev/null

# moto launches the instances but runs no ECS agent: play it, as the AMI's agent would.
"$(hack/tools.sh path moto-python)" hack/fake-ecs-agent.py --cluster my-ecs-cluster \
  --asg my-ecs-cluster-ecs-capacity --timeout 600 >"$STATE/agent.log" 2>&1 &
echo $! >"$AGENT_PID"

watch_until() {
  local what=$1 check=$2 deadline=$((SECONDS + 180))
  while true; do
    printf '\n--- %s  (%s)\n' "$(date +%T)" "$what"
    kubectl get ecs -n "$NS" -o wide 2>/dev/null
    if eval "$check"; then return 0; fi
    ((SECONDS < deadline)) || die "timed out waiting for: $what (see $STATE/operator.log)"
    sleep 3
  done
}

all_ready() {
  kubectl wait -n "$NS" --for=condition=Ready --timeout=1s \
    ecscluster/my-ecs-cluster ecstaskdef/hello-world-task ecsservice/hello-world-service >/dev/null 2>&1 &&
    [[ $(kubectl get ecsc my-ecs-cluster -n "$NS" -o jsonpath='{.status.registeredContainerInstances}') == 5 ]]
}
say "Converging: cluster of 5 instances, task definition revision 1, 4 tasks behind the ELB"
watch_until "everything Ready" all_ready

say "Rolling update: PROVIDER=ECS in the task definition (config/samples/rolling-update)"
hack/render-samples.sh config/samples/rolling-update/task-def-v2.yaml | kubectl apply -n "$NS" -f - 2>/dev/null
on_revision_2() {
  [[ $(kubectl get ecss hello-world-service -n "$NS" -o jsonpath='{.status.taskDefinition}') == hello-world-task:2 ]] &&
    kubectl wait -n "$NS" --for=condition=Ready --timeout=1s ecsservice/hello-world-service >/dev/null 2>&1
}
watch_until "service on revision 2" on_revision_2

cat >&2 <<EOF

The tutorial ran: an ECS cluster with 5 instances, task definition revisions 1 and 2, and a
service of 4 tasks behind the classic ELB, rolled to revision 2.

Look around:
  source $STATE/env.sh          # KUBECONFIG and the AWS endpoint (moto)
  kubectl get ecs -n $NS -o wide
  kubectl describe ecss hello-world-service -n $NS
  kubectl get events -n $NS
  tail -f $STATE/operator.log

Stop everything:
  hack/demo.sh down
EOF
