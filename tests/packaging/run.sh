#!/usr/bin/env bash
# shellcheck disable=SC2317  # check bodies are called indirectly
# Packaging checks: the Helm chart, the kustomize config, their RBAC (against a real
# kube-apiserver with RBAC on), the Argo CD health checks, the IAM policy, the Dockerfile,
# the chart's PrometheusRule (promtool check rules / test rules) and Grafana dashboard.
#
#   tests/packaging/run.sh          run every check: one line each, stop at the first failure
#   tests/packaging/run.sh --sync   rewrite the generated copies, then exit:
#                                   crds/ecs-operator.yaml -> charts/ecs-operator/crds/ and
#                                   config/crd/; config/argocd/*.lua -> argocd-cm-patch.yaml
#
# Environment:
#   KUBECONFIG            a running test apiserver (hack/sandbox.sh up; source its env.sh).
#                         Unset: this script brings up its own sandbox in a temporary state
#                         dir and takes it down at exit.
#   AWS_ENDPOINT_URL      moto of that sandbox (env.sh exports it); the live operator check
#                         needs it and is skipped without it.
#   ECS_OPERATOR_BIN      operator binary for the live check. Default: the first of
#                         $CARGO_TARGET_DIR/debug, $HOME/.cache/ecs-operator/cargo-target/debug,
#                         target/debug that has ecs-operator. None: the check is skipped.
#   PACKAGING_SKIP_LIVE=1 skip the live operator check.
#   PACKAGING_CRDS        CRD file the copies must equal (default: crds/ecs-operator.yaml).
#
# Needs: kubectl, python3 with PyYAML (else moto's virtualenv python), lua5.1 (installed
# with apt-get when missing and running as root), helm and promtool (built by
# hack/tools.sh helm promtool).
# Everything it creates in the apiserver (namespaces pkgtest-*, releases, CRDs it had to
# create) is removed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/packaging
CHART=$ROOT/charts/ecs-operator
CRDS=${PACKAGING_CRDS:-$ROOT/crds/ecs-operator.yaml}
PROG=tests/packaging/run.sh
T0=$SECONDS

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }

sync_copies() {
  [[ -r $CRDS ]] || die "$CRDS not found: generate it with: ecs-operator crds > crds/ecs-operator.yaml"
  cp "$CRDS" "$CHART/crds/ecs-operator.yaml"
  cp "$CRDS" "$ROOT/config/crd/ecs-operator.yaml"
  python3 "$HERE/manifests.py" argocd-cm "$ROOT/config/argocd" >"$ROOT/config/argocd/argocd-cm-patch.yaml"
  echo "synced: charts/ecs-operator/crds/ecs-operator.yaml, config/crd/ecs-operator.yaml, config/argocd/argocd-cm-patch.yaml"
}

case ${1:-} in
  "") ;;
  --sync) sync_copies; exit 0 ;;
  -h | --help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecs-packaging.XXXXXX")
RAND=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 6 || true)
NS_OP=pkgtest-$RAND-op       # the releases (operator namespace)
NS_W1=pkgtest-$RAND-w1       # watched namespaces of the namespaced release
NS_W2=pkgtest-$RAND-w2
NS_OTHER=pkgtest-$RAND-other # watched by nobody
TEST_NAMESPACES=("$NS_OP" "$NS_W1" "$NS_W2" "$NS_OTHER")
REL_CW=pkg${RAND}c           # cluster-wide release
REL_NS=pkg${RAND}n           # namespaced release (watchNamespaces)
OWN_SANDBOX=0
NAMESPACES_CREATED=0
HELM="" PROMTOOL="" PY=python3 TOOLS_SUMMARY=""
RELEASES=("$REL_CW" "$REL_NS" "pkg${RAND}bad")
export HELM_CONFIG_HOME=$WORK/helm/config HELM_CACHE_HOME=$WORK/helm/cache HELM_DATA_HOME=$WORK/helm/data

# ------------------------------------------------------------------- reporting

# check NAME CMD...: run CMD (in a subshell, with errexit) and print "ok   NAME  (detail)
# Ns", the detail being the last line of its output; or "FAIL NAME" with its output, and
# exit 1 (the EXIT trap cleans up). State that must outlive a check goes through files in
# $WORK (operator.pid, crds-created).
check() {
  local name=$1 start=$SECONDS rc detail
  shift
  set +e
  (
    set -e
    "$@"
  ) >"$WORK/check.out" 2>&1
  rc=$?
  set -e
  if ((rc == 0)); then
    detail=$(grep -v '^[[:space:]]*$' "$WORK/check.out" | tail -n 1 | cut -c1-110 || true)
    printf 'ok   %s%s  %ds\n' "$name" "${detail:+  ($detail)}" "$((SECONDS - start))"
  else
    printf 'FAIL %s  %ds\n' "$name" "$((SECONDS - start))"
    tail -n 60 "$WORK/check.out" | sed 's/^/     /'
    exit 1
  fi
}

skip() { printf 'skip %s  (%s)\n' "$1" "$2"; }

# ------------------------------------------------------------------- cleanup

kc() { kubectl --request-timeout=60s "$@"; }

