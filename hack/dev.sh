#!/usr/bin/env bash
# The quick start: a local cluster, Berth's CRDs and admission policies, the default catalogue of
# ClusterProvisioners, the operator running in the background (with a test-only
# stand-in for Crossplane), the examples applied and waited for.
#
# Usage: hack/dev.sh up|down|status [--help]
#   up      everything above; ends by listing the Workloads and Environments
#   down    stop the operator and the cluster
#   status  show the operator process and the objects
# The operator logs to .cluster/operator.log; its pid is in .cluster/operator.pid.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root"
state_dir="$repo_root/.cluster"
kubeconfig="$state_dir/kubeconfig"
pid_file="$state_dir/operator.pid"
log_file="$state_dir/operator.log"
python=${PYTHON:-$repo_root/.venv/bin/python}
kubectl() { "$repo_root/.bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
log() { printf '[dev] %s\n' "$*" >&2; }
die() { printf '[dev] ERROR: %s\n' "$*" >&2; exit 1; }

operator_running() { [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

start_operator() {
  if operator_running; then
    log "operator already running (pid $(cat "$pid_file"))"
    return
  fi
  log "starting the operator (log: $log_file)"
  KUBECONFIG="$kubeconfig" nohup "$python" -m berth run --kubeconfig "$kubeconfig" \
    --metrics-port "${BERTH_METRICS_PORT:-8080}" --health-port "${BERTH_HEALTH_PORT:-8081}" \
    >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  local i
  for i in $(seq 1 60); do
    if ! operator_running; then
      tail -n 30 "$log_file" >&2
      die "the operator exited; see $log_file"
    fi
    curl -fs "http://127.0.0.1:${BERTH_HEALTH_PORT:-8081}/healthz" >/dev/null 2>&1 && return
    sleep 0.5
  done
  die "the operator did not become healthy in 30s; see $log_file"
}

# Crossplane cannot run here: a test-only stand-in marks the example claims Ready and
# writes their connection Secrets, as Crossplane and its Compositions would.
composer_pid_file="$state_dir/composer.pid"
start_composer() {
  if [[ -f "$composer_pid_file" ]] && kill -0 "$(cat "$composer_pid_file")" 2>/dev/null; then
    return
  fi
  log "starting the test-only Crossplane stand-in (tests/composer.py)"
  nohup "$python" -m tests.composer --kubeconfig "$kubeconfig" >"$state_dir/composer.log" 2>&1 &
  echo $! >"$composer_pid_file"
}

stop_composer() {
  if [[ -f "$composer_pid_file" ]]; then
    kill "$(cat "$composer_pid_file")" 2>/dev/null || true
    rm -f "$composer_pid_file"
  fi
}

stop_operator() {
  if operator_running; then
    local pid
    pid=$(cat "$pid_file")
    log "stopping the operator (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

up() {
  local start=$SECONDS
  "$repo_root/hack/cluster.sh" up
  log "installing the CRDs (Berth's, and the claim kinds a Crossplane XRD would create)"
  kubectl apply --server-side --force-conflicts -f crds/ -f examples/claim-crds/ >/dev/null
  kubectl wait --for=condition=Established crd/workloads.berth.dev crd/environments.berth.dev \
    crd/clusterprovisioners.berth.dev >/dev/null
  log "installing the admission policies (admission/: a Workload is checked against its Environment's policy at kubectl apply, as the chart does)"
  kubectl apply --server-side --force-conflicts -f admission/policies.yaml >/dev/null
  log "applying the default catalogue (charts/berth/catalogue: a ClusterProvisioner per resource type)"
  kubectl apply --server-side --force-conflicts -f charts/berth/catalogue/ >/dev/null
  start_operator
  start_composer
  log "applying the Environment, then the Workloads in examples/"
  kubectl apply -f examples/environment.yaml
  kubectl wait --for=condition=Ready environment/team-a-dev --timeout=60s >/dev/null \
    || die "the Environment did not become Ready; see $log_file"
  local workloads=(examples/hello.yaml examples/checkout.yaml examples/shop.yaml)
  kubectl apply "${workloads[@]/#/-f}"
  log "waiting for the Workloads to become Ready"
  if ! kubectl -n team-a-dev wait --for=condition=Ready workloads --all --timeout=120s >/dev/null; then
    kubectl -n team-a-dev get workloads >&2
    die "not every Workload became Ready; 'kubectl describe workload' says why"
  fi
  log "ready in $((SECONDS - start))s. Try: export KUBECONFIG=$kubeconfig PATH=$repo_root/.bin:\$PATH"
  log "then: kubectl berth trace wl/shop -n team-a-dev   (the tree of a Workload: docs/guides/trace.md)"
  kubectl get workloads,environments -A
  echo
  kubectl -n team-a-dev get pods -o wide
}

case "${1:-}" in
  up) up ;;
  down) stop_composer; stop_operator; "$repo_root/hack/cluster.sh" down ;;
  status)
    if operator_running; then log "operator running (pid $(cat "$pid_file"))"; else log "operator not running"; fi
    kubectl get workloads,environments -A ;;
  -h|--help|help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
