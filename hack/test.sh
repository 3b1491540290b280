#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   formatting, clippy, unit + controller + moto adapter + CRD drift + end-to-end + chaos
#   tests (tests/chaos: ~100 objects through tools/aws-fault-proxy, ~7 minutes)
#   (real kube-apiserver, etcd and moto built/installed by hack/tools.sh), then the
#   harness fault checks and the packaging checks (Helm, kustomize, RBAC, Argo CD health,
#   IAM policy, the chart's PrometheusRule with promtool and its Grafana dashboard).
# Built tools and cargo's target dir are cached under ~/.cache/ecs-operator.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ecs-operator/cargo-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'test.sh: step "%s" failed\n' "$1" >&2; exit 1; }

for tool in cargo go python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool is not installed (needed by the test suite)" >&2; exit 1; }
done

step "tools: kube-apiserver, etcd, moto, helm, kstatus, promtool (built once per version)"
hack/tools.sh kube-apiserver etcd moto helm kstatus promtool || fail tools

step "cargo fmt --check"
cargo fmt --all -- --check || fail fmt

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || fail clippy

step "cargo test --workspace (unit, controller, AWS adapters on moto, CRD drift, end to end, chaos, aws-fault-proxy, benchmark smoke run)"
cargo test --workspace || fail "cargo test"

step "harness: faults of the control plane scripts (ports taken, crashes, failed builds, missing Go/Python)"
tests/harness/run.sh || fail harness

step "packaging: Helm chart, kustomize, RBAC, Argo CD health checks, IAM policy, PrometheusRule (promtool), Grafana dashboard"
tests/packaging/run.sh || fail packaging

printf '\nall tests passed\n' >&2