# Stop the operator process this script started (its pid is in $WORK/operator.pid).
stop_operator() {
  local pid i
  [[ -s $WORK/operator.pid ]] || return 0
  pid=$(cat "$WORK/operator.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$WORK/operator.pid"
}

# Remove our CRs without an operator: drop their finalizers, then delete them.
force_delete_crs() {
  local ns kind name
  for ns in "${TEST_NAMESPACES[@]}"; do
    for kind in ecsservices ecstaskdefs ecsclusters; do
      for name in $(kc get "$kind.ecsoperator.io" -n "$ns" -o name 2>/dev/null); do
        kc patch "$name" -n "$ns" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1
        kc delete "$name" -n "$ns" --wait=false >/dev/null 2>&1
      done
    done
  done
}

cleanup() {
  local rc=$? ns rel
  set +e
  trap - EXIT INT TERM
  stop_operator
  if [[ $OWN_SANDBOX == 1 ]]; then
    "$ROOT/hack/sandbox.sh" down --state-dir "$WORK/sandbox" >/dev/null 2>&1
  else
    # A shared apiserver: remove exactly what this run created.
    if [[ $NAMESPACES_CREATED == 1 ]]; then
      force_delete_crs
      for rel in "${RELEASES[@]}"; do
        "$HELM" status "$rel" -n "$NS_OP" >/dev/null 2>&1 &&
          "$HELM" uninstall "$rel" -n "$NS_OP" >/dev/null 2>&1
      done
      for ns in "${TEST_NAMESPACES[@]}"; do
        kc delete leases.coordination.k8s.io,events.events.k8s.io --all -n "$ns" >/dev/null 2>&1
        kc delete namespace "$ns" --wait=false >/dev/null 2>&1
        # No namespace controller in the sandbox: finish the deletion ourselves.
        kc get namespace "$ns" -o json 2>/dev/null |
          "$PY" -c 'import json,sys; n=json.load(sys.stdin); n["spec"]["finalizers"]=[]; print(json.dumps(n))' 2>/dev/null |
          kc replace --raw "/api/v1/namespaces/$ns/finalize" -f - >/dev/null 2>&1
      done
    fi
    if [[ -e $WORK/crds-created ]]; then
      kc delete -f "$CRDS" --wait=false >/dev/null 2>&1
    fi
  fi
  rm -rf "$WORK"
  if [[ $rc == 0 ]]; then
    echo "packaging: all checks passed in $((SECONDS - T0))s"
  else
    echo "packaging: FAILED after $((SECONDS - T0))s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------- tools

need_tools() {
  command -v kubectl >/dev/null 2>&1 || die "kubectl not found on PATH"
  if python3 -c 'import yaml' >/dev/null 2>&1; then
    PY=python3
  else
    "$ROOT/hack/tools.sh" moto >&2 || die "python3 has no PyYAML and hack/tools.sh moto failed"
    PY=$("$ROOT/hack/tools.sh" path moto-python)
  fi
  if ! command -v lua5.1 >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "installing lua5.1 with apt-get" >&2
      { DEBIAN_FRONTEND=noninteractive apt-get install -y -q lua5.1 ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q lua5.1; }; } >"$WORK/apt.log" 2>&1 ||
        { tail -n 20 "$WORK/apt.log" >&2; die "installing lua5.1 failed; install it with: apt-get install -y lua5.1"; }
    fi
    command -v lua5.1 >/dev/null 2>&1 || die "lua5.1 not found: install it with: apt-get install -y lua5.1"
  fi
  "$ROOT/hack/tools.sh" helm >&2 || die "building helm failed (hack/tools.sh helm)"
  HELM=$("$ROOT/hack/tools.sh" path helm)
  "$ROOT/hack/tools.sh" promtool >&2 || die "building promtool failed (hack/tools.sh promtool)"
  PROMTOOL=$("$ROOT/hack/tools.sh" path promtool)
  TOOLS_SUMMARY="helm $("$HELM" version --template '{{.Version}}'), $("$PROMTOOL" --version 2>&1 | sed -n '1s/^promtool, version \([^ ]*\).*/promtool \1/p'), $(kubectl version --client 2>/dev/null | head -n 1), $(lua5.1 -v 2>&1 | cut -d' ' -f1-2), $PY"
}

find_operator_bin() {
  local c
  for c in "${ECS_OPERATOR_BIN:-}" ${CARGO_TARGET_DIR:+"$CARGO_TARGET_DIR/debug/ecs-operator"} \
    "$HOME/.cache/ecs-operator/cargo-target/debug/ecs-operator" "$ROOT/target/debug/ecs-operator"; do
    if [[ -n $c && -x $c ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# ------------------------------------------------------------------- static checks

crd_copy_equal() {
  local copy=$1
  [[ -r $CRDS ]] || { echo "$CRDS not found: generate it with: ecs-operator crds > crds/ecs-operator.yaml"; return 1; }
  if ! cmp -s "$CRDS" "$copy"; then
    diff -u "$CRDS" "$copy" | head -n 40 || true
    echo "${copy#"$ROOT"/} differs from ${CRDS#"$ROOT"/}: run tests/packaging/run.sh --sync"
    return 1
  fi
  echo "$(grep -c '^kind: CustomResourceDefinition' "$copy") CRDs, identical"
}

helm_lint() { "$HELM" lint --strict "$CHART" "$@"; }

# render OUT [helm args]: helm template into OUT, release ecs-operator in $NS_OP.
render() {
  local out=$1
  shift
  "$HELM" template ecs-operator "$CHART" --namespace "$NS_OP" "$@" >"$out"
}

# The one grant of the -cluster-id ClusterRole (default cluster id: kube-system's UID).
CLUSTER_ID_GRANT=:namespaces:kube-system:get

template_default() {
  local help=() m=$HERE/manifests.py f=$WORK/chart-default.yaml
  render "$f"
  # ClusterRoles: -manager and -cluster-id.
  "$PY" "$m" expect-kinds "$f" \
    ServiceAccount=1 ClusterRole=2 ClusterRoleBinding=2 Role=1 RoleBinding=1 Service=1 \
    Deployment=1 PodDisruptionBudget=0 ServiceMonitor=0 PrometheusRule=0 ConfigMap=0 \
    CustomResourceDefinition=0
  # clusterId empty: no --cluster-id (the operator reads kube-system's UID), and RBAC to
  # read it, bound to the ServiceAccount.
  "$PY" "$m" expect-args "$f" --lacks --cluster-id --has --lease-duration=15s \
    --has --renew-deadline=10s --has --retry-period=2s
  "$PY" "$m" expect-rules "$f" ClusterRole -cluster-id "$CLUSTER_ID_GRANT"
  "$PY" "$m" bound "$f" ClusterRoleBinding -cluster-id ClusterRole -cluster-id
  [[ ! -s $WORK/run-help.txt ]] || help=(--help-text "$WORK/run-help.txt")
  "$PY" "$m" deployment "$f" \
    --image-tag "$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")" \
    --lease ecs-operator-leader "${help[@]}"
}

template_cluster_id() {
  local m=$HERE/manifests.py
  # clusterId set: passed as --cluster-id, and no cluster-id ClusterRole.
  render "$WORK/chart-clusterid.yaml" --set clusterId=mgmt-eu-1
  "$PY" "$m" expect-args "$WORK/chart-clusterid.yaml" --has --cluster-id=mgmt-eu-1
  "$PY" "$m" expect-kinds "$WORK/chart-clusterid.yaml" ClusterRole=1 ClusterRoleBinding=1
  "$PY" "$m" rules "$WORK/chart-clusterid.yaml" ClusterRole -manager >/dev/null
  # An explicitly empty clusterId is the default: no flag (an empty --cluster-id= would
  # work too, but is noise).
  render "$WORK/chart-clusterid-empty.yaml" --set-string clusterId=
  "$PY" "$m" expect-args "$WORK/chart-clusterid-empty.yaml" --lacks --cluster-id
  # watchNamespaces without clusterId: the Roles per namespace, plus the cluster-id
  # ClusterRole (namespaces are cluster-scoped), and nothing else cluster-wide.
  render "$WORK/chart-watchns-noid.yaml" --set "watchNamespaces={$NS_W1,$NS_W2}"
  "$PY" "$m" expect-kinds "$WORK/chart-watchns-noid.yaml" ClusterRole=1 ClusterRoleBinding=1 Role=3 RoleBinding=3
  "$PY" "$m" expect-rules "$WORK/chart-watchns-noid.yaml" ClusterRole -cluster-id "$CLUSTER_ID_GRANT"
  "$PY" "$m" bound "$WORK/chart-watchns-noid.yaml" ClusterRoleBinding -cluster-id ClusterRole -cluster-id
  "$PY" "$m" expect-args "$WORK/chart-watchns-noid.yaml" --lacks --cluster-id
  echo "clusterId set: --cluster-id, no cluster-id ClusterRole; empty: no flag, get namespaces/kube-system (also with watchNamespaces)"
}

template_nondefault() {
  local help=()
  [[ ! -s $WORK/run-help.txt ]] || help=(--help-text "$WORK/run-help.txt")
  # leaderElection.enabled=false: no Lease RBAC, no --leader-election, Recreate strategy.
  # No leader election: the timing is not checked (the operator ignores it then).
  render "$WORK/chart-noleader.yaml" --set leaderElection.enabled=false \
    --set-string leaderElection.renewDeadline=1h
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/chart-noleader.yaml" Role=0 RoleBinding=0 ClusterRole=2
  grep -q 'type: Recreate' "$WORK/chart-noleader.yaml" || { echo "leaderElection.enabled=false: no Recreate strategy"; return 1; }
  ! grep -Eq -- '--(leader-election|lease-duration|renew-deadline|retry-period)' "$WORK/chart-noleader.yaml" ||
    { echo "leaderElection.enabled=false still passes leader election flags"; return 1; }
  # shards > 1: --shards instead of --leader-election, the lease name and timing kept, and
  # Lease RBAC not limited by name (pod-named membership Leases, listed by label).
  render "$WORK/chart-shards.yaml" --set shards=3 --set replicas=3
  "$PY" "$HERE/manifests.py" expect-args "$WORK/chart-shards.yaml" --has --shards=3 \
    --lacks --leader-election --has --leader-election-id=ecs-operator-leader \
    --has --lease-duration=15s
  "$PY" "$HERE/manifests.py" expect-rules "$WORK/chart-shards.yaml" Role -leader-election \
    coordination.k8s.io:leases:*:create coordination.k8s.io:leases:*:get \
    coordination.k8s.io:leases:*:list coordination.k8s.io:leases:*:update \
    coordination.k8s.io:leases:*:delete
  "$PY" "$HERE/manifests.py" deployment "$WORK/chart-shards.yaml" "${help[@]}"
  render "$WORK/chart-nondefault.yaml" -f "$HERE/values-nondefault.yaml" \
    --set "watchNamespaces={$NS_W1,$NS_W2}"
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/chart-nondefault.yaml" \
    ServiceAccount=1 ClusterRole=0 ClusterRoleBinding=0 Role=3 RoleBinding=3 Service=1 \
    Deployment=1 PodDisruptionBudget=1 ServiceMonitor=1 PrometheusRule=1 ConfigMap=1
  "$PY" "$HERE/manifests.py" namespaced "$WORK/chart-nondefault.yaml" "$NS_W1" "$NS_W2"
  "$PY" "$HERE/manifests.py" deployment "$WORK/chart-nondefault.yaml" "${help[@]}"
  "$PY" "$HERE/manifests.py" nondefault "$WORK/chart-nondefault.yaml"
}

# Each case: helm --set/--set-string arguments that must be rejected, and what the error
# must mention.
BAD_VALUES=(
  "--set replicas=-1|/replicas"
  "--set replicas=two|/replicas"
  "--set logFormat=xml|/logFormat"
  "--set-string resyncPeriod=ten|/resyncPeriod"
  "--set-string resyncPeriod=0s|/resyncPeriod"
  "--set concurrency=0|/concurrency"
  "--set awsRateShare=1.5|/awsRateShare"
  "--set watchNamespaces={Not_A_Namespace}|/watchNamespaces/0"
  "--set image.pullPolicy=Sometimes|/image/pullPolicy"
  "--set leaderElection.leaseDuration=forever|/leaderElection/leaseDuration"
  "--set leaderElection.renewDeadline=soon|/leaderElection/renewDeadline"
  "--set-string leaderElection.retryPeriod=0s|/leaderElection/retryPeriod"
  "--set leaderElection.retryPeriod=2d|/leaderElection/retryPeriod"
  "--set-string leaderElection.renewDeadline=15s|renewDeadline (15s) must be shorter than leaderElection.leaseDuration (15s)"
  "--set-string leaderElection.renewDeadline=1m|must be shorter than leaderElection.leaseDuration"
  "--set-string leaderElection.leaseDuration=9000ms|must be shorter than leaderElection.leaseDuration"
  "--set-string leaderElection.retryPeriod=10s|retryPeriod (10s) must be shorter than leaderElection.renewDeadline (10s)"
  "--set leaderElection.retryPeriod=11|must be shorter than leaderElection.renewDeadline"
  "--set clusterId=mgmt/eu|/clusterId"
  "--set clusterId=-mgmt|/clusterId"
  "--set region=Mars|/region"
  "--set replica=2|additional properties 'replica'"
  "--set metrics.port=70000|/metrics/port"
  "--set replicas=2,leaderElection.enabled=false|needs leaderElection.enabled=true"
  "--set shards=3,leaderElection.enabled=false|shards > 1 needs leaderElection.enabled=true"
  "--set shards=0|/shards"
  "--set prometheusRule.errors.ratio=2|/prometheusRule/errors/ratio"
  "--set prometheusRule.queue.depth=-1|/prometheusRule/queue/depth"
  "--set prometheusRule.stalled.for=soon|/prometheusRule/stalled/for"
  "--set-string prometheusRule.selector=job=x|/prometheusRule/selector"
  "--set prometheusRule.alert=x|additional properties 'alert'"
  "--set grafanaDashboard.namespace=Not_A_Namespace|/grafanaDashboard/namespace"
)

schema_rejects() {
  local c args want out n=0
  for c in "${BAD_VALUES[@]}"; do
    read -r -a args <<<"${c%%|*}"
    want=${c#*|}
    if out=$("$HELM" template x "$CHART" "${args[@]}" 2>&1 >/dev/null); then
      echo "accepted: ${c%%|*}"
      return 1
    fi
    if [[ $out != *"$want"* ]]; then
      printf 'rejected %s, but the error does not mention %s:\n%s\n' "${c%%|*}" "$want" "$out"
      return 1
    fi
    n=$((n + 1))
  done
  # Good values in every accepted form still render.
  "$HELM" template x "$CHART" --set resyncPeriod=45 --set-string awsRateShare=0.5 \
    --set-string leaderElection.leaseDuration=20s --set region=us-east-1 >/dev/null
  # Mixed units and plain seconds, compared as durations: 1m > 45s > 1500ms.
  "$HELM" template x "$CHART" --set-string leaderElection.leaseDuration=1m \
    --set leaderElection.renewDeadline=45 --set-string leaderElection.retryPeriod=1500ms \
    --set-string clusterId=0b6a3c4e-2f7d-4a51-9e3b-8c1d2e3f4a5b >"$WORK/chart-durations.yaml"
  "$PY" "$HERE/manifests.py" expect-args "$WORK/chart-durations.yaml" --has --lease-duration=1m \
    --has --renew-deadline=45 --has --retry-period=1500ms
  echo "$n bad value sets rejected"
}

# prometheusRule.enabled: the PrometheusRule's spec is a valid rules file (promtool check
# rules) whose alerts fire when and only when tests/packaging/prometheus/alerts-test.yaml
# says (promtool test rules, on the rules rendered with the default values and release
# name ecs-operator: job="ecs-operator-metrics").
prometheus_rule() {
  local dir=$WORK/prometheus
  mkdir -p "$dir"
  render "$WORK/chart-rule.yaml" --set prometheusRule.enabled=true
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/chart-rule.yaml" PrometheusRule=1 ConfigMap=0 ServiceMonitor=0
  "$PY" "$HERE/manifests.py" rule-spec "$WORK/chart-rule.yaml" "$dir/ecs-operator-rules.yaml"
  "$PROMTOOL" check rules "$dir/ecs-operator-rules.yaml"
  cp "$HERE/prometheus/alerts-test.yaml" "$dir/alerts-test.yaml"
  "$PROMTOOL" test rules "$dir/alerts-test.yaml"
  # The non-default values' rules (selector, thresholds, labels) are valid too.
  "$PY" "$HERE/manifests.py" rule-spec "$WORK/chart-nondefault.yaml" "$dir/nondefault-rules.yaml"
  "$PROMTOOL" check rules "$dir/nondefault-rules.yaml"
  echo "promtool check rules (default and non-default values), promtool test rules: $(grep -c 'alertname:' "$dir/alerts-test.yaml") cases"
}

# grafanaDashboard.enabled: a ConfigMap with the sidecar's label carrying the dashboard
# JSON unchanged; the JSON is a dashboard whose panels query our metrics (that the
# operator exposes them is checked by the Rust unit tests of src/telemetry/metrics.rs and,
# against a real scrape, by the live operator check below).
grafana_dashboard() {
  render "$WORK/chart-dashboard.yaml" --set grafanaDashboard.enabled=true
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/chart-dashboard.yaml" ConfigMap=1 PrometheusRule=0
  "$PY" "$HERE/manifests.py" dashboard "$WORK/chart-dashboard.yaml" --namespace "$NS_OP" \
    --label grafana_dashboard=1 --same-as "$CHART/dashboards/ecs-operator.json"
}

kustomize_build() {
  kubectl kustomize "$ROOT/config/default" >"$WORK/kustomize.yaml"
  local help=()
  [[ ! -s $WORK/run-help.txt ]] || help=(--help-text "$WORK/run-help.txt")
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/kustomize.yaml" Namespace=1 \
    CustomResourceDefinition=3 ServiceAccount=1 ClusterRole=2 ClusterRoleBinding=2 Role=1 \
    RoleBinding=1 Service=1 Deployment=1
  # No --cluster-id (an overlay may set one): the kube-system UID, readable by the SA.
  "$PY" "$HERE/manifests.py" expect-args "$WORK/kustomize.yaml" --lacks --cluster-id
  "$PY" "$HERE/manifests.py" bound "$WORK/kustomize.yaml" ClusterRoleBinding -cluster-id ClusterRole -cluster-id
  "$PY" "$HERE/manifests.py" deployment "$WORK/kustomize.yaml" --lease ecs-operator-leader "${help[@]}"
}

rbac_equal() {
  local m=manifests.py
  "$PY" "$HERE/$m" same-rules "$WORK/chart-default.yaml" ClusterRole -manager \
    "$WORK/kustomize.yaml" ClusterRole -manager
  "$PY" "$HERE/$m" same-rules "$WORK/chart-default.yaml" Role -leader-election \
    "$WORK/kustomize.yaml" Role -leader-election
  "$PY" "$HERE/$m" same-rules "$WORK/chart-default.yaml" ClusterRole -cluster-id \
    "$WORK/kustomize.yaml" ClusterRole -cluster-id
  "$PY" "$HERE/$m" same-rules "$WORK/chart-watchns-noid.yaml" ClusterRole -cluster-id \
    "$WORK/kustomize.yaml" ClusterRole -cluster-id
  # watchNamespaces: each namespace's Role grants what the ClusterRole grants.
  "$PY" "$HERE/$m" same-rules "$WORK/chart-default.yaml" ClusterRole -manager \
    "$WORK/chart-nondefault.yaml" "Role@$NS_W1" -manager
  "$PY" "$HERE/$m" same-rules "$WORK/chart-default.yaml" ClusterRole -manager \
    "$WORK/chart-nondefault.yaml" "Role@$NS_W2" -manager
}

argocd_lua() {
  "$PY" "$HERE/manifests.py" argocd-embedded "$ROOT/config/argocd/argocd-cm-patch.yaml" "$ROOT/config/argocd"
  lua5.1 "$HERE/argocd/harness.lua" "$ROOT/config/argocd" "$HERE/argocd/cases.lua"
}

iam_policy() {
  "$PY" "$HERE/manifests.py" iam "$ROOT/config/iam/policy.json" "$ROOT/src/aws/guard.rs"
}

dockerfile() {
  local f=$ROOT/Dockerfile
  local stages
  stages=$(grep -c '^FROM ' "$f")
  ((stages >= 2)) || { echo "not multi-stage"; return 1; }
  grep -q 'cargo build --release --locked' "$f" || { echo "no cargo build --release --locked"; return 1; }
  grep -q '^USER 65532' "$f" || { echo "final stage does not run as USER 65532"; return 1; }
  [[ $(grep '^ENTRYPOINT' "$f") == 'ENTRYPOINT ["/ecs-operator"]' ]] || { echo 'ENTRYPOINT is not ["/ecs-operator"]'; return 1; }
  [[ $(grep '^CMD' "$f") == 'CMD ["run"]' ]] || { echo 'CMD is not ["run"]'; return 1; }
  # Everything the build stage copies must pass .dockerignore.
  local p
  # shellcheck disable=SC2013  # words on purpose: the COPY sources
  for p in $(sed -n 's/^COPY \([^-][^ ]*\( [^ ]*\)*\) [^ ]*$/\1/p' "$f"); do
    [[ -e $ROOT/$p ]] || { echo "COPY $p: no such file"; return 1; }
    grep -qx "!$p" "$ROOT/.dockerignore" || { echo ".dockerignore does not let $p through"; return 1; }
  done
  echo "$stages stages, non-root 65532, ENTRYPOINT/CMD ok"
}

# ------------------------------------------------------------------- cluster checks

sandbox_up() {
  "$ROOT/hack/sandbox.sh" up --state-dir "$WORK/sandbox"
  echo "own sandbox in $WORK/sandbox"
}

apiserver_ready() {
  kc get --raw /readyz >/dev/null
  kc auth can-i '*' '*' --all-namespaces | grep -qx yes ||
    { echo "the KUBECONFIG user is not a cluster admin"; return 1; }
  kc get --raw /version | "$PY" -c 'import json,sys; print("kube-apiserver", json.load(sys.stdin)["gitVersion"])'
}

create_namespaces() {
  local ns
  for ns in "${TEST_NAMESPACES[@]}"; do
    kc create namespace "$ns" >/dev/null
    kc label namespace "$ns" ecsoperator.io/packaging-test=true >/dev/null
  done
  echo "${TEST_NAMESPACES[*]}"
}

crds_apply() {
  kc apply --dry-run=server -f "$CRDS"
  local n=0 name
  for name in ecsclusters.ecsoperator.io ecstaskdefs.ecsoperator.io ecsservices.ecsoperator.io; do
    kc get crd "$name" >/dev/null 2>&1 && n=$((n + 1))
  done
  if ((n == 0)); then
    kc create -f "$CRDS"
    touch "$WORK/crds-created"
  elif ((n < 3)); then
    kc apply -f "$CRDS"
  fi
  kc wait --for condition=established --timeout=60s \
    crd/ecsclusters.ecsoperator.io crd/ecstaskdefs.ecsoperator.io crd/ecsservices.ecsoperator.io
  if [[ -e $WORK/crds-created ]]; then echo "created and established"; else echo "already installed, established"; fi
}

dry_run_chart_default() {
  kc apply --dry-run=server -f "$WORK/chart-default.yaml"
}

dry_run_chart_nondefault() {
  # No Prometheus Operator CRDs in the sandbox: without its ServiceMonitor and PrometheusRule
  # (the dashboard ConfigMap stays).
  "$PY" "$HERE/manifests.py" drop-kind "$WORK/chart-nondefault.yaml" ServiceMonitor "$WORK/chart-nondefault-nosm.yaml"
  "$PY" "$HERE/manifests.py" drop-kind "$WORK/chart-nondefault-nosm.yaml" PrometheusRule "$WORK/chart-nondefault-nomon.yaml"
  kc apply --dry-run=server -f "$WORK/chart-nondefault-nomon.yaml"
}

dry_run_kustomize() {
  # config/default installs into ecs-operator-system; a server dry run of objects in a
  # namespace that the same apply would create fails, so an overlay moves everything
  # into the test namespace.
  local dir=$WORK/kustomize-overlay rel
  mkdir -p "$dir"
  rel=$("$PY" -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$ROOT/config/default" "$dir")
  cat >"$dir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $NS_OP
resources:
  - $rel
EOF
  kc apply -k "$dir" --dry-run=server
}

# can-i rows: "yes|no VERB RESOURCE NAMESPACE|* [SUBRESOURCE]"
expect_access() {
  local user=$1 row want verb res ns sub got args fails=0 n=0
  shift
  for row in "$@"; do
    read -r want verb res ns sub <<<"$row"
    args=(auth can-i "$verb" "$res" "--as=$user")
    if [[ $ns == "*" ]]; then args+=(--all-namespaces); elif [[ $ns != "-" ]]; then args+=(-n "$ns"); fi
    [[ -n ${sub:-} ]] && args+=("--subresource=$sub")
    got=$(kc "${args[@]}" 2>"$WORK/can-i.err" || true)
    if [[ $got != "$want" ]]; then
      echo "kubectl ${args[*]}: $got (want $want) $(cat "$WORK/can-i.err")"
      fails=$((fails + 1))
    fi
    n=$((n + 1))
  done
  ((fails == 0)) || return 1
  echo "$n kubectl auth can-i answers as expected"
}

install_cluster_wide() {
  "$HELM" install "$REL_CW" "$CHART" -n "$NS_OP" --skip-crds
  "$HELM" get manifest "$REL_CW" -n "$NS_OP" >"$WORK/release-cw.yaml"
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/release-cw.yaml" ClusterRole=2 ClusterRoleBinding=2 Role=1 RoleBinding=1
}

install_bad_values_fails() {
  local rel=pkg${RAND}bad out
  if out=$("$HELM" install "$rel" "$CHART" -n "$NS_OP" --skip-crds --set replicas=-1 2>&1); then
    echo "helm install accepted replicas=-1"
    return 1
  fi
  echo "$out" | grep -q "/replicas" || { echo "$out"; return 1; }
  if "$HELM" status "$rel" -n "$NS_OP" >/dev/null 2>&1; then
    echo "a release $rel exists after the rejected install"
    return 1
  fi
  echo "rejected before anything was created"
}

access_cluster_wide() {
  local sa=system:serviceaccount:$NS_OP:$REL_CW-ecs-operator lease=$REL_CW-ecs-operator-leader
  kc get serviceaccount "$REL_CW-ecs-operator" -n "$NS_OP" >/dev/null
  expect_access "$sa" \
    "yes list ecsclusters.ecsoperator.io *" \
    "yes watch ecsclusters.ecsoperator.io *" \
    "yes list ecstaskdefs.ecsoperator.io *" \
    "yes watch ecstaskdefs.ecsoperator.io *" \
    "yes list ecsservices.ecsoperator.io *" \
    "yes watch ecsservices.ecsoperator.io *" \
    "yes get ecsclusters.ecsoperator.io $NS_W1" \
    "yes get ecstaskdefs.ecsoperator.io $NS_OTHER" \
    "yes patch ecsservices.ecsoperator.io $NS_W1" \
    "yes patch ecsclusters.ecsoperator.io $NS_OTHER" \
    "yes patch ecsservices.ecsoperator.io $NS_W1 status" \
    "yes patch ecsclusters.ecsoperator.io $NS_W2 status" \
    "yes patch ecstaskdefs.ecsoperator.io $NS_OTHER status" \
    "yes get ecsservices.ecsoperator.io $NS_W1 status" \
    "yes update ecsservices.ecsoperator.io $NS_W1 finalizers" \
    "yes update ecstaskdefs.ecsoperator.io $NS_W1 finalizers" \
    "yes create events.events.k8s.io $NS_W1" \
    "yes patch events.events.k8s.io $NS_OTHER" \
    "yes create leases.coordination.k8s.io $NS_OP" \
    "yes get leases.coordination.k8s.io/$lease $NS_OP" \
    "yes update leases.coordination.k8s.io/$lease $NS_OP" \
    "yes get namespaces/kube-system -" \
    "no get namespaces/default -" \
    "no get namespaces/$NS_OP -" \
    "no list namespaces -" \
    "no update namespaces/kube-system -" \
    "no update ecsservices.ecsoperator.io $NS_W1" \
    "no create ecsservices.ecsoperator.io $NS_W1" \
    "no delete ecsclusters.ecsoperator.io $NS_W1" \
    "no update ecsservices.ecsoperator.io $NS_W1 status" \
    "no get secrets $NS_OP" \
    "no list secrets *" \
    "no delete pods $NS_OP" \
    "no create clusterroles.rbac.authorization.k8s.io -" \
    "no create rolebindings.rbac.authorization.k8s.io $NS_OP" \
    "no impersonate users -" \
    "no create events $NS_W1" \
    "no get configmaps $NS_OP" \
    "no create leases.coordination.k8s.io $NS_W1" \
    "no update leases.coordination.k8s.io/some-other-lease $NS_OP" \
    "no delete leases.coordination.k8s.io/$lease $NS_OP" \
    "no create customresourcedefinitions.apiextensions.k8s.io -"
}

# No clusterId: the live check below runs the operator with the default cluster id (the
# kube-system UID), read with nothing but this release's RBAC.
install_namespaced() {
  "$HELM" install "$REL_NS" "$CHART" -n "$NS_OP" --skip-crds \
    --set "watchNamespaces={$NS_W1,$NS_W2}" --set logFormat=text --set resyncPeriod=30s
  "$HELM" get manifest "$REL_NS" -n "$NS_OP" >"$WORK/release-ns.yaml"
  # Cluster-scoped: only the cluster-id ClusterRole.
  "$PY" "$HERE/manifests.py" expect-kinds "$WORK/release-ns.yaml" ClusterRole=1 ClusterRoleBinding=1 Role=3 RoleBinding=3
  "$PY" "$HERE/manifests.py" expect-rules "$WORK/release-ns.yaml" ClusterRole -cluster-id "$CLUSTER_ID_GRANT"
}

access_namespaced() {
  local sa=system:serviceaccount:$NS_OP:$REL_NS-ecs-operator lease=$REL_NS-ecs-operator-leader
  expect_access "$sa" \
    "yes list ecsclusters.ecsoperator.io $NS_W1" \
    "yes watch ecsservices.ecsoperator.io $NS_W2" \
    "yes get ecstaskdefs.ecsoperator.io $NS_W2" \
    "yes patch ecsservices.ecsoperator.io $NS_W1 status" \
    "yes patch ecstaskdefs.ecsoperator.io $NS_W2" \
    "yes update ecsclusters.ecsoperator.io $NS_W1 finalizers" \
    "yes create events.events.k8s.io $NS_W2" \
    "yes get leases.coordination.k8s.io/$lease $NS_OP" \
    "yes update leases.coordination.k8s.io/$lease $NS_OP" \
    "yes get namespaces/kube-system -" \
    "no get namespaces/$NS_W1 -" \
    "no list namespaces -" \
    "no list ecsclusters.ecsoperator.io *" \
    "no list ecsclusters.ecsoperator.io $NS_OTHER" \
    "no patch ecsservices.ecsoperator.io $NS_OTHER status" \
    "no create events.events.k8s.io $NS_OTHER" \
    "no list ecsclusters.ecsoperator.io $NS_OP" \
    "no update leases.coordination.k8s.io/$REL_CW-ecs-operator-leader $NS_OP" \
    "no get secrets $NS_W1" \
    "no update ecsservices.ecsoperator.io $NS_W1"
}

# The operator itself, as a local process, with the namespaced release's ServiceAccount
# token (so only the chart's RBAC), the Deployment's args and moto: it must reconcile one
# object of each kind to Synced, write events, hold and release the Lease, and delete them
# (finalizer removal), without one forbidden answer.
live_operator() {
  local bin=$1 sa=$REL_NS-ecs-operator lease=$REL_NS-ecs-operator-leader pod=$REL_NS-test-pod
  local token server ca ports mport hport a args=() i
  token=$(kc create token "$sa" -n "$NS_OP" --duration=3600s)
  server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  if [[ -z $ca ]]; then
    ca=$(base64 -w0 <"$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')")
  fi
  cat >"$WORK/sa.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$server", certificate-authority-data: "$ca"}}]
users: [{name: sa, user: {token: "$token"}}]
contexts: [{name: c, context: {cluster: c, user: sa, namespace: $NS_OP}}]
current-context: c
EOF
  mapfile -t ports < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
for s in ss: print(s.getsockname()[1])')
  mport=${ports[0]} hport=${ports[1]}
  # The args of the rendered Deployment, with loopback ports and the sandbox's moto.
  while IFS= read -r a; do
    case $a in
      --metrics-addr=*) args+=("--metrics-addr=127.0.0.1:$mport") ;;
      --health-addr=*) args+=("--health-addr=127.0.0.1:$hport") ;;
      *) args+=("$a") ;;
    esac
  done < <("$PY" "$HERE/manifests.py" args "$WORK/release-ns.yaml")
  args+=("--aws-endpoint-url=$AWS_ENDPOINT_URL" "--region=${AWS_REGION:-us-east-1}")
  echo "+ $bin ${args[*]}"
  env KUBECONFIG="$WORK/sa.kubeconfig" POD_NAME="$pod" POD_NAMESPACE="$NS_OP" \
    AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}" \
    AWS_EC2_METADATA_DISABLED=true NO_COLOR=1 \
    "$bin" "${args[@]}" >"$WORK/operator.log" 2>&1 &
  echo $! >"$WORK/operator.pid"
  if ! live_operator_steps "$mport" "$hport" "$lease" "$pod"; then
    echo "--- operator log (last 40 lines)"
    tail -n 40 "$WORK/operator.log"
    return 1
  fi
}

