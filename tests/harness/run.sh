#!/usr/bin/env bash
# shellcheck disable=SC2317  # check bodies are called indirectly
# Faults in the local control plane harness itself (hack/tools.sh, hack/sandbox.sh):
# bad input, a port already taken, a second up, leftovers of a crashed sandbox, a failed
# build, a missing Go or Python. Each must give a clear message naming the step, a
# non-zero exit and leave nothing running (and nothing half-installed).
#
#   tests/harness/run.sh     one "ok   <check>" line per check; at the first failure
#                            "FAIL <check>" with the captured output, exit 1
#
# Needs the tools built (hack/tools.sh etcd kube-apiserver moto kstatus; run first, a
# no-op when cached), python3, curl, pgrep. Everything runs in a temporary directory under
# ${TMPDIR:-/tmp}; every sandbox started is taken down at exit. No network is needed
# except for the "unknown etcd version" check, which fails either way without it.
#
# Processes of a sandbox are found by their command line naming the state dir (etcd,
# kube-apiserver) and by a variable ECS_HARNESS_SANDBOX=<state dir> this script puts
# into the environment of `sandbox.sh up`, which every process it starts inherits
# (moto's command line names no path of the state dir).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HACK=$ROOT/hack
PROG=tests/harness/run.sh
T0=$SECONDS
# Ports and the sandbox location come from this script only.
unset ETCD_PORT APISERVER_PORT MOTO_PORT ECS_SANDBOX_DIR ECS_HARNESS_SANDBOX

case ${1:-} in
  "") ;;
  -h | --help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) printf '%s: unknown argument %s\n' "$PROG" "$1" >&2; exit 2 ;;
esac

