#!/usr/bin/env bash
# A local Argo CD against the local cluster: its CRDs and config maps applied to the
# cluster (namespace argocd), the application controller, the ApplicationSet controller
# and the repo server running as local processes on loopback (one `argocd` binary, built by `make test-tools`, that
# serves each component by the name in ARGOCD_BINARY_NAME), and a Redis from the
# machine's packages (Debian's redis-server, installed when absent). Berth's health
# checks go into argocd-cm exactly as charts/berth/README.md tells users to paste them.
# Git repositories are read from file:// URLs; no API server, UI or Dex runs.
#
# Usage: hack/argocd.sh up|down|status [--help]
#   up      start Argo CD (a no-op when it is already up)
#   down    stop every process `up` started, by pid, and remove their state
#   status  say whether it is up (exit 0) or not (exit 1)
# Environment:
#   BERTH_CLUSTER_DIR      cluster state directory, as for hack/cluster.sh (default:
#                          <repo>/.cluster); the kubeconfig is $BERTH_CLUSTER_DIR/kubeconfig
#   BERTH_ARGOCD_KUBECONFIG  the kubeconfig to use instead
#   BERTH_ARGOCD_DIR       Argo CD's state: pids, ports, logs (default: $BERTH_CLUSTER_DIR/argocd)
#   BERTH_ARGOCD_RESYNC    seconds between refreshes of every Application (default: 10)
#   BERTH_ARGOCD_SELF_HEAL_TIMEOUT  seconds a self-heal waits after a sync (default: 5,
#                          Argo CD 2's default); 0: Argo CD 3's backoff, first retry at once
#   BERTH_BIN_DIR          where argocd and kubectl are (default: <repo>/.bin)
# `up` writes $BERTH_ARGOCD_DIR/env (ports and pids, shell syntax) and logs there.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cluster_dir=${BERTH_CLUSTER_DIR:-$repo_root/.cluster}
kubeconfig=${BERTH_ARGOCD_KUBECONFIG:-$cluster_dir/kubeconfig}
state_dir=${BERTH_ARGOCD_DIR:-$cluster_dir/argocd}
resync=${BERTH_ARGOCD_RESYNC:-10}
self_heal_timeout=${BERTH_ARGOCD_SELF_HEAL_TIMEOUT:-5}
bin_dir=${BERTH_BIN_DIR:-$repo_root/.bin}
namespace=argocd
chart_readme="$repo_root/charts/berth/README.md"
components=(redis repo-server application-controller applicationset-controller)

log() { printf '[argocd] %s\n' "$*" >&2; }
die() { printf '[argocd] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

kubectl() { "$bin_dir/kubectl" --kubeconfig "$kubeconfig" "$@"; }

pid_of() { [[ -f "$state_dir/$1.pid" ]] && cat "$state_dir/$1.pid"; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }

is_up() {
  local c
  for c in "${components[@]}"; do alive "$c" || return 1; done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Debian's redis-server, installed when the machine has none. Its package would start
# a system-wide server of its own through invoke-rc.d; a policy-rc.d that denies
# every start (put there only for the install, and only when there is none) stops that.
ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  command -v apt-get >/dev/null || die "redis-server is not installed and there is no apt-get to install it"
  log "installing redis-server from Debian's packages (apt-get)..."
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  local rc=0
  { apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq redis-server; } \
    >"$state_dir/apt.log" 2>&1 || rc=$?
  [[ $own_policy == 1 ]] && rm -f "$policy"
  [[ $rc == 0 ]] || { tail -n 20 "$state_dir/apt.log" >&2; die "could not install redis-server (see $state_dir/apt.log)"; }
  log "redis-server installed"
}

# start NAME CMD... : run CMD in the background, detached from our stdio, pid in NAME.pid.
start() {
  local name=$1; shift
  nohup "$@" </dev/null >"$state_dir/$name.log" 2>&1 &
  echo $! >"$state_dir/$name.pid"
}

# wait_until NAME SECONDS CMD... : poll CMD until it succeeds; fail if NAME dies or time runs out.
wait_until() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 30 "$state_dir/$name.log" >&2
      die "$name exited (log: $state_dir/$name.log)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 30 "$state_dir/$name.log" >&2
      die "$name was not ready in ${timeout}s (log: $state_dir/$name.log)"
    fi
    sleep 0.5
  done
}