# refused: the operator log has an answer 403 of the apiserver (prints those lines).
refused() {
  grep -Ei 'forbidden|[^0-9]403[^0-9]' "$WORK/operator.log" | head -n 5 | cut -c1-400 | grep .
}

# wait_for DESCRIPTION TIMEOUT CMD...: poll CMD every second until it succeeds; fail at
# once when the operator exited or was refused by the apiserver.
wait_for() {
  local what=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if refused >/dev/null; then
      echo "while waiting for $what, the apiserver refused the operator:"
      refused
      return 1
    fi
    kill -0 "$(cat "$WORK/operator.pid")" 2>/dev/null || { echo "the operator exited while waiting for $what"; return 1; }
    ((SECONDS < deadline)) || { echo "timed out after ${timeout}s waiting for $what"; return 1; }
    sleep 1
  done
}

# has_condition KIND NAME TYPE STATUS (in $NS_W1)
has_condition() {
  [[ $(kc get -n "$NS_W1" "$1.ecsoperator.io" "$2" \
    -o jsonpath="{.status.conditions[?(@.type==\"$3\")].status}") == "$4" ]]
}

gone() { ! kc get -n "$NS_W1" "$1.ecsoperator.io" "$2" >/dev/null 2>&1; }

show_status() {
  kc get -n "$NS_W1" "$1.ecsoperator.io" "$2" -o yaml | sed -n '/^status:/,$p' | head -n 40
}