for t in python3 curl pgrep flock; do
  command -v "$t" >/dev/null || { printf '%s: %s not found on PATH\n' "$PROG" "$t" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecs-harness.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
BG_PIDS=$WORK/bg.pids # background helpers (port occupiers, decoys): killed at exit
: >"$BG_PIDS"
PASSED=0

# ------------------------------------------------------------------- cleanup

# Pids of processes whose environment carries ECS_HARNESS_SANDBOX=<value starting with $1>.
tagged_pids() {
  local prefix=$1 p
  for p in /proc/[0-9]*; do
    tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qF -- "ECS_HARNESS_SANDBOX=$prefix" &&
      echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  local rc=$? d p
  set +e
  trap - EXIT INT TERM
  for d in "$WORK"/sb-*; do
    [[ -d $d ]] && "$HACK/sandbox.sh" down --state-dir "$d" >/dev/null 2>&1
  done
  # Last resort (only after a failure of sandbox.sh itself): processes started by a
  # sandbox of this run, found by the variable put into their environment.
  for p in $(tagged_pids "$WORK/"); do
    printf '%s: killing leftover pid %s: %s\n' "$PROG" "$p" "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" >&2
    kill -KILL "$p" 2>/dev/null
  done
  while read -r p; do
    kill "$p" 2>/dev/null
  done <"$BG_PIDS"
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------- reporting

# check NAME CMD...: run CMD in a subshell with errexit; print "ok   NAME  Ns", or
# "FAIL NAME" with everything CMD printed (the captured output of the commands under
# test included) and exit 1.
check() {
  local name=$1 start=$SECONDS rc
  shift
  set +e
  (
    set -e
    "$@"
  ) >"$WORK/check.out" 2>&1
  rc=$?
  set -e
  if ((rc == 0)); then
    printf 'ok   %s  %ds\n' "$name" "$((SECONDS - start))"
    PASSED=$((PASSED + 1))
  else
    printf 'FAIL %s  %ds\n' "$name" "$((SECONDS - start))"
    sed 's/^/     /' "$WORK/check.out"
    exit 1
  fi
}

# run TAG CMD...: run CMD, its stdout to $WORK/TAG.out, stderr to $WORK/TAG.err; the
# exit status in RC. Never fails.
RC=0 LAST=""
run() {
  LAST=$WORK/$1
  shift
  RC=0
  "$@" >"$LAST.out" 2>"$LAST.err" || RC=$?
}

# fail MESSAGE: fail the current check, showing the output of the last command run.
fail() {
  echo "$*"
  if [[ -n $LAST ]]; then
    echo "--- exit status: $RC; stderr ($LAST.err):"
    tail -n 40 "$LAST.err" 2>/dev/null
    echo "--- stdout:"
    tail -n 20 "$LAST.out" 2>/dev/null
  fi
  exit 1
}

expect_ok() { [[ $RC == 0 ]] || fail "$1: exit status $RC, expected 0"; }
expect_fail() { [[ $RC != 0 ]] || fail "$1: exit status 0, expected non-zero"; }
# expect_err WHAT STRING...: the stderr of the last command contains every STRING.
expect_err() {
  local what=$1 s
  shift
  for s in "$@"; do
    grep -qF -- "$s" "$LAST.err" || fail "$what: stderr does not mention '$s'"
  done
}

# --------------------------------------------------------------- sandbox helpers

new_dir() { mktemp -d "$WORK/$1.XXXXXX"; }

# sb_up TAG DIR [VAR=value...]: hack/sandbox.sh up in DIR with the extra environment.
sb_up() {
  local tag=$1 dir=$2
  shift 2
  run "$tag" env "$@" "ECS_HARNESS_SANDBOX=$dir" "$HACK/sandbox.sh" up --state-dir "$dir"
}
# sb CMD DIR: hack/sandbox.sh CMD --state-dir DIR.
sb() { run "sb-$1" "$HACK/sandbox.sh" "$1" --state-dir "$2"; }

# sandbox_pids DIR: pids of live processes of the sandbox in DIR (command line names
# DIR/, or the environment carries its tag), sorted, one a line. Zombies do not count.
sandbox_pids() {
  local dir=$1 pat p state
  pat=$(printf '%s/' "$dir" | sed 's/[][\.*^$+?(){}|]/\\&/g')
  {
    pgrep -f -- "$pat" || true
    tagged_pids "$dir"
  } | sort -un | while read -r p; do
    state=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null || true)
    [[ -n $state && $state != [ZX] ]] && echo "$p"
  done
  return 0
}

describe_pids() {
  local p
  for p in "$@"; do
    echo "  pid $p: $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-200)"
  done
}

# expect_nothing_left WHAT DIR: no process of the sandbox in DIR runs, no pid file is left.
expect_nothing_left() {
  local what=$1 dir=$2 pids
  pids=$(sandbox_pids "$dir")
  # shellcheck disable=SC2086  # one pid a word
  [[ -z $pids ]] || fail "$what: processes of $dir still running:
$(describe_pids $pids)"
  if compgen -G "$dir/run/*.pid" >/dev/null; then
    fail "$what: pid files left: $(ls "$dir/run")"
  fi
  return 0
}

# recorded_pids DIR: the pids in DIR/run/*.pid, sorted.
recorded_pids() { cat "$1"/run/*.pid 2>/dev/null | awk '{ print $1 }' | sort -n; }

# healthy DIR: etcd, moto and kube-apiserver of the sandbox in DIR answer.
healthy() {
  (
    # shellcheck source=/dev/null
    source "$1/env.sh"
    curl -sf --max-time 5 "$SANDBOX_ETCD_URL/health" | grep -q '"health":"true"' ||
      { echo "etcd $SANDBOX_ETCD_URL not healthy"; exit 1; }
    curl -sf --max-time 5 -o /dev/null "$AWS_ENDPOINT_URL/moto-api/data.json" ||
      { echo "moto $AWS_ENDPOINT_URL not answering"; exit 1; }
    curl -sf --max-time 5 -o /dev/null --cacert "$1/pki/ca.crt" \
      -H "Authorization: Bearer $(cat "$1/pki/admin.token")" "$SANDBOX_APISERVER_URL/readyz" ||
      { echo "kube-apiserver $SANDBOX_APISERVER_URL not ready"; exit 1; }
  )
}

# occupy ADDR: start a listener on ADDR:<free port> (killed at exit); prints
# "<pid> <port>".
occupy() {
  local addr=$1 f i
  f=$(mktemp -u "$WORK/occupier.XXXXXX")
  python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((sys.argv[1], 0))
s.listen(8)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
time.sleep(300)
' "$addr" "$f" </dev/null >/dev/null 2>&1 &
  echo $! >>"$BG_PIDS"
  for ((i = 0; i < 100; i++)); do
    [[ -s $f ]] && break
    sleep 0.05
  done
  [[ -s $f ]] || { echo "occupy: no listener after 5s" >&2; return 1; }
  echo "$! $(cat "$f")"
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() {
  python3 -c '
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
' "$1" 2>/dev/null
}

free_port() {
  python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
'
}

# --------------------------------------------------------- 1. ports and bad input

# port_taken VAR STEP ADDR: with a listener on ADDR:P, VAR=P sandbox.sh up fails before
# starting anything, naming the port, the variable and the step; the listener survives.
port_taken() {
  local var=$1 step=$2 addr=$3 dir occ pid port
  dir=$(new_dir sb-port)
  occ=$(occupy "$addr")
  read -r pid port <<<"$occ"
  sb_up "up-$var" "$dir" "$var=$port"
  expect_fail "up with $var=$port taken"
  expect_err "up with $var=$port taken" "$step" "port $port" "$var" "already in use"
  expect_nothing_left "after the failed up" "$dir"
  listening "$port" || fail "the listener on port $port is gone"
  kill "$pid"
  echo "$var=$port taken on $addr: refused"
}

# The ports pass the up-front check but collide once started: the apiserver cannot
# bind the port etcd has. Up must fail naming the step, and stop etcd and moto.
port_collision_midway() {
  local dir port f
  dir=$(new_dir sb-collide)
  port=$(free_port)
  sb_up up-collide "$dir" "ETCD_PORT=$port" "APISERVER_PORT=$port"
  expect_fail "up with ETCD_PORT=APISERVER_PORT=$port"
  expect_err "up with ETCD_PORT=APISERVER_PORT=$port" "starting kube-apiserver" "$port"
  expect_err "up with ETCD_PORT=APISERVER_PORT=$port" "stopping etcd" "stopping moto"
  expect_nothing_left "after the failed up" "$dir"
  for f in run pki etcd env.sh kubeconfig; do
    [[ ! -e $dir/$f ]] || fail "failed up left $dir/$f"
  done
}

bad_input() {
  local dir v
  dir=$(new_dir sb-bad)
  for v in ETCD_PORT=abc MOTO_PORT=70000 APISERVER_PORT=0 ETCD_PORT=-1; do
    sb_up "bad-${v%%=*}" "$dir" "$v"
    expect_fail "up with $v"
    expect_err "up with $v" "${v%%=*}=${v#*=} is not a port number" "starting "
  done
  expect_nothing_left "after the refused ups" "$dir"
  run bad-cmd "$HACK/sandbox.sh" start --state-dir "$dir"
  [[ $RC == 2 ]] || fail "sandbox.sh start: exit $RC, expected 2 (usage)"
  expect_err "sandbox.sh start" "unknown command 'start'" "usage:"
  run bad-arg "$HACK/sandbox.sh" up --stat-dir "$dir"
  [[ $RC == 2 ]] || fail "sandbox.sh up --stat-dir: exit $RC, expected 2 (usage)"
  expect_err "sandbox.sh up --stat-dir" "unknown argument '--stat-dir'" "usage:"
  run bad-noval "$HACK/sandbox.sh" up --state-dir
  [[ $RC == 2 ]] || fail "sandbox.sh up --state-dir (no value): exit $RC, expected 2 (usage)"
  expect_err "sandbox.sh up --state-dir (no value)" "usage:"
  run bad-tool "$HACK/tools.sh" etcdd
  expect_fail "tools.sh etcdd"
  expect_err "tools.sh etcdd" "unknown tool 'etcdd'"
}

# ------------------------------------------------------------------ 2. double up

double_up() {
  local dir before after pids
  dir=$(new_dir sb-double)
  sb_up up1 "$dir"
  expect_ok "first up"
  before=$(recorded_pids "$dir")
  [[ $(wc -l <<<"$before") == 3 ]] || fail "expected 3 pid files, got: $before"
  # The detection of leftovers used by every check must see exactly these.
  pids=$(sandbox_pids "$dir")
  [[ $pids == "$before" ]] || fail "processes found for $dir (${pids//$'\n'/ }) differ from its pid files (${before//$'\n'/ })"

  sb_up up2 "$dir"
  expect_fail "second up on a running sandbox"
  expect_err "second up on a running sandbox" "already running in $dir" "sandbox.sh down"

  after=$(recorded_pids "$dir")
  [[ $after == "$before" ]] || fail "pid files changed by the refused up: $before -> $after"
  sb status "$dir"
  expect_ok "status after the refused up"
  healthy "$dir" || fail "first sandbox not healthy after the refused up"

  sb down "$dir"
  expect_ok "first down"
  expect_nothing_left "after down" "$dir"
  sb down "$dir"
  expect_ok "second down"
  expect_nothing_left "after the second down" "$dir"
}

# ----------------------------------------------------- 3. leftovers of a crash

crash_leftovers() {
  local dir pids p i word decoy
  dir=$(new_dir sb-crash)
  sb_up up1 "$dir"
  expect_ok "first up"
  pids=$(sandbox_pids "$dir")
  [[ $(wc -w <<<"$pids") == 3 ]] || fail "expected 3 processes, found: ${pids//$'\n'/ }"
  # The crash: every process killed at once, pid files, env.sh, pki/ and etcd/ stay.
  for p in $pids; do kill -KILL "$p"; done
  for ((i = 0; i < 100; i++)); do
    [[ -z $(sandbox_pids "$dir") ]] && break
    sleep 0.05
  done
  expect_nothing_left_but_files "$dir"
  touch "$dir/etcd/leftover-of-the-crash"
  # A stale pid file whose pid now belongs to an unrelated process.
  sleep 300 >/dev/null 2>&1 &
  decoy=$!
  echo "$decoy" >>"$BG_PIDS"
  read -r _ word <"$dir/run/etcd.pid"
  echo "$decoy $word" >"$dir/run/etcd.pid"

  sb status "$dir"
  expect_fail "status of the crashed sandbox"
  sb_up up2 "$dir"
  expect_ok "up over the leftovers of a crash"
  expect_err "up over the leftovers of a crash" "removing stale files"
  [[ ! -e $dir/etcd/leftover-of-the-crash ]] || fail "the old etcd data dir was reused"
  healthy "$dir" || fail "sandbox not healthy after the up over the leftovers"
  kill -0 "$decoy" 2>/dev/null || fail "the unrelated process $decoy (recycled pid in a stale pid file) was killed by up"

  sb down "$dir"
  expect_ok "down"
  expect_nothing_left "after down" "$dir"
  kill -0 "$decoy" 2>/dev/null || fail "the unrelated process $decoy was killed by down"
  kill "$decoy"
}

# After the crash: no process, but the pid files and the data dir are still there.
expect_nothing_left_but_files() {
  local dir=$1 pids
  pids=$(sandbox_pids "$dir")
  # shellcheck disable=SC2086
  [[ -z $pids ]] || fail "kill -9 left processes: $(describe_pids $pids)"
  [[ $(recorded_pids "$dir" | wc -l) == 3 && -d $dir/etcd && -e $dir/env.sh ]] ||
    fail "expected the crash to leave 3 pid files, etcd/ and env.sh: $(ls -R "$dir")"
}

# An up interrupted (TERM, as from timeout(1) or a CI cancel) once etcd and moto run and
# kube-apiserver is starting: exit non-zero, stop everything, leave no runtime files.
interrupted_up() {
  local dir pid i f
  dir=$(new_dir sb-term)
  LAST=$WORK/up-term
  env "ECS_HARNESS_SANDBOX=$dir" "$HACK/sandbox.sh" up --state-dir "$dir" >"$LAST.out" 2>"$LAST.err" &
  pid=$!
  for ((i = 0; i < 600; i++)); do
    grep -qF "starting kube-apiserver" "$LAST.err" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  grep -qF "starting kube-apiserver" "$LAST.err" || fail "up never reached starting kube-apiserver"
  kill -TERM "$pid"
  RC=0
  wait "$pid" || RC=$?
  expect_fail "up interrupted by TERM"
  expect_err "up interrupted by TERM" "up failed: stopping what was started" "stopping etcd" "stopping moto"
  expect_nothing_left "after the interrupted up" "$dir"
  for f in run pki etcd env.sh kubeconfig; do
    [[ ! -e $dir/$f ]] || fail "interrupted up left $dir/$f"
  done
}

# ------------------------------------------------------------- 4. failed builds

# nothing_installed TOOLS_DIR NAME VERSION: no tool dir, no build dir, no binary left.
nothing_installed() {
  local tdir=$1 name=$2 version=$3 left
  [[ ! -e $tdir/$name-v$version ]] || fail "$tdir/$name-v$version exists after a failed build"
  left=$(find "$tdir" -mindepth 1 \( -name ".build-*" -o -name "$name" \) -print)
  [[ -z $left ]] || fail "left after a failed build: $left"
  run path-after-fail env "ECS_TOOLS_DIR=$tdir" "ETCD_VERSION=$version" "$HACK/tools.sh" path "$name"
  expect_fail "tools.sh path $name after a failed build"
}

build_unknown_version() {
  local tdir
  tdir=$(new_dir tools-unknown)
  run build-unknown env "ECS_TOOLS_DIR=$tdir" ETCD_VERSION=3.6.999 "$HACK/tools.sh" etcd
  expect_fail "tools.sh etcd with ETCD_VERSION=3.6.999"
  expect_err "tools.sh etcd with ETCD_VERSION=3.6.999" "building etcd v3.6.999" "failed"
  nothing_installed "$tdir" etcd 3.6.999
}

# A fake `go`: `mod download` and `mod tidy` succeed; `build` writes a partial binary to
# its -o file and fails (FAKE_GO_MODE=fail) or writes a working one (FAKE_GO_MODE=ok).
make_fake_go() {
  local bin=$1
  mkdir -p "$bin"
  cat >"$bin/go" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
case $1 in
  mod)
    case $2 in
      download)
        gomod=$FAKE_GO_DIR/server-go.mod
        printf 'module go.etcd.io/etcd/server/v3\n\nrequire go.etcd.io/etcd/api/v3 v0.0.0\n' >"$gomod"
        printf '{\n\t"Path": "go.etcd.io/etcd/server/v3",\n\t"GoMod": "%s",\n}\n' "$gomod"
        ;;
      *) ;;
    esac
    ;;
  build)
    out=""
    while [[ $# -gt 0 ]]; do
      [[ $1 == -o ]] && out=$2
      shift
    done
    touch "$FAKE_GO_DIR/build-ran"
    if [[ $FAKE_GO_MODE == fail ]]; then
      printf '\177ELF half' >"$out"
      chmod +x "$out"
      echo "fake go: link: out of disk space" >&2
      exit 2
    fi
    printf '#!/bin/sh\necho "etcd Version: fake"\n' >"$out"
    chmod +x "$out"
    ;;
  *) echo "fake go: unexpected: $*" >&2; exit 1 ;;
esac
EOF
  chmod +x "$bin/go"
}

build_step_fails() {
  local tdir fake
  tdir=$(new_dir tools-partial)
  fake=$(new_dir fakego)
  make_fake_go "$fake"
  run build-partial env "PATH=$fake:$PATH" "FAKE_GO_DIR=$fake" FAKE_GO_MODE=fail \
    "ECS_TOOLS_DIR=$tdir" ETCD_VERSION=3.6.998 "$HACK/tools.sh" etcd
  [[ -e $fake/build-ran ]] || fail "the fake go build did not run (the test did not reach the build step)"
  expect_fail "tools.sh etcd with a failing go build"
  expect_err "tools.sh etcd with a failing go build" "building etcd v3.6.998 failed" "out of disk space"
  nothing_installed "$tdir" etcd 3.6.998

  # The next attempt is not disturbed by what the failed one left (lock, log).
  run build-retry env "PATH=$fake:$PATH" "FAKE_GO_DIR=$fake" FAKE_GO_MODE=ok \
    "ECS_TOOLS_DIR=$tdir" ETCD_VERSION=3.6.998 "$HACK/tools.sh" etcd
  expect_ok "tools.sh etcd retried with a working go build"
  run path-after-retry env "ECS_TOOLS_DIR=$tdir" ETCD_VERSION=3.6.998 "$HACK/tools.sh" path etcd
  expect_ok "tools.sh path etcd after the retry"
  [[ $(cat "$LAST.out") == "$tdir/etcd-v3.6.998/etcd" ]] || fail "unexpected path: $(cat "$LAST.out")"
  [[ -z $(find "$tdir" -name ".build-*") ]] || fail "build dirs left after the retry"
}

# ------------------------------------------------------------ 5. missing Go/Python

# A bin dir with symlinks to basic utilities only: no go, no python3 (and no pyenv
# shims); "with python3" links the real interpreter, "with go" the real go.
BASIC_TOOLS=(bash sh env dirname basename mkdir rmdir rm mv ln cp chmod cat sed grep awk
  tail head cut sort tr wc mktemp flock setsid sleep date base64 find touch ls readlink
  openssl curl sha256sum)
make_bin() {
  local bin=$1 t p
  shift
  mkdir -p "$bin"
  for t in "${BASIC_TOOLS[@]}"; do
    p=$(command -v "$t" 2>/dev/null) || continue
    [[ $p == /* ]] && ln -s "$p" "$bin/$t"
  done
  for t in "$@"; do
    case $t in
      python3) ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$bin/python3" ;;
      go) ln -s "$(command -v go)" "$bin/go" ;;
    esac
  done
  [[ -x $bin/bash && -x $bin/dirname ]] || { echo "make_bin: no bash/dirname found"; return 1; }
}

# on_path BIN CMD: CMD is found with PATH=BIN.
on_path() { PATH=$1 command -v "$2" >/dev/null 2>&1; }

missing_go() {
  local bin tdir t
  bin=$(new_dir bin-nogo)
  make_bin "$bin" python3
  ! on_path "$bin" go || fail "go is still on the PATH $bin"
  for t in etcd kube-apiserver helm kstatus promtool; do
    tdir=$(new_dir tools-nogo)
    run "nogo-$t" env "PATH=$bin" "ECS_TOOLS_DIR=$tdir" "$HACK/tools.sh" "$t"
    expect_fail "tools.sh $t without go"
    expect_err "tools.sh $t without go" "building $t needs the Go toolchain" "'go' not found on PATH"
    [[ -z $(ls -A "$tdir") ]] || fail "tools.sh $t without go left: $(ls -A "$tdir")"
  done
}

missing_python() {
  local bin tdir fake
  bin=$(new_dir bin-nopy)
  make_bin "$bin" go
  ! on_path "$bin" python3 || fail "python3 is still on the PATH $bin"
  tdir=$(new_dir tools-nopy)
  run nopy-moto env "PATH=$bin" "ECS_TOOLS_DIR=$tdir" "$HACK/tools.sh" moto
  expect_fail "tools.sh moto without python3"
  expect_err "tools.sh moto without python3" "installing moto needs Python 3" "'python3' not found on PATH"
  [[ -z $(ls -A "$tdir") ]] || fail "tools.sh moto without python3 left: $(ls -A "$tdir")"

  # A python3 without the venv module (here: one that cannot import anything).
  fake=$(new_dir bin-novenv)
  make_bin "$fake"
  printf '#!/bin/sh\necho "ModuleNotFoundError: No module named venv" >&2\nexit 1\n' >"$fake/python3"
  chmod +x "$fake/python3"
  run novenv-moto env "PATH=$fake" "ECS_TOOLS_DIR=$tdir" "$HACK/tools.sh" moto
  expect_fail "tools.sh moto with a python3 without venv"
  expect_err "tools.sh moto with a python3 without venv" "installing moto needs python3 >= 3.9 with the venv module"
  [[ -z $(ls -A "$tdir") ]] || fail "tools.sh moto with a python3 without venv left: $(ls -A "$tdir")"
}

sandbox_missing_python() {
  local bin dir
  bin=$(new_dir bin-nopy)
  make_bin "$bin" go
  dir=$(new_dir sb-nopy)
  sb_up up-nopy "$dir" "PATH=$bin"
  expect_fail "sandbox up without python3"
  expect_err "sandbox up without python3" "python3 not found on PATH"
  expect_nothing_left "after the failed up" "$dir"
}

sandbox_missing_go() {
  local bin dir tdir
  bin=$(new_dir bin-nogo)
  make_bin "$bin" python3
  dir=$(new_dir sb-nogo)
  tdir=$(new_dir tools-nogo)
  sb_up up-nogo "$dir" "PATH=$bin" "ECS_TOOLS_DIR=$tdir"
  expect_fail "sandbox up without go, tools not built"
  expect_err "sandbox up without go, tools not built" "building etcd needs the Go toolchain" \
    "'go' not found on PATH" "installing the tools failed"
  expect_nothing_left "after the failed up" "$dir"
  [[ -z $(ls -A "$tdir") ]] || fail "sandbox up without go left in the tools dir: $(ls -A "$tdir")"
}

# ------------------------------------------------------- 6. leading-zero ports

# APISERVER_PORT=0<p> (p with digits 0-7 only): either refused naming APISERVER_PORT, or
# the sandbox works where its env.sh says. Not: bash and kube-apiserver reading it as
# octal while the port check, curl and the kubeconfig read it as decimal.
leading_zero_port() {
  local dir p
  dir=$(new_dir sb-zero)
  p=$(python3 -c '
import random, socket
def free(n):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", n))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(1000):
    d = str(random.randint(1, 5)) + "".join(str(random.randint(0, 7)) for _ in range(4))
    if free(int(d)) and free(int(d, 8)):
        print(d)
        break
')
  [[ -n $p ]] || fail "found no port p with p and octal 0$p both free"
  sb_up up-zero "$dir" "APISERVER_PORT=0$p" SANDBOX_READY_TIMEOUT=10
  if [[ $RC == 0 ]]; then
    healthy "$dir" || fail "APISERVER_PORT=0$p accepted, but the sandbox does not answer where env.sh says"
    sb down "$dir"
    expect_ok "down"
  else
    grep -qF APISERVER_PORT "$LAST.err" ||
      fail "up with APISERVER_PORT=0$p failed without naming APISERVER_PORT; port $p (decimal) was checked and is used by curl/kubeconfig, kube-apiserver listened on: $(grep -ho 'Serving securely on [0-9.:]*' "$dir/logs/kube-apiserver.log" 2>/dev/null || echo '?') (octal 0$p = $((8#$p)))"
  fi
  expect_nothing_left "after up/down with APISERVER_PORT=0$p" "$dir"
}

# ------------------------------------------------------------------------ main

# The tools must be there (built once per version; a no-op when cached).
"$HACK/tools.sh" etcd kube-apiserver moto kstatus

check "port taken: ETCD_PORT (listener on 127.0.0.1)" port_taken ETCD_PORT "starting etcd" 127.0.0.1
check "port taken: MOTO_PORT (listener on 127.0.0.1)" port_taken MOTO_PORT "starting moto" 127.0.0.1
check "port taken: APISERVER_PORT (listener on 127.0.0.1)" port_taken APISERVER_PORT "starting kube-apiserver" 127.0.0.1
check "port taken: ETCD_PORT (listener on 0.0.0.0)" port_taken ETCD_PORT "starting etcd" 0.0.0.0
check "port collision found once started (APISERVER_PORT=ETCD_PORT): etcd, moto stopped" port_collision_midway
check "bad input: non-port values, unknown command/argument/tool, --state-dir without value" bad_input
check "double up: second up refuses, first sandbox unharmed, down twice" double_up
check "crash leftovers (kill -9; stale pid files, recycled pid, old data dir): up cleans and starts" crash_leftovers
check "up interrupted (TERM) while kube-apiserver starts: everything stopped" interrupted_up
check "failed build: unknown etcd version, nothing installed" build_unknown_version
check "failed build: go build fails after a partial binary, nothing installed; retry builds" build_step_fails
check "missing go: tools.sh etcd, kube-apiserver, helm, kstatus, promtool" missing_go
check "missing python3 / python3 without venv: tools.sh moto" missing_python
check "missing python3: sandbox.sh up" sandbox_missing_python
check "missing go, tools not built: sandbox.sh up" sandbox_missing_go
check "bad input: APISERVER_PORT with a leading zero (0<digits 0-7>)" leading_zero_port
check "kstatus tool on sample objects (tests/harness/kstatus.sh)" "$ROOT/tests/harness/kstatus.sh"

echo "harness: $PASSED checks passed in $((SECONDS - T0))s"
