#!/usr/bin/env bash
# shellcheck disable=SC2317  # some functions are only called indirectly ("$func", traps)
# A local control plane for tests and demos: etcd + kube-apiserver + moto.
#
#   hack/sandbox.sh up     [--state-dir DIR]   start everything, wait until ready
#   hack/sandbox.sh down   [--state-dir DIR]   stop everything (idempotent)
#   hack/sandbox.sh env    [--state-dir DIR]   print the env.sh of a running sandbox
#   hack/sandbox.sh status [--state-dir DIR]   which processes are running
#   hack/sandbox.sh restart NAME [--state-dir DIR]
#                      stop one process (etcd, kube-apiserver or moto) and start it again
#                      with the same command line (same port, certificates, data dir),
#                      wait until ready; moto loses its state, etcd and the apiserver not
#
# State dir: --state-dir, else ${ECS_SANDBOX_DIR:-$HOME/.cache/ecs-operator/sandbox}.
# It holds kubeconfig, env.sh (source it: KUBECONFIG, AWS_ENDPOINT_URL, ...),
# logs/<process>.log, run/<process>.pid, pki/, etcd/ (the data dir).
#
# Environment:
#   ETCD_PORT, APISERVER_PORT, MOTO_PORT   fixed loopback ports (default: free ones)
#   MOTO_ECS_SERVICE_RUNNING               passed to moto (default 4): the
#                                          runningCount every new ECS service gets
#                                          (other MOTO_* variables pass through as well)
#   SANDBOX_READY_TIMEOUT                  seconds to wait for each process (default 120)
#   SANDBOX_STOP_TIMEOUT                   seconds between TERM and KILL (default 10)
#   ECS_TOOLS_DIR                          where hack/tools.sh keeps the binaries
# Binaries come from hack/tools.sh (built on first use, cached by version).
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=sandbox.sh
PROCS=(etcd kube-apiserver moto)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: hack/sandbox.sh up|down|env|status [--state-dir DIR]
       hack/sandbox.sh restart etcd|kube-apiserver|moto [--state-dir DIR]
EOF
}

# ------------------------------------------------------------------- arguments