# metrics_show PORT REGEX...: GET /metrics into $WORK/metrics.txt has a line matching each.
metrics_show() {
  local port=$1 re
  shift
  curl -sf "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || return 1
  for re in "$@"; do
    grep -Eq "$re" "$WORK/metrics.txt" || return 1
  done
}

wait_http() {
  local url=$1 i
  for ((i = 0; i < 150; i++)); do
    curl -sf -o /dev/null "$url" && return 0
    kill -0 "$(cat "$WORK/operator.pid")" 2>/dev/null || { echo "the operator exited"; return 1; }
    sleep 0.2
  done
  echo "no answer from $url after 30s"
  return 1
}

live_operator_steps() {
  local mport=$1 hport=$2 lease=$3 pod=$4 holder n kind name o uid
  wait_http "http://127.0.0.1:$hport/readyz" || return 1
  curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null || { echo "GET /healthz failed"; return 1; }
  kc apply -n "$NS_W1" -f - <<EOF || return 1
apiVersion: ecsoperator.io/v1alpha1
kind: EcsCluster
metadata: {name: pkg$RAND-cluster}
spec: {}
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsTaskDef
metadata: {name: pkg$RAND-task}
spec:
  containerDefinitions:
    - name: web
      image: public.ecr.aws/docker/library/nginx:latest
      memory: 128
      portMappings: [{containerPort: 80, hostPort: 80, protocol: tcp}]
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsService
metadata: {name: pkg$RAND-service}
spec:
  clusterRef: {name: pkg$RAND-cluster}
  taskDefRef: {name: pkg$RAND-task}
  desiredCount: 1
  launchType: EC2
EOF
  local objs=("ecsclusters pkg$RAND-cluster" "ecstaskdefs pkg$RAND-task" "ecsservices pkg$RAND-service")
  for o in "${objs[@]}"; do
    read -r kind name <<<"$o"
    wait_for "$kind/$name Synced=True" 120 has_condition "$kind" "$name" Synced True ||
      { show_status "$kind" "$name"; return 1; }
  done
  for o in "${objs[@]:0:2}"; do
    read -r kind name <<<"$o"
    wait_for "$kind/$name Ready=True" 60 has_condition "$kind" "$name" Ready True ||
      { show_status "$kind" "$name"; return 1; }
  done
  kc get -n "$NS_W1" ecsclusters.ecsoperator.io,ecstaskdefs.ecsoperator.io,ecsservices.ecsoperator.io
  # No --cluster-id in the release's args: the operator took kube-system's UID.
  uid=$(kc get namespace kube-system -o jsonpath='{.metadata.uid}')
  [[ -n $uid ]] || { echo "kube-system has no UID"; return 1; }
  grep -F "$uid" "$WORK/operator.log" | grep -q 'cluster_id' ||
    { echo "the operator's log never names cluster_id $uid (the kube-system UID)"; return 1; }
  holder=$(kc get lease "$lease" -n "$NS_OP" -o jsonpath='{.spec.holderIdentity}')
  [[ $holder == "$pod" ]] || { echo "Lease $lease held by '$holder', want $pod"; return 1; }
  n=$(kc get events.events.k8s.io -n "$NS_W1" -o jsonpath='{range .items[?(@.reportingController=="ecs-operator")]}{.reason}{"\n"}{end}' | grep -c . || true)
  ((n > 0)) || { echo "no events.k8s.io Events from ecs-operator in $NS_W1"; return 1; }
  # /metrics after a real run, in both watched namespaces: controller-runtime's names and
  # ours, the objects from the caches, the AWS budget; every name the dashboard and the
  # alerts query is exposed.
  wait_for "/metrics to show the Ready EcsCluster and TaskDef" 30 metrics_show "$mport" \
    '^ecs_operator_objects\{kind="EcsCluster",condition="Ready",status="True"\} 1$' \
    '^ecs_operator_objects\{kind="EcsTaskDef",condition="Ready",status="True"\} 1$' ||
    { tail -n 40 "$WORK/metrics.txt"; return 1; }
  for re in '^controller_runtime_reconcile_total\{controller="ecscluster",result="requeue_after"\} [1-9]' \
    '^controller_runtime_reconcile_time_seconds_count\{controller="ecsservice"\} [1-9]' \
    '^controller_runtime_max_concurrent_reconciles\{controller="ecstaskdef"\} 8$' \
    '^workqueue_adds_total\{name="ecscluster",controller="ecscluster"\} [1-9]' \
    '^workqueue_depth\{name="ecsservice",controller="ecsservice"\} [0-9]' \
    '^ecs_operator_aws_bucket_calls_total\{bucket="ecs_cluster_modify"\} [1-9]' \
    '^ecs_operator_aws_bucket_tokens\{bucket="ecs_task_def_modify"\} -?[0-9][0-9.e+-]*$'; do
    grep -Eq "$re" "$WORK/metrics.txt" || { echo "/metrics has no line matching $re"; grep -E "${re%%\\*}" "$WORK/metrics.txt" | head; return 1; }
  done
  "$PY" "$HERE/manifests.py" exposed "$WORK/metrics.txt" "$WORK/chart-dashboard.yaml" \
    "$WORK/prometheus/ecs-operator-rules.yaml" || return 1
  # Deletion: the service first (the cluster waits for its services).
  for o in "${objs[@]:2:1}" "${objs[@]:1:1}" "${objs[@]:0:1}"; do
    read -r kind name <<<"$o"
    kc delete -n "$NS_W1" "$kind.ecsoperator.io" "$name" --wait=false >/dev/null || return 1
    wait_for "$kind/$name to be deleted" 120 gone "$kind" "$name" ||
      { show_status "$kind" "$name"; return 1; }
  done
  if refused >/dev/null; then
    echo "the apiserver refused the operator:"
    refused
    return 1
  fi
  # Clean shutdown releases the Lease (an update).
  stop_operator
  holder=$(kc get lease "$lease" -n "$NS_OP" -o jsonpath='{.spec.holderIdentity}')
  [[ -z $holder ]] || { echo "Lease still held by '$holder' after a clean shutdown"; return 1; }
  echo "3 kinds synced and deleted, $n events, metrics, Lease acquired and released, cluster id = kube-system UID, no forbidden answer"
}