http_ok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }

crd_dir() {
  # The CRDs of exactly the Argo CD version `make test-tools` built, from the module cache.
  local version
  version=$(sed -n 's/^ARGOCD_VERSION=\([^ ]*\).*/\1/p' "$repo_root/hack/test-tools.sh")
  local dir
  dir="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go env GOMODCACHE)/github.com/argoproj/argo-cd/v3@$version/manifests/crds"
  [[ -f "$dir/application-crd.yaml" ]] || die "Argo CD's CRDs are not in the module cache ($dir): run 'make test-tools' first"
  echo "$dir"
}

# The argocd-cm ConfigMap exactly as the chart README shows it (the ```yaml block
# that names argocd-cm), so that what users paste is what runs here.
readme_argocd_cm() {
  awk '
    /^```yaml$/ { inside = 1; block = ""; next }
    inside && /^```$/ { if (block ~ /\n  name: argocd-cm\n/) { printf "%s", block; found = 1; exit } inside = 0; next }
    inside { block = block $0 "\n" }
    END { if (!found) exit 1 }
  ' "$chart_readme"
}

apply_cluster_objects() {
  local dir
  dir=$(crd_dir)
  log "applying Argo CD's CRDs (Application, ApplicationSet, AppProject) and config maps to namespace $namespace..."
  # The Application CRD is too large for a client-side apply's annotation.
  kubectl apply --server-side --force-conflicts --field-manager=berth-argocd \
    -f "$dir/application-crd.yaml" -f "$dir/applicationset-crd.yaml" \
    -f "$dir/appproject-crd.yaml" >/dev/null
  # (kubectl wait errors out, rather than waits, while a new CRD has no conditions yet.)
  local i
  for i in $(seq 1 120); do
    kubectl wait --for=condition=Established --timeout=30s \
      crd/applications.argoproj.io crd/applicationsets.argoproj.io \
      crd/appprojects.argoproj.io >/dev/null 2>&1 && break
    ((i < 120)) || die "Argo CD's CRDs did not become Established"
    sleep 0.5
  done
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

  local cm
  cm=$(readme_argocd_cm) || die "no argocd-cm block found in $chart_readme"
  # Applied as it is, under a field manager of its own; our local settings go on top
  # under another, so neither overwrites the other.
  kubectl apply --server-side --force-conflicts --field-manager=berth-chart-readme -f - <<<"$cm" >/dev/null
  kubectl apply --server-side --force-conflicts --field-manager=berth-argocd -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: $namespace
  labels:
    app.kubernetes.io/part-of: argocd
data:
  timeout.reconciliation: ${resync}s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: $namespace
  labels:
    app.kubernetes.io/part-of: argocd
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: $namespace
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
EOF
  # The settings Argo CD reads need argocd-secret with a server signature key (used by
  # the API server, which does not run here); created once, never printed.
  if ! kubectl -n "$namespace" get secret argocd-secret >/dev/null 2>&1; then
    kubectl -n "$namespace" create secret generic argocd-secret \
      --from-literal=server.secretkey="$(head -c 32 /dev/urandom | base64)" \
      --dry-run=client -o yaml \
      | kubectl label --local -f - app.kubernetes.io/part-of=argocd -o yaml \
      | kubectl apply -f - >/dev/null
  fi
}