CMD=${1:-}
[[ -n $CMD ]] || { usage; exit 2; }
shift
RESTART_NAME=
if [[ $CMD == restart ]]; then
  [[ $# -ge 1 && -n $1 && $1 != -* ]] || { log "restart: which process? (etcd, kube-apiserver, moto)"; usage; exit 2; }
  RESTART_NAME=$1
  shift
fi
STATE_DIR=${ECS_SANDBOX_DIR:-$HOME/.cache/ecs-operator/sandbox}
while [[ $# -gt 0 ]]; do
  case $1 in
    --state-dir)
      [[ $# -ge 2 && -n $2 ]] || { usage; exit 2; }
      STATE_DIR=$2
      shift 2
      ;;
    --state-dir=*)
      STATE_DIR=${1#--state-dir=}
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) log "unknown argument '$1'"; usage; exit 2 ;;
  esac
done
[[ -n $STATE_DIR ]] || die "empty --state-dir"
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/logs
PKI_DIR=$STATE_DIR/pki
ETCD_DIR=$STATE_DIR/etcd
KUBECONFIG_FILE=$STATE_DIR/kubeconfig
ENV_FILE=$STATE_DIR/env.sh
# Runtime files: removed by down and before an up (logs are kept for reading).
RUNTIME=("$RUN_DIR" "$PKI_DIR" "$ETCD_DIR" "$KUBECONFIG_FILE" "$ENV_FILE")

# ------------------------------------------------------------------- processes

# pid file format: "<pid> <word its command line must contain>"
pid_file() { echo "$RUN_DIR/$1.pid"; }
# The word and command line start got, NUL-separated (for restart).
cmd_file() { echo "$RUN_DIR/$1.cmd"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# Prints the pid recorded for process $1 if it is still running (and is still
# the process we started, not a recycled pid); fails otherwise.
running_pid() {
  local f pid word cmdline
  f=$(pid_file "$1")
  [[ -r $f ]] || return 1
  read -r pid word <"$f" || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ -z $word || $cmdline == *"$word"* ]] || return 1
  echo "$pid"
}

# start NAME WORD CMD...: start CMD detached (own session, stdin /dev/null,
# output to the log) and record its pid. Extra environment: use `env`.
start() {
  local name=$1 word=$2 logf pidf
  shift 2
  logf=$(log_file "$name")
  pidf=$(pid_file "$name")
  : >"$logf"
  printf '%s\0' "$word" "$@" >"$(cmd_file "$name")"
  # The inner shell writes its own pid, then execs: the pid is CMD's.
  # shellcheck disable=SC2016  # expanded by the inner shell
  setsid bash -c 'echo "$$ $1" >"$2"; shift 2; exec "$@"' start-"$name" \
    "$word" "$pidf" "$@" </dev/null >>"$logf" 2>&1 {lockfd}>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidf ]] && return 0
    sleep 0.1
  done
  fail "$name" "starting $name: no pid file after 5s"
}

# stop NAME: TERM the process (and its process group), KILL after a few seconds.
stop() {
  local name=$1 pid i
  if pid=$(running_pid "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${SANDBOX_STOP_TIMEOUT:-10} * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) still running after TERM, sending KILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$(pid_file "$name")"
}

stop_all() {
  local i
  for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do
    stop "${PROCS[i]}"
  done
}

any_running() {
  local p
  for p in "${PROCS[@]}"; do
    running_pid "$p" >/dev/null && return 0
  done
  return 1
}

show_log_tail() {
  local f
  f=$(log_file "$1")
  if [[ -s $f ]]; then
    log "last 20 lines of $f:"
    tail -n 20 "$f" | sed 's/^/    /' >&2
  fi
}

# fail NAME MESSAGE: report a failure of process NAME during up; the EXIT trap
# stops whatever was started.
fail() {
  log "$2"
  [[ -n $1 ]] && show_log_tail "$1"
  exit 1
}

# ------------------------------------------------------------------------ ports

port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# As the servers do (Go, werkzeug): TIME_WAIT leftovers do not block a listener.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

# free_ports N: N distinct free loopback ports, one a line.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
EOF
}

# choose_port VAR STEP: use $VAR if set (it must be free), else a free port.
choose_port() {
  local var=$1 step=$2 value=${!1:-}
  if [[ -n $value ]]; then
    # No leading zero: bash and kube-apiserver would read the number as octal.
    if ! [[ $value =~ ^[1-9][0-9]{0,4}$ ]] || ((10#$value > 65535)); then
      die "$step: $var=$value is not a port number (1-65535, no leading zero)"
    fi
    port_free "$value" ||
      die "$step: port $value ($var) on 127.0.0.1 is already in use; choose another $var or unset it"
    printf -v "$var" '%s' "$value"
  else
    printf -v "$var" '%s' "${FREE_PORTS[0]}"
    FREE_PORTS=("${FREE_PORTS[@]:1}")
  fi
}

# ------------------------------------------------------------------- readiness

# wait_ready NAME WHAT CMD...: poll CMD until it succeeds, while NAME runs.
wait_ready() {
  local name=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + ${SANDBOX_READY_TIMEOUT:-120}))
  while ! "$@" >/dev/null 2>&1; do
    running_pid "$name" >/dev/null ||
      fail "$name" "starting $name: the process exited before $what"
    ((SECONDS < deadline)) ||
      fail "$name" "starting $name: not ready after ${SANDBOX_READY_TIMEOUT:-120}s ($what)"
    sleep 0.25
  done
}

# ------------------------------------------------------------------------- pki

gen_pki() {
  local logf=$LOG_DIR/pki.log
  mkdir -p "$PKI_DIR"
  : >"$logf"
  (
    set -e
    cd "$PKI_DIR"
    # A CA and a serving certificate signed by it (clients such as rustls
    # refuse a self-signed CA used directly as a server certificate).
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=ecs-operator-sandbox-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    openssl req -newkey rsa:2048 -nodes -sha256 \
      -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver"
    printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      >apiserver.ext
    openssl x509 -req -sha256 -days 3650 -in apiserver.csr -CA ca.crt -CAkey ca.key \
      -CAcreateserial -extfile apiserver.ext -out apiserver.crt
    # Service account token signing pair.
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
    # Static token of the admin user (group system:masters).
    openssl rand -hex 24 >admin.token
    printf '%s,admin,admin,"system:masters"\n' "$(cat admin.token)" >tokens.csv
    chmod 600 ./*.key admin.token tokens.csv
  ) >>"$logf" 2>&1 || fail pki "generating certificates and keys with openssl failed (log $logf)"
}

write_kubeconfig() {
  local token ca
  token=$(cat "$PKI_DIR/admin.token")
  ca=$(base64 -w0 <"$PKI_DIR/ca.crt")
  umask 077
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ecs-sandbox
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: ecs-sandbox-admin
  user:
    token: $token
contexts:
- name: ecs-sandbox
  context:
    cluster: ecs-sandbox
    user: ecs-sandbox-admin
    namespace: default
current-context: ecs-sandbox
EOF
  cat >"$ENV_FILE" <<EOF
# Written by hack/sandbox.sh up; source it.
export ECS_SANDBOX_DIR='$STATE_DIR'
export KUBECONFIG='$KUBECONFIG_FILE'
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
export MOTO_PORT=$MOTO_PORT
export SANDBOX_APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
export SANDBOX_ETCD_URL=http://127.0.0.1:$ETCD_PORT
EOF
  umask 022
}

# ------------------------------------------------------------------- commands

lock_state() {
  exec {lockfd}>"$STATE_DIR/.lock"
  if ! flock -n "$lockfd"; then
    log "waiting for another hack/sandbox.sh working on $STATE_DIR"
    flock -w "${SANDBOX_LOCK_TIMEOUT:-180}" "$lockfd" ||
      die "another hack/sandbox.sh is still working on $STATE_DIR after ${SANDBOX_LOCK_TIMEOUT:-180}s"
  fi
}

cleanup_runtime() { rm -rf "${RUNTIME[@]}"; }

UP_DONE=0
on_up_exit() {
  local rc=$?
  if [[ $UP_DONE != 1 ]]; then
    log "up failed: stopping what was started in $STATE_DIR"
    stop_all
    cleanup_runtime
    [[ $rc == 0 ]] && rc=1
  fi
  exit "$rc"
}

cmd_up() {
  local p bin_etcd bin_apiserver bin_moto token
  lock_state
  # Leftovers of an earlier run.
  if any_running; then
    die "sandbox already running in $STATE_DIR, run hack/sandbox.sh down --state-dir $(printf %q "$STATE_DIR")"
  fi
  if [[ -e $RUN_DIR || -e $ETCD_DIR || -e $ENV_FILE ]]; then
    log "removing stale files of an earlier run in $STATE_DIR"
    cleanup_runtime
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH (needed to pick ports and by moto)"
  command -v openssl >/dev/null 2>&1 || die "openssl not found on PATH (needed for certificates)"
  command -v curl >/dev/null 2>&1 || die "curl not found on PATH (needed for readiness checks)"

  # Tools first (a no-op once built): ports are picked right before use.
  "$HACK_DIR/tools.sh" etcd kube-apiserver moto ||
    die "installing the tools failed (hack/tools.sh, see above)"
  bin_etcd=$("$HACK_DIR/tools.sh" path etcd)
  bin_apiserver=$("$HACK_DIR/tools.sh" path kube-apiserver)
  bin_moto=$("$HACK_DIR/tools.sh" path moto)

  # Nothing is started if a requested port is taken.
  mapfile -t FREE_PORTS < <(free_ports 4)
  choose_port ETCD_PORT "starting etcd"
  choose_port APISERVER_PORT "starting kube-apiserver"
  choose_port MOTO_PORT "starting moto"
  ETCD_PEER_PORT=${FREE_PORTS[0]}

  trap on_up_exit EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$ETCD_DIR"
  gen_pki
  token=$(cat "$PKI_DIR/admin.token")

  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  start etcd "$bin_etcd" "$bin_etcd" \
    --name=sandbox \
    --data-dir="$ETCD_DIR" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="sandbox=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true \
    --log-level=warn
  wait_ready etcd "GET /health answered healthy" \
    sh -c "curl -sf 'http://127.0.0.1:$ETCD_PORT/health' | grep -q '\"health\":\"true\"'"

  log "starting moto on 127.0.0.1:$MOTO_PORT (MOTO_ECS_SERVICE_RUNNING=${MOTO_ECS_SERVICE_RUNNING:-4})"
  start moto moto_server env "MOTO_ECS_SERVICE_RUNNING=${MOTO_ECS_SERVICE_RUNNING:-4}" \
    "$bin_moto" -H 127.0.0.1 -p "$MOTO_PORT"

  log "starting kube-apiserver on 127.0.0.1:$APISERVER_PORT"
  start kube-apiserver "$bin_apiserver" "$bin_apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --cert-dir="$PKI_DIR" \
    --tls-cert-file="$PKI_DIR/apiserver.crt" \
    --tls-private-key-file="$PKI_DIR/apiserver.key" \
    --client-ca-file="$PKI_DIR/ca.crt" \
    --secure-port="$APISERVER_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI_DIR/sa.pub" \
    --service-account-signing-key-file="$PKI_DIR/sa.key" \
    --token-auth-file="$PKI_DIR/tokens.csv" \
    --authorization-mode=RBAC \
    --allow-privileged=true

  # moto imports slowly; it came up while the apiserver started.
  wait_ready moto "GET /moto-api/data.json answered" \
    curl -sf -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/data.json"
  wait_ready kube-apiserver "GET /readyz answered ok" \
    curl -sf -o /dev/null --cacert "$PKI_DIR/ca.crt" \
    -H "Authorization: Bearer $token" "https://127.0.0.1:$APISERVER_PORT/readyz"

  write_kubeconfig
  UP_DONE=1
  trap - EXIT INT TERM
  for p in "${PROCS[@]}"; do
    running_pid "$p" >/dev/null || fail "$p" "$p exited right after becoming ready"
  done
  log "ready: kube-apiserver https://127.0.0.1:$APISERVER_PORT, etcd http://127.0.0.1:$ETCD_PORT, moto http://127.0.0.1:$MOTO_PORT"
  log "use it: source $(printf %q "$ENV_FILE")   (or: eval \"\$(hack/sandbox.sh env --state-dir $(printf %q "$STATE_DIR"))\")"
}

cmd_down() {
  lock_state
  stop_all
  cleanup_runtime
  log "sandbox in $STATE_DIR is down"
}

cmd_env() {
  if [[ ! -r $ENV_FILE ]] || ! any_running; then
    die "no sandbox running in $STATE_DIR (run hack/sandbox.sh up --state-dir $(printf %q "$STATE_DIR"))"
  fi
  cat "$ENV_FILE"
}

cmd_status() {
  local p pid rc=0
  for p in "${PROCS[@]}"; do
    if pid=$(running_pid "$p"); then
      echo "$p: running (pid $pid)"
    else
      echo "$p: not running"
      rc=1
    fi
  done
  return "$rc"
}

# Readiness of one process of a running sandbox, ports read from its env.sh.
proc_ready() {
  local token
  case $1 in
    etcd) curl -sf "$SANDBOX_ETCD_URL/health" | grep -q '"health":"true"' ;;
    moto) curl -sf -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" ;;
    kube-apiserver)
      token=$(cat "$PKI_DIR/admin.token")
      curl -sf -o /dev/null --cacert "$PKI_DIR/ca.crt" \
        -H "Authorization: Bearer $token" "$SANDBOX_APISERVER_URL/readyz"
      ;;
  esac
}

cmd_restart() {
  local name=$RESTART_NAME p known=0 word argv=() cmdf logf
  for p in "${PROCS[@]}"; do [[ $p == "$name" ]] && known=1; done
  [[ $known == 1 ]] || { log "restart: unknown process '$name' (one of: ${PROCS[*]})"; usage; exit 2; }
  lock_state
  if [[ ! -r $ENV_FILE ]] || ! any_running; then
    die "no sandbox running in $STATE_DIR (run hack/sandbox.sh up --state-dir $(printf %q "$STATE_DIR"))"
  fi
  cmdf=$(cmd_file "$name")
  [[ -r $cmdf ]] || die "restart $name: $cmdf is missing (sandbox started by an older sandbox.sh? run down and up)"
  mapfile -d '' -t argv <"$cmdf"
  ((${#argv[@]} >= 2)) || die "restart $name: $cmdf is damaged"
  word=${argv[0]}
  argv=("${argv[@]:1}")
  # shellcheck disable=SC1090  # written by up
  source "$ENV_FILE"
  stop "$name"
  # Keep what the process logged before.
  logf=$(log_file "$name")
  [[ -s $logf ]] && cat "$logf" >>"$LOG_DIR/$name.before-restart.log"
  log "starting $name again"
  start "$name" "$word" "${argv[@]}"
  wait_ready "$name" "ready again after the restart" proc_ready "$name"
  log "$name restarted (pid $(running_pid "$name"))"
}

case $CMD in
  up) cmd_up ;;
  restart) cmd_restart ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  -h | --help | help) usage ;;
  *) log "unknown command '$CMD'"; usage; exit 2 ;;
esac
exit
