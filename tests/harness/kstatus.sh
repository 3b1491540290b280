#!/usr/bin/env bash
# The kstatus test tool (hack/kstatus, built by hack/tools.sh kstatus) on sample objects:
# the statuses GitOps tools (Flux, kpt, cli-utils) compute from our conditions and
# generations, its input forms (JSON, YAML, List, array), --json, and bad input.
#
#   tests/harness/kstatus.sh     one "ok   <check>" line per check; at the first failure
#                                "FAIL <check>" with what differed, exit 1
#
# Builds the tool first (a no-op when cached). Called by tests/harness/run.sh. Needs
# python3 (to read the --json output).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=tests/harness/kstatus.sh

case ${1:-} in
  "") ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) printf '%s: unknown argument %s\n' "$PROG" "$1" >&2; exit 2 ;;
esac

"$ROOT/hack/tools.sh" kstatus
KSTATUS=$("$ROOT/hack/tools.sh" path kstatus)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecs-kstatus.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PASSED=0

fail() {
  printf 'FAIL %s\n' "$CHECK"
  printf '     %s\n' "$@"
  exit 1
}

# ks_run ARGS... < input: run the tool; stdout in OUT, stderr in ERR, exit status in RC.
ks_run() {
  RC=0
  "$KSTATUS" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}

# expect NAME INPUT EXPECTED [ARGS...]: the tool prints exactly EXPECTED for INPUT, exit 0.
expect() {
  CHECK=$1
  local input=$2 want=$3
  shift 3
  ks_run "$@" <<<"$input"
  [[ $RC == 0 ]] || fail "exit status $RC, expected 0; stderr: $ERR" "input: $input"
  [[ $OUT == "$want" ]] || fail "expected: $want" "got:      $OUT" "input: $input"
  printf 'ok   %s\n' "$CHECK"
  PASSED=$((PASSED + 1))
}

# expect_unreadable NAME INPUT MESSAGE: exit non-zero, nothing on stdout, MESSAGE on stderr.
expect_unreadable() {
  CHECK=$1
  local input=$2 msg=$3
  ks_run <<<"$input"
  [[ $RC != 0 ]] || fail "exit status 0 for unreadable input, stdout: $OUT" "input: $input"
  [[ -z $OUT ]] || fail "printed on stdout: $OUT"
  [[ $ERR == *"$msg"* ]] || fail "stderr does not mention '$msg': $ERR"
  printf 'ok   %s\n' "$CHECK"
  PASSED=$((PASSED + 1))
}

# obj KIND GENERATION OBSERVED CONDITIONS [METADATA...]: a custom resource as JSON.
obj() {
  local kind=$1 gen=$2 observed=$3 conds=$4 extra=${5:+,$5}
  printf '{"apiVersion":"ecsoperator.io/v1alpha1","kind":"%s","metadata":{"name":"web","namespace":"demo","generation":%s%s},"status":{"observedGeneration":%s,"conditions":%s}}' \
    "$kind" "$gen" "$extra" "$observed" "$conds"
}
READY='{"type":"Ready","status":"True","reason":"Running","message":"4/4 tasks running"}'
NOT_READY='{"type":"Ready","status":"False","reason":"Deploying","message":"1/4 tasks running"}'
RECONCILING='{"type":"Reconciling","status":"True","reason":"Deploying","message":"rolling to revision 2"}'
STALLED='{"type":"Stalled","status":"True","reason":"InvalidParameterException","message":"AWS: Invalid cpu value"}'
SYNCED='{"type":"Synced","status":"True","reason":"Synced"}'

# ----------------------------------------------------------- statuses of our objects

expect "observedGeneration = generation, Ready=True: Current" \
  "$(obj EcsService 2 2 "[$READY,$SYNCED]")" \
  "EcsService/demo/web Current Resource is Ready"
expect "Reconciling=True: InProgress with its message" \
  "$(obj EcsService 2 2 "[$NOT_READY,$RECONCILING]")" \
  "EcsService/demo/web InProgress rolling to revision 2"
expect "Stalled=True: Failed with its message" \
  "$(obj EcsTaskDef 3 3 "[$NOT_READY,$STALLED]")" \
  "EcsTaskDef/demo/web Failed AWS: Invalid cpu value"
expect "observedGeneration behind generation (Ready=True, stale): InProgress" \
  "$(obj EcsCluster 3 2 "[$READY]")" \
  "EcsCluster/demo/web InProgress EcsCluster generation is 3, but latest observed generation is 2"