up() {
  [[ -x "$bin_dir/argocd" ]] || die "argocd not found in $bin_dir: run 'make test-tools' first"
  [[ -x "$bin_dir/kubectl" ]] || die "kubectl not found in $bin_dir: run 'make tools' first"
  [[ -f "$kubeconfig" ]] || die "no kubeconfig at $kubeconfig: start the cluster first (make cluster)"
  kubectl --request-timeout=5s get --raw /readyz >/dev/null 2>&1 || die "the cluster of $kubeconfig is not up"
  command -v git >/dev/null || die "git is needed by the repo server"
  if is_up; then
    log "Argo CD is already up ($state_dir)"
    return
  fi
  # Leftovers of an Argo CD that died: stop what still runs, then start afresh.
  down quiet
  mkdir -p "$state_dir"/{tmp,home,tls,ssh,gpg,plugins}
  # A start that fails half-way stops what it had started (the logs stay for a look).
  trap 'if (($? != 0)); then stop_processes quiet; log "stopped what had started; logs in $state_dir"; fi' EXIT
  ensure_redis
  local start_time=$SECONDS
  apply_cluster_objects

  local redis_port repo_port repo_metrics_port controller_metrics_port
  redis_port=$(free_port)
  repo_port=$(free_port)
  repo_metrics_port=$(free_port)
  controller_metrics_port=$(free_port)
  local redis_addr=127.0.0.1:$redis_port repo_addr=127.0.0.1:$repo_port

  log "starting redis-server on $redis_addr..."
  start redis redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$state_dir" --protected-mode yes
  wait_until redis 30 redis-cli -h 127.0.0.1 -p "$redis_port" ping

  # Every path a component would write outside this directory is pointed into it.
  local -a common_env=(
    HOME="$state_dir/home" TMPDIR="$state_dir/tmp"
    ARGOCD_TLS_DATA_PATH="$state_dir/tls" ARGOCD_SSH_DATA_PATH="$state_dir/ssh"
    ARGOCD_GPG_ENABLED=false ARGOCD_GNUPGHOME="$state_dir/gpg" ARGOCD_GPG_DATA_PATH="$state_dir/gpg"
    ARGOCD_PLUGINSOCKFILEPATH="$state_dir/plugins" ARGOCD_ASK_PASS_SOCK="$state_dir/askpass.sock"
  )
  log "starting the repo server on $repo_addr..."
  start repo-server env "${common_env[@]}" ARGOCD_BINARY_NAME=argocd-repo-server \
    "$bin_dir/argocd" --logformat text --address 127.0.0.1 --port "$repo_port" \
    --metrics-address 127.0.0.1 --metrics-port "$repo_metrics_port" --disable-tls \
    --redis "$redis_addr" --revision-cache-expiration "${resync}s"
  wait_until repo-server 60 http_ok "http://127.0.0.1:$repo_metrics_port/healthz?full=true"

  log "starting the application controller (refresh every ${resync}s)..."
  # ARGOCD_FAKE_IN_CLUSTER: the in-cluster destination (https://kubernetes.default.svc)
  # is reached through $KUBECONFIG instead of a Pod's service account.
  # Self-heal: Argo CD 3 retries at once after a sync, and its cluster cache can lag
  # behind its own apply, so a resource it has just applied may look OutOfSync for a
  # moment and be applied again ("unchanged"). A self-heal timeout (Argo CD 2's
  # default of 5s, in place of the backoff) lets the cache catch up first; a real
  # drift is still healed, 5s later.
  local -a self_heal=(--self-heal-timeout-seconds "$self_heal_timeout" --self-heal-backoff-timeout-seconds 0)
  ((self_heal_timeout > 0)) || self_heal=()
  # --persist-resource-health: each resource's health (and its message, e.g. Berth's
  # Stalled message) is kept in the Application's status, where kubectl shows it;
  # without it only Argo CD's API server and UI, which do not run here, could.
  start application-controller env "${common_env[@]}" ARGOCD_BINARY_NAME=argocd-application-controller \
    ARGOCD_FAKE_IN_CLUSTER=true KUBECONFIG="$kubeconfig" \
    "$bin_dir/argocd" --logformat text --kubeconfig "$kubeconfig" --namespace "$namespace" \
    --repo-server "$repo_addr" --repo-server-plaintext --redis "$redis_addr" \
    --metrics-port "$controller_metrics_port" \
    --app-resync "$resync" --app-resync-jitter 0 --status-processors 4 --operation-processors 2 \
    --persist-resource-health "${self_heal[@]}"
  wait_until application-controller 60 http_ok "http://127.0.0.1:$controller_metrics_port/healthz"

  # The ApplicationSet controller (generators: one Application per directory of a git
  # repository, for preview environments), reading git through the same repo server.
  local appset_metrics_port appset_probe_port appset_webhook_port
  appset_metrics_port=$(free_port)
  appset_probe_port=$(free_port)
  appset_webhook_port=$(free_port)
  log "starting the ApplicationSet controller..."
  start applicationset-controller env "${common_env[@]}" ARGOCD_BINARY_NAME=argocd-applicationset-controller \
    KUBECONFIG="$kubeconfig" \
    "$bin_dir/argocd" --logformat text --kubeconfig "$kubeconfig" --namespace "$namespace" \
    --argocd-repo-server "$repo_addr" --repo-server-plaintext \
    --metrics-addr "127.0.0.1:$appset_metrics_port" --probe-addr "127.0.0.1:$appset_probe_port" \
    --webhook-addr "127.0.0.1:$appset_webhook_port" --enable-scm-providers=false
  # (It registers no health check: its metrics endpoint answers once its manager runs.)
  wait_until applicationset-controller 60 http_ok "http://127.0.0.1:$appset_metrics_port/metrics"

  cat >"$state_dir/env" <<EOF
ARGOCD_NAMESPACE=$namespace
ARGOCD_KUBECONFIG=$kubeconfig
ARGOCD_RESYNC_SECONDS=$resync
ARGOCD_SELF_HEAL_TIMEOUT_SECONDS=$self_heal_timeout
ARGOCD_REDIS_ADDR=$redis_addr
ARGOCD_REPO_SERVER_ADDR=$repo_addr
ARGOCD_REPO_SERVER_METRICS_PORT=$repo_metrics_port
ARGOCD_CONTROLLER_METRICS_PORT=$controller_metrics_port
ARGOCD_REDIS_PID=$(pid_of redis)
ARGOCD_REPO_SERVER_PID=$(pid_of repo-server)
ARGOCD_CONTROLLER_PID=$(pid_of application-controller)
ARGOCD_APPLICATIONSET_PID=$(pid_of applicationset-controller)
EOF
  trap - EXIT
  log "Argo CD is up in $((SECONDS - start_time))s (namespace $namespace, logs in $state_dir)"
}

# Stop by pid, newest first: TERM, then KILL after 10s. Sets `stopped` when one ran.
stopped=0
stop_processes() {
  local quiet=${1:-}
  local -a order=(applicationset-controller application-controller repo-server redis)
  local c pid i
  for c in "${order[@]}"; do
    pid=$(pid_of "$c") || continue
    if kill -0 "$pid" 2>/dev/null; then
      [[ -n $quiet ]] || log "stopping $c (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then
        log "$c (pid $pid) did not stop in 10s; killing it"
        kill -9 "$pid" 2>/dev/null || true
      fi
      stopped=1
    fi
    rm -f "$state_dir/$c.pid"
  done
}

down() {
  local quiet=${1:-}
  stop_processes "$quiet"
  if [[ -d $state_dir ]]; then
    # The repo server's git checkouts are written read-only; make them removable.
    chmod -R u+w "$state_dir" 2>/dev/null || true
    rm -rf "$state_dir"
  fi
  [[ -n $quiet ]] || { [[ $stopped == 1 ]] && log "Argo CD is down" || log "Argo CD was not running"; }
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if is_up; then log "Argo CD is up ($state_dir)"; else log "Argo CD is down"; exit 1; fi ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
