#!/usr/bin/env bash
# shellcheck disable=SC2317  # some functions are only called indirectly ("$func", traps)
# Build / install the tools of the local control plane, once per version.
#
#   hack/tools.sh [kube-apiserver|etcd|helm|kstatus|promtool|moto|all]...   (default: all)
#   hack/tools.sh path <kube-apiserver|etcd|helm|kstatus|promtool|moto|moto-python>
#
# Versions come from hack/versions.env (an environment variable of the same
# name overrides it). Tools land in ${ECS_TOOLS_DIR:-$HOME/.cache/ecs-operator/tools}:
#   kube-apiserver-v<K8S_VERSION>/kube-apiserver
#   etcd-v<ETCD_VERSION>/etcd
#   helm-v<HELM_VERSION>/helm
#   promtool-v<PROMTOOL_VERSION>-nosd/promtool  (github.com/prometheus/prometheus/cmd/promtool,
#       built without service discovery plugins)
#   kstatus-v<KSTATUS_VERSION>-<hash>/kstatus  (hack/kstatus/, a main around
#       sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute; <hash> is that of its
#       go.mod, go.sum and main.go, so an edit of the wrapper builds it again)
#   moto-<MOTO_VERSION>/bin/{moto_server,python}   (a virtualenv with boto3)
# Everything is built from the Go module proxy / PyPI only. A build runs in a
# temporary directory and is moved into place only when it succeeded, under a
# lock, so concurrent callers build once and a failed build leaves nothing.
# Progress and errors go to stderr; `path` prints the one path on stdout.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=tools.sh

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit 1; }

# Load versions.env: KEY=value lines; the environment wins over the file.
load_versions() {
  local file=$HACK_DIR/versions.env key value
  [[ -r $file ]] || die "cannot read $file"
  while IFS='=' read -r key value || [[ -n $key ]]; do
    [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    if [[ -z ${!key:-} ]]; then
      printf -v "$key" '%s' "$value"
      export "${key?}"
    fi
  done <"$file"
  local v
  for v in K8S_VERSION ETCD_VERSION MOTO_VERSION HELM_VERSION KSTATUS_VERSION PROMTOOL_VERSION; do
    [[ -n ${!v:-} ]] || die "$v is not set in $file"
  done
}
load_versions

TOOLS_DIR=${ECS_TOOLS_DIR:-$HOME/.cache/ecs-operator/tools}
LOG_DIR=$TOOLS_DIR/logs
KSTATUS_SRC=$HACK_DIR/kstatus
KSTATUS_FILES=(go.mod go.sum main.go)

# The first 12 hex digits of the sha256 of the kstatus wrapper's sources.
kstatus_src_hash() {
  local f h
  for f in "${KSTATUS_FILES[@]}"; do
    [[ -r $KSTATUS_SRC/$f ]] || die "kstatus: cannot read $KSTATUS_SRC/$f"
  done
  command -v sha256sum >/dev/null 2>&1 || die "kstatus: sha256sum not found on PATH (coreutils)"
  h=$(cd "$KSTATUS_SRC" && sha256sum -- "${KSTATUS_FILES[@]}" | sha256sum) ||
    die "kstatus: cannot hash $KSTATUS_SRC"
  echo "${h:0:12}"
}
# Set KSTATUS_HASH; called in the main shell (not in a $(...)), so a failure exits.
KSTATUS_HASH=""
kstatus_prepare() {
  [[ -n $KSTATUS_HASH ]] || KSTATUS_HASH=$(kstatus_src_hash)
}

tool_dir() {
  case $1 in
    kube-apiserver) echo "$TOOLS_DIR/kube-apiserver-v$K8S_VERSION" ;;
    etcd) echo "$TOOLS_DIR/etcd-v$ETCD_VERSION" ;;
    helm) echo "$TOOLS_DIR/helm-v$HELM_VERSION" ;;
    promtool) echo "$TOOLS_DIR/promtool-v$PROMTOOL_VERSION-nosd" ;;
    kstatus) echo "$TOOLS_DIR/kstatus-v$KSTATUS_VERSION-${KSTATUS_HASH:?kstatus_prepare not called}" ;;
    moto | moto-python) echo "$TOOLS_DIR/moto-$MOTO_VERSION" ;;
    *) die "unknown tool '$1' (expected kube-apiserver, etcd, helm, kstatus, promtool, moto, moto-python)" ;;
  esac
}