# ------------------------------------------------------------------- main

# Not a check(): it sets HELM and PY for the rest of the script (and dies with a message).
need_tools
printf 'ok   tools  (%s)\n' "$TOOLS_SUMMARY"
FLAGS_NOTE=""
if BIN=$(find_operator_bin); then
  "$BIN" run --help >"$WORK/run-help.txt" 2>&1 || : >"$WORK/run-help.txt"
  grep -q -- '--leader-election' "$WORK/run-help.txt" && FLAGS_NOTE=", flags known to ecs-operator run"
else
  BIN=""
fi

check "CRDs: charts/ecs-operator/crds/ equals ${CRDS#"$ROOT"/}" crd_copy_equal "$CHART/crds/ecs-operator.yaml"
check "CRDs: config/crd/ equals ${CRDS#"$ROOT"/}" crd_copy_equal "$ROOT/config/crd/ecs-operator.yaml"
check "helm lint --strict (default values)" helm_lint
check "helm lint --strict (non-default values)" helm_lint -f "$HERE/values-nondefault.yaml"
check "helm template (default values)$FLAGS_NOTE" template_default
check "helm template (watchNamespaces, replicas 2, serviceMonitor, prometheusRule, dashboard, ...)$FLAGS_NOTE" template_nondefault
check "helm template: clusterId set / empty / empty with watchNamespaces" template_cluster_id
check "values.schema.json rejects bad values" schema_rejects
check "PrometheusRule: promtool check rules + promtool test rules (alerts-test.yaml)" prometheus_rule
check "Grafana dashboard ConfigMap: label, JSON, panels and queries" grafana_dashboard
check "kustomize build config/default" kustomize_build
check "RBAC: chart and kustomize rules equal (as sets)" rbac_equal
check "Argo CD health checks (lua5.1)" argocd_lua
check "IAM policy: actions of src/aws/guard.rs + allow-list" iam_policy
check "Dockerfile" dockerfile