expect "Ready=False, no Reconciling/Stalled: InProgress with the Ready message" \
  "$(obj EcsService 1 1 "[$NOT_READY]")" \
  "EcsService/demo/web InProgress 1/4 tasks running"
expect "deletionTimestamp set: Terminating" \
  "$(obj EcsService 2 2 "[$READY]" '"deletionTimestamp":"2024-01-01T00:00:00Z","finalizers":["ecsoperator.io/cleanup"]')" \
  "EcsService/demo/web Terminating Resource scheduled for deletion"
expect "no conditions, generation observed: Current" \
  "$(obj EcsCluster 1 1 '[]')" \
  "EcsCluster/demo/web Current Resource is current"

# ----------------------------------------------------------------- input and output

LIST="{\"apiVersion\":\"v1\",\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"},\"items\":[$(obj EcsService 2 2 "[$READY]"),$(obj EcsTaskDef 4 3 '[]')]}"
expect "a List (kubectl get -o json): one line per item" "$LIST" \
  "EcsService/demo/web Current Resource is Ready
EcsTaskDef/demo/web InProgress EcsTaskDef generation is 4, but latest observed generation is 3"
expect "a JSON array of objects" "[$(obj EcsService 2 2 "[$STALLED]"),$(obj EcsService 2 2 "[$RECONCILING]")]" \
  "EcsService/demo/web Failed AWS: Invalid cpu value
EcsService/demo/web InProgress rolling to revision 2"
expect "YAML, two documents, a cluster-scoped object (empty namespace)" "$(
  cat <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
---
apiVersion: ecsoperator.io/v1alpha1
kind: EcsCluster
metadata:
  name: prod
  generation: 5
status:
  observedGeneration: 4
EOF
)" "ConfigMap/demo/settings Current Resource is always ready
EcsCluster//prod InProgress EcsCluster generation is 5, but latest observed generation is 4"
expect "an empty List: no output" '{"apiVersion":"v1","kind":"List","items":[]}' ""

CHECK="--json: an array of {kind, namespace, name, status, message}"
ks_run --json <<<"$LIST"
[[ $RC == 0 ]] || fail "exit status $RC; stderr: $ERR"
python3 - "$OUT" <<'EOF' || fail "unexpected --json output: $OUT"
import json, sys
got = json.loads(sys.argv[1])
want = [
    {"kind": "EcsService", "namespace": "demo", "name": "web", "status": "Current",
     "message": "Resource is Ready"},
    {"kind": "EcsTaskDef", "namespace": "demo", "name": "web", "status": "InProgress",
     "message": "EcsTaskDef generation is 4, but latest observed generation is 3"},
]
if got != want:
    print("got:  ", got, "\nwant: ", want)
    sys.exit(1)
EOF
printf 'ok   %s\n' "$CHECK"
PASSED=$((PASSED + 1))

CHECK="--version names KSTATUS_VERSION of hack/versions.env"
want=$(sed -n 's/^KSTATUS_VERSION=//p' "$ROOT/hack/versions.env")
ks_run --version </dev/null
[[ $OUT == "kstatus sigs.k8s.io/cli-utils v${KSTATUS_VERSION:-$want}" ]] ||
  fail "expected sigs.k8s.io/cli-utils v${KSTATUS_VERSION:-$want}, got: $OUT"
printf 'ok   %s\n' "$CHECK"
PASSED=$((PASSED + 1))

# ------------------------------------------------------------------------ bad input

# A status kstatus cannot compute is Unknown, not an error: the input was readable.
expect "malformed metadata.generation: Unknown with kstatus's error, exit 0" \
  '{"apiVersion":"v1","kind":"Thing","metadata":{"name":"t","generation":"two"}}' \
  "Thing//t Unknown looking up metadata.generation from resource: .metadata.generation accessor error: two is of the type string, expected int64"
expect_unreadable "empty input: exit non-zero" "" "no input"
expect_unreadable "not JSON or YAML: exit non-zero" '{"kind": "EcsService", "metadata": {' "document 1"
expect_unreadable "an item that is not an object: exit non-zero" '[{"kind":"ConfigMap","metadata":{"name":"a"}}, 42]' "item 1: expected a Kubernetes object"

echo "kstatus: $PASSED checks passed"