tool_path() {
  local dir
  dir=$(tool_dir "$1")
  case $1 in
    kube-apiserver | etcd | helm | kstatus | promtool) echo "$dir/$1" ;;
    moto) echo "$dir/bin/moto_server" ;;
    moto-python) echo "$dir/bin/python" ;;
  esac
}

installed() { [[ -x $(tool_path "$1") ]]; }

need_go() {
  command -v go >/dev/null 2>&1 ||
    die "building $1 needs the Go toolchain ('go' not found on PATH; install Go >= 1.24)"
}

need_python() {
  command -v python3 >/dev/null 2>&1 ||
    die "installing $1 needs Python 3 ('python3' not found on PATH)"
  python3 -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null ||
    die "installing $1 needs python3 >= 3.9 with the venv module (python3 -m venv)"
}

# Settings for every Go build: module mode with go.mod updates allowed, no
# go.work from a parent directory, default GOCACHE/GOMODCACHE (shared, reused).
go_env() {
  export GOFLAGS=-mod=mod GOWORK=off GO111MODULE=on
}

# run_logged STEP LOG CMD...: run CMD appending to LOG; on failure name STEP,
# show the log's tail and exit non-zero.
run_logged() {
  local step=$1 logfile=$2
  shift 2
  printf '\n$ %s\n' "$*" >>"$logfile"
  if ! "$@" >>"$logfile" 2>&1; then
    log "$step failed (see log $logfile); last lines:"
    tail -n 20 "$logfile" | cut -c1-300 | sed 's/^/    /' >&2
    exit 1
  fi
}

