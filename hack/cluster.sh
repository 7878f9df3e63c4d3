#!/usr/bin/env bash
# A real local Kubernetes control plane on loopback: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler built from their Go modules (see
# hack/tools.sh), run by kwokctl's binary runtime, with kwok playing the kubelet
# for a few fake nodes so Pods get scheduled and become Running and Ready.
#
# Usage: hack/cluster.sh up|down|status [--help]
#   up      start the cluster (a no-op when it is already up)
#   down    stop every process of the cluster and remove its state
#   status  say whether it is up (exit 0) or not (exit 1)
# Environment:
#   BERTH_CLUSTER_NAME   cluster name (default: berth)
#   BERTH_CLUSTER_DIR    state directory (default: <repo>/.cluster); the kubeconfig
#                        is written to $BERTH_CLUSTER_DIR/kubeconfig
#   BERTH_NODES          number of kwok nodes (default: 3; 6 in the bench profile)
#   BERTH_PODS_PER_NODE  Pods each kwok node takes (default: kwok's 110; 2000 in the
#                        bench profile, with a /21 Pod range per node to match)
#   BERTH_PROFILE=bench  sized for `make bench`: 12,000 Pods (10,000 Workloads: the
#                        floor's, then Berth's), beside the /16 Service range
#   BERTH_USE_KIND=1     on a machine with Docker and kind, use a kind cluster instead
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
name=${BERTH_CLUSTER_NAME:-berth}
state_dir=${BERTH_CLUSTER_DIR:-$repo_root/.cluster}
profile=${BERTH_PROFILE:-}
case "$profile" in
  "") default_nodes=3 default_pods= ;;
  bench) default_nodes=6 default_pods=2000 ;;
  *) printf '[cluster] ERROR: unknown BERTH_PROFILE %s (known: bench)\n' "$profile" >&2; exit 2 ;;
esac
nodes=${BERTH_NODES:-$default_nodes}
pods_per_node=${BERTH_PODS_PER_NODE:-$default_pods}
bin_dir=${BERTH_BIN_DIR:-$repo_root/.bin}
kubeconfig="$state_dir/kubeconfig"
export KWOK_WORKDIR="$state_dir/kwok"
# kwokctl has no flag for kubectl; it reads this instead of downloading one.
export KWOK_KUBECTL_BINARY="$bin_dir/kubectl"
export PATH="$bin_dir:$PATH"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

is_up() {
  [[ -f "$kubeconfig" ]] && kubectl --kubeconfig "$kubeconfig" --request-timeout=3s \
    get --raw /readyz >/dev/null 2>&1
}

need_tools() {
  local t
  for t in kwokctl kwok etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$bin_dir/$t" ]] || die "$t not found in $bin_dir: run 'make tools' first"
  done
}

up_kind() {
  command -v kind >/dev/null || die "BERTH_USE_KIND=1 but kind is not installed"
  if ! kind get clusters 2>/dev/null | grep -qx "$name"; then
    kind create cluster --name "$name" --kubeconfig "$kubeconfig" --wait 120s
  fi
  kind get kubeconfig --name "$name" >"$kubeconfig"
}

up() {
  mkdir -p "$state_dir"
  if is_up; then
    log "cluster '$name' is already up ($kubeconfig)"
    return
  fi
  if [[ "${BERTH_USE_KIND:-}" == 1 ]]; then
    up_kind
    log "kind cluster '$name' is up; kubeconfig: $kubeconfig"
    return
  fi
  need_tools
  # Leftovers of a cluster that died (a reboot, a killed session): clear them.
  if [[ -d "$KWOK_WORKDIR/clusters/$name" ]]; then
    log "removing the state of a cluster '$name' that is no longer running"
    kwokctl --name "$name" delete cluster >/dev/null 2>&1 || true
    rm -rf "$KWOK_WORKDIR/clusters/$name"
  fi
  local start=$SECONDS
  log "starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok..."
  # Fast heartbeats keep kwok's node leases cheap; no QPS limits so that the
  # controller-manager reacts at once on this small machine. kwok gets our failure
  # Stages (hack/kwok-stages.yaml) as a second config, beside its default ones.
  kwokctl --name "$name" --config "$repo_root/hack/kwokctl.yaml" create cluster \
    --runtime binary \
    --kubeconfig "$kubeconfig" \
    --etcd-binary "$bin_dir/etcd" \
    --kube-apiserver-binary "$bin_dir/kube-apiserver" \
    --kube-controller-manager-binary "$bin_dir/kube-controller-manager" \
    --kube-scheduler-binary "$bin_dir/kube-scheduler" \
    --kwok-controller-binary "$bin_dir/kwok" \
    --disable-qps-limits \
    --extra-args "kwok-controller=config=$repo_root/hack/kwok-stages.yaml" \
    --wait 120s \
    >"$state_dir/create-$name.log" 2>&1 || {
      tail -n 40 "$state_dir/create-$name.log" >&2
      die "kwokctl could not create the cluster (full log: $state_dir/create-$name.log)"
    }
  log "control plane up in $((SECONDS - start))s; adding $nodes kwok nodes..."
  local params=()
  if [[ -n "$pods_per_node" ]]; then
    # kwok gives each node's Pods addresses from the node's own range: a /24 holds 254.
    params=(--param ".allocatable.pods=$pods_per_node" --param '.podCIDRs=["10.128.0.0/21"]')
  fi
  kwokctl --name "$name" scale node --replicas "$nodes" "${params[@]}" >>"$state_dir/create-$name.log" 2>&1 \
    || die "could not add nodes (see $state_dir/create-$name.log)"
  kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready node --all --timeout=120s >/dev/null \
    || die "the kwok nodes did not become Ready"
  # The default ServiceAccount appears asynchronously; Pods cannot be created before it.
  local i
  for i in $(seq 1 60); do
    kubectl --kubeconfig "$kubeconfig" -n default get serviceaccount default >/dev/null 2>&1 && break
    sleep 1
  done
  log "cluster '$name' is up in $((SECONDS - start))s with $nodes nodes; kubeconfig: $kubeconfig"
}

down() {
  if [[ "${BERTH_USE_KIND:-}" == 1 ]]; then
    kind delete cluster --name "$name" || true
    rm -f "$kubeconfig"
    return
  fi
  local dir="$KWOK_WORKDIR/clusters/$name"
  if [[ ! -d "$dir" ]]; then
    log "cluster '$name' is not running"
    rm -f "$kubeconfig"
    return
  fi
  log "stopping cluster '$name'..."
  # Note every component's pid before kwokctl removes the pid files: it stops etcd
  # too, and an API server that lost etcd can hang in its graceful shutdown.
  local pidfile pid
  local -A pids=()
  for pidfile in "$dir"/pids/*.pid; do
    [[ -f "$pidfile" ]] && pids[$(basename "$pidfile" .pid)]=$(cat "$pidfile")
  done
  # The API server first, while etcd still answers: its shutdown then completes.
  if [[ -n "${pids[kube-apiserver]:-}" ]]; then
    kill "${pids[kube-apiserver]}" 2>/dev/null || true
  fi
  [[ -x "$bin_dir/kwokctl" ]] && kwokctl --name "$name" delete cluster >/dev/null 2>&1 || true
  # kwokctl stops its components by pid; make sure not one survived.
  local component
  for component in "${!pids[@]}"; do
    pid=${pids[$component]}
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping leftover process $pid ($component)"
      kill "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir" "$kubeconfig"
  log "cluster '$name' is down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if is_up; then log "cluster '$name' is up ($kubeconfig)"; else log "cluster '$name' is down"; exit 1; fi ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