if [[ -z ${KUBECONFIG:-} ]]; then
  OWN_SANDBOX=1
  check "sandbox up (KUBECONFIG not set)" sandbox_up
  # shellcheck disable=SC1091
  source "$WORK/sandbox/env.sh"
fi
check "apiserver reachable as admin" apiserver_ready
NAMESPACES_CREATED=1
check "test namespaces created" create_namespaces
check "CRDs accepted by the apiserver" crds_apply
check "chart (default values): kubectl apply --dry-run=server" dry_run_chart_default
check "chart (non-default values, without ServiceMonitor and PrometheusRule): kubectl apply --dry-run=server" dry_run_chart_nondefault
check "kustomize config/default: kubectl apply -k --dry-run=server" dry_run_kustomize
check "helm install with bad values fails" install_bad_values_fails
check "helm install (all namespaces)" install_cluster_wide
check "RBAC (all namespaces): kubectl auth can-i as the ServiceAccount" access_cluster_wide
check "helm install (watchNamespaces)" install_namespaced
check "RBAC (watchNamespaces): kubectl auth can-i as the ServiceAccount" access_namespaced

if [[ ${PACKAGING_SKIP_LIVE:-0} == 1 ]]; then
  skip "operator runs with only the chart's RBAC" "PACKAGING_SKIP_LIVE=1"
elif [[ -z $BIN ]]; then
  skip "operator runs with only the chart's RBAC" "no ecs-operator binary; set ECS_OPERATOR_BIN"
elif [[ -z ${AWS_ENDPOINT_URL:-} ]]; then
  skip "operator runs with only the chart's RBAC" "AWS_ENDPOINT_URL (moto) not set"
else
  check "operator runs with only the chart's RBAC (watchNamespaces release, moto)" live_operator "$BIN"
fi