# with_build NAME VERSION FUNC: if the tool is not installed yet, take the
# tool's lock, create a temp dir and call FUNC TMPDIR LOGFILE; FUNC leaves the
# finished tool in TMPDIR/out, which is then renamed into place.
with_build() {
  local name=$1 version=$2 func=$3 final lock tmp logfile start
  installed "$name" && return 0
  mkdir -p "$TOOLS_DIR" "$LOG_DIR"
  final=$(tool_dir "$name")
  lock=$TOOLS_DIR/.lock-$name
  exec {lockfd}>"$lock"
  if ! flock -n "$lockfd"; then
    log "waiting for another tools.sh building $name"
    flock "$lockfd"
  fi
  if installed "$name"; then
    exec {lockfd}>&-
    return 0
  fi
  # A failed or killed earlier attempt may have left a directory without the
  # binary, or a temporary build directory (we hold the lock: none is in use).
  rm -rf "$final" "$TOOLS_DIR/.build-$name-"*
  tmp=$(mktemp -d "$TOOLS_DIR/.build-$name-$version.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this tmp dir
  trap "rm -rf '$tmp'" EXIT
  trap 'exit 130' INT TERM
  logfile=$LOG_DIR/$name-$version.log
  : >"$logfile"
  start=$SECONDS
  log "building $name $version (log: $logfile)"
  "$func" "$tmp" "$logfile"
  chmod 755 "$tmp/out"
  mv -T "$tmp/out" "$final"
  rm -rf "$tmp"
  trap - EXIT INT TERM
  exec {lockfd}>&-
  installed "$name" || die "building $name $version: $(tool_path "$name") missing after build"
  log "built $name $version in $((SECONDS - start))s: $(tool_path "$name")"
}

# ---------------------------------------------------------------- kube-apiserver

build_kube_apiserver() {
  local tmp=$1 logfile=$2 step="building kube-apiserver v$K8S_VERSION"
  local staging_version gomod mods m ldflags minor
  need_go kube-apiserver
  go_env
  # Staging modules k8s.io/api etc. are released as v0.<minor>.<patch>.
  staging_version=v0.${K8S_VERSION#*.}
  minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  run_logged "$step: downloading k8s.io/kubernetes" "$logfile" \
    go mod download -json "k8s.io/kubernetes@v$K8S_VERSION"
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  [[ -r $gomod ]] || die "$step: cannot find go.mod of k8s.io/kubernetes@v$K8S_VERSION"
  # Every module that k8s.io/kubernetes replaces by ./staging/src/...
  mods=$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod")
  [[ -n $mods ]] || die "$step: no staging replace directives found in $gomod"
  mkdir -p "$tmp/src" "$tmp/out"
  {
    echo "module ecs-operator.local/tools/kube-apiserver"
    echo
    echo "go 1.24.0"
    echo
    # same default as k8s.io/kubernetes' own go.mod
    echo "godebug default=go1.24"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    for m in $mods; do
      echo "	$m => $m $staging_version"
    done
    echo ")"
  } >"$tmp/src/go.mod"
  cp "$tmp/src/go.mod" "$logfile.go.mod"
  # Version stamping as kubernetes' hack/lib/version.sh does it.
  ldflags="-s -w"
  for m in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $m.gitVersion=v$K8S_VERSION -X $m.gitMajor=1 -X $m.gitMinor=$minor"
    ldflags+=" -X $m.gitTreeState=clean -X $m.buildDate=1970-01-01T00:00:00Z"
  done
  (
    cd "$tmp/src"
    run_logged "$step: resolving modules" "$logfile" \
      go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION"
    run_logged "$step" "$logfile" \
      go build -trimpath -buildvcs=false -ldflags "$ldflags" \
      -o "$tmp/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  )
  run_logged "$step: checking the binary" "$logfile" "$tmp/out/kube-apiserver" --version
}

# ------------------------------------------------------------------------- etcd

build_etcd() {
  local tmp=$1 logfile=$2 step="building etcd v$ETCD_VERSION" gomod mods m
  need_go etcd
  go_env
  run_logged "$step: downloading go.etcd.io/etcd/server/v3" "$logfile" \
    go mod download -json "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  gomod=$(go mod download -json "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  [[ -r $gomod ]] || die "$step: cannot find go.mod of go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  # All go.etcd.io/etcd/* modules it names, pinned to the one version.
  mods=$( (echo go.etcd.io/etcd/server/v3
    sed -n 's#^[[:space:]]*\(go.etcd.io/etcd/[^[:space:]]*\)[[:space:]].*#\1#p' "$gomod") | sort -u)
  mkdir -p "$tmp/src" "$tmp/out"
  {
    echo "module ecs-operator.local/tools/etcd"
    echo
    echo "go 1.24.0"
    echo
    echo "require ("
    for m in $mods; do
      echo "	$m v$ETCD_VERSION"
    done
    echo ")"
    echo
    echo "replace ("
    for m in $mods; do
      echo "	$m => $m v$ETCD_VERSION"
    done
    echo ")"
  } >"$tmp/src/go.mod"
  cat >"$tmp/src/main.go" <<'EOF'
// etcd, as the upstream main package of go.etcd.io/etcd/v3 builds it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
  cp "$tmp/src/go.mod" "$logfile.go.mod"
  (
    cd "$tmp/src"
    run_logged "$step: resolving modules" "$logfile" go mod tidy
    run_logged "$step" "$logfile" \
      go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp/out/etcd" .
  )
  run_logged "$step: checking the binary" "$logfile" "$tmp/out/etcd" --version
}

# ------------------------------------------------------------------------- helm

build_helm() {
  local tmp=$1 logfile=$2 step="building helm v$HELM_VERSION" ldflags
  need_go helm
  go_env
  mkdir -p "$tmp/src" "$tmp/out"
  cat >"$tmp/src/go.mod" <<EOF
module ecs-operator.local/tools/helm

go 1.24.0

require helm.sh/helm/v3 v$HELM_VERSION
EOF
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  (
    cd "$tmp/src"
    run_logged "$step: resolving modules" "$logfile" \
      go get "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
    run_logged "$step" "$logfile" \
      go build -trimpath -buildvcs=false -ldflags "$ldflags" \
      -o "$tmp/out/helm" helm.sh/helm/v3/cmd/helm
  )
  run_logged "$step: checking the binary" "$logfile" "$tmp/out/helm" version --short
}

# ---------------------------------------------------------------------- kstatus

# From the wrapper module kept in hack/kstatus (go.mod, go.sum, main.go): built as is
# (-mod=readonly: go.sum is checked) when its go.mod requires sigs.k8s.io/cli-utils
# v$KSTATUS_VERSION; when KSTATUS_VERSION names another version (an override from the
# environment), a copy is moved to that version first.
build_kstatus() {
  local tmp=$1 logfile=$2 step="building kstatus (sigs.k8s.io/cli-utils v$KSTATUS_VERSION)"
  local f pinned got
  need_go kstatus
  go_env
  mkdir -p "$tmp/src" "$tmp/out"
  for f in "${KSTATUS_FILES[@]}"; do
    cp "$KSTATUS_SRC/$f" "$tmp/src/$f"
  done
  pinned=$(sed -n 's#^[[:space:]]*\(require[[:space:]]\+\)\{0,1\}sigs\.k8s\.io/cli-utils[[:space:]]\+v\([^[:space:]]*\).*#\2#p' "$tmp/src/go.mod")
  [[ -n $pinned ]] || die "$step: $KSTATUS_SRC/go.mod does not require sigs.k8s.io/cli-utils"
  (
    cd "$tmp/src"
    if [[ $pinned != "$KSTATUS_VERSION" ]]; then
      log "KSTATUS_VERSION=$KSTATUS_VERSION, hack/kstatus/go.mod has v$pinned: resolving v$KSTATUS_VERSION"
      run_logged "$step: resolving modules" "$logfile" \
        go get "sigs.k8s.io/cli-utils@v$KSTATUS_VERSION"
      run_logged "$step: resolving modules" "$logfile" go mod tidy
    fi
    run_logged "$step" "$logfile" \
      go build -mod=readonly -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp/out/kstatus" .
  )
  run_logged "$step: checking the binary" "$logfile" "$tmp/out/kstatus" --version
  got=$("$tmp/out/kstatus" --version)
  [[ $got == "kstatus sigs.k8s.io/cli-utils v$KSTATUS_VERSION" ]] ||
    die "$step: the binary says '$got', expected sigs.k8s.io/cli-utils v$KSTATUS_VERSION"
}

# --------------------------------------------------------------------- promtool

# promtool from the Go module github.com/prometheus/prometheus v$PROMTOOL_VERSION (the
# module of Prometheus v3.X.Y is tagged v0.3XX.Y), for `promtool check rules` and
# `promtool test rules` on the chart's PrometheusRule. v0.316.0's go.mod asks for Go
# 1.26.7: an older go fetches that toolchain from the module proxy (GOTOOLCHAIN=auto).
# Built with Prometheus's remove_all_sd tag: the rule checks need no service discovery,
# and leaving out the cloud SDKs it pulls in cuts a cold build on 2 cores from about 10
# minutes to about 2 1/2.
build_promtool() {
  local tmp=$1 logfile=$2 step="building promtool (github.com/prometheus/prometheus v$PROMTOOL_VERSION)"
  local ldflags release got
  need_go promtool
  go_env
  [[ $PROMTOOL_VERSION =~ ^0\.3([0-9][0-9])\.([0-9]+)$ ]] ||
    die "$step: PROMTOOL_VERSION=$PROMTOOL_VERSION is not a Prometheus 3 module version (0.3XX.Y)"
  release=3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}
  mkdir -p "$tmp/src" "$tmp/out"
  cat >"$tmp/src/go.mod" <<EOF
module ecs-operator.local/tools/promtool

go 1.24.0

require github.com/prometheus/prometheus v$PROMTOOL_VERSION
EOF
  ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
  ldflags+=" -X github.com/prometheus/common/version.Revision=v$PROMTOOL_VERSION"
  ldflags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  (
    cd "$tmp/src"
    run_logged "$step: resolving modules" "$logfile" \
      go get "github.com/prometheus/prometheus/cmd/promtool@v$PROMTOOL_VERSION"
    run_logged "$step" "$logfile" \
      go build -tags remove_all_sd -trimpath -buildvcs=false -ldflags "$ldflags" \
      -o "$tmp/out/promtool" github.com/prometheus/prometheus/cmd/promtool
  )
  run_logged "$step: checking the binary" "$logfile" "$tmp/out/promtool" --version
  got=$("$tmp/out/promtool" --version 2>&1 | head -n 1)
  [[ $got == *"version $release "* ]] ||
    die "$step: the binary says '$got', expected version $release"
}

# ------------------------------------------------------------------------- moto

# A virtualenv's scripts carry its absolute path, so it cannot be renamed into
# place. Instead it is built in a directory of its own that never moves, and
# moto-<version> becomes a symlink to it, renamed into place atomically.
install_moto() {
  local step="installing moto $MOTO_VERSION" final link venv logfile lock start
  installed moto && return 0
  need_python moto
  mkdir -p "$TOOLS_DIR" "$LOG_DIR"
  final=$(tool_dir moto)
  lock=$TOOLS_DIR/.lock-moto
  exec {lockfd}>"$lock"
  if ! flock -n "$lockfd"; then
    log "waiting for another tools.sh installing moto"
    flock "$lockfd"
  fi
  if installed moto; then
    exec {lockfd}>&-
    return 0
  fi
  rm -rf "$final"
  # Leftovers of earlier failed attempts (never pointed to by a symlink).
  rm -rf "$TOOLS_DIR/.moto-$MOTO_VERSION".*
  venv=$(mktemp -d "$TOOLS_DIR/.moto-$MOTO_VERSION.XXXXXX")
  chmod 755 "$venv"
  # shellcheck disable=SC2064  # expand now
  trap "rm -rf '$venv' '$final.new'" EXIT
  trap 'exit 130' INT TERM
  logfile=$LOG_DIR/moto-$MOTO_VERSION.log
  : >"$logfile"
  start=$SECONDS
  log "installing moto[server] $MOTO_VERSION and boto3 into a virtualenv (log: $logfile)"
  run_logged "$step: creating the virtualenv" "$logfile" python3 -m venv "$venv"
  run_logged "$step: pip install" "$logfile" \
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
    "moto[server]==$MOTO_VERSION" boto3
  run_logged "$step: checking the install" "$logfile" "$venv/bin/python" -c \
    'import boto3, moto, moto.server; print("moto", moto.__version__, "boto3", boto3.__version__)'
  [[ -x $venv/bin/moto_server ]] || die "$step: $venv/bin/moto_server missing after install"
  link=$final.new
  ln -sfn "$(basename "$venv")" "$link"
  mv -T "$link" "$final"
  trap - EXIT INT TERM
  exec {lockfd}>&-
  log "installed moto $MOTO_VERSION in $((SECONDS - start))s: $(tool_path moto)"
}

# ------------------------------------------------------------------------- main

install() {
  if [[ $1 == kstatus ]]; then
    kstatus_prepare
  fi
  case $1 in
    kube-apiserver | etcd | helm | kstatus | promtool)
      installed "$1" && return 0
      need_go "$1"
      ;;&
    kube-apiserver) with_build kube-apiserver "v$K8S_VERSION" build_kube_apiserver ;;
    etcd) with_build etcd "v$ETCD_VERSION" build_etcd ;;
    helm) with_build helm "v$HELM_VERSION" build_helm ;;
    kstatus) with_build kstatus "v$KSTATUS_VERSION" build_kstatus ;;
    promtool) with_build promtool "v$PROMTOOL_VERSION" build_promtool ;;
    moto) install_moto ;;
    all)
      install etcd
      install moto
      install kube-apiserver
      install helm
      install kstatus
      install promtool
      ;;
    *) die "unknown tool '$1' (expected kube-apiserver, etcd, helm, kstatus, promtool, moto or all)" ;;
  esac
}

usage() {
  cat >&2 <<EOF
usage: hack/tools.sh [kube-apiserver|etcd|helm|kstatus|promtool|moto|all]...
       hack/tools.sh path <kube-apiserver|etcd|helm|kstatus|promtool|moto|moto-python>
Tools dir: $TOOLS_DIR (set ECS_TOOLS_DIR to change it).
EOF
}

main() {
  case ${1:-all} in
    -h | --help | help) usage ;;
    path)
      [[ $# -eq 2 ]] || { usage; exit 2; }
      case $2 in
        kube-apiserver | etcd | helm | kstatus | promtool | moto | moto-python) ;;
        *) die "unknown tool '$2' (expected kube-apiserver, etcd, helm, kstatus, promtool, moto, moto-python)" ;;
      esac
      local p
      if [[ $2 == kstatus ]]; then
        kstatus_prepare
      fi
      p=$(tool_path "$2")
      if [[ ! -x $p ]]; then
        local t=$2
        [[ $t == moto-python ]] && t=moto
        die "$2 is not installed (expected $p); run hack/tools.sh $t"
      fi
      echo "$p"
      ;;
    *)
      local t
      for t in "${@:-all}"; do
        install "$t"
      done
      ;;
  esac
}

main "$@"; exit
