#!/usr/bin/env bash
# Build the local control plane's tools (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok, helm) from their Go modules into a version-keyed
# cache outside the checkout, then link them into .bin/. That is all `make dev` needs;
# the tools only tests need (Argo CD, Prometheus) are hack/test-tools.sh's.
#
# Every tool is built in a small wrapper module of its own, so that the exact
# versions (and, for Kubernetes, the staging-module replacements) are pinned here
# and nowhere else. A second run with everything cached takes seconds.
#
# Usage: hack/tools.sh [--help]
# Environment:
#   BERTH_TOOLS_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/berth/tools)
#   BERTH_BIN_DIR       where the links go (default: <repo>/.bin)
set -euo pipefail

KUBE_VERSION=v1.36.3        # k8s.io/kubernetes; staging modules are v0.<minor>.<patch>
ETCD_VERSION=v3.6.16        # go.etcd.io/etcd/server/v3
KWOK_VERSION=v0.8.0         # sigs.k8s.io/kwok (kwok and kwokctl)
HELM_VERSION=v3.22.0        # helm.sh/helm/v3

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

repo_root=$(cd "$(dirname "$0")/.." && pwd)
go_version=$(go env GOVERSION)
cache_root=${BERTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/tools}
key="kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_${go_version}"
cache_dir="$cache_root/$key"
bin_dir=${BERTH_BIN_DIR:-$repo_root/.bin}
work_dir="$cache_dir/src"
mkdir -p "$cache_dir/bin" "$work_dir" "$bin_dir"

# shellcheck source=hack/lib/go-tools.sh
source "$repo_root/hack/lib/go-tools.sh"

log() { printf '[tools] %s\n' "$*" >&2; }
fail() { printf '[tools] FAILED: %s\n' "$*" >&2; exit 1; }

# build NAME OUTPUTS... -- runs the function build_NAME unless every output exists.
build() {
  local name=$1; shift
  local missing=0 out
  for out in "$@"; do [[ -x "$cache_dir/bin/$out" ]] || missing=1; done
  if [[ $missing == 0 ]]; then
    log "$name: cached ($*)"
    return
  fi
  log "$name: building $* (this can take several minutes on a cold cache)..."
  local start=$SECONDS logf="$cache_dir/build-$name.log"
  if ! "build_$name" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    fail "$name: see $logf"
  fi
  log "$name: done in $((SECONDS - start))s"
}

build_kubernetes() {
  local dir="$work_dir/kubernetes"
  wrapper "$dir" k8s.io/kubernetes "$KUBE_VERSION"
  # k8s.io/kubernetes points its staging modules at ./staging/...; a consumer must
  # replace each with its published v0.x version. Derive the list from its go.mod.
  local gomod staging_version="v0${KUBE_VERSION#v1}"
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f "$gomod" ]] || { echo "cannot find go.mod of k8s.io/kubernetes@$KUBE_VERSION"; return 1; }
  local mods
  mods=$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  [[ -n "$mods" ]] || { echo "no staging replacements found in $gomod"; return 1; }
  echo "replacing $(wc -l <<<"$mods") staging modules with $staging_version"
  {
    echo
    echo "replace ("
    while read -r m; do echo "  $m => $m $staging_version"; done <<<"$mods"
    echo ")"
  } >>"$dir/go.mod"
  # Stamp the version so that `kubectl version` and /version tell the truth.
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$cache_dir/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local dir="$work_dir/etcd"
  wrapper "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$cache_dir/bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  local dir="$work_dir/kwok"
  wrapper "$dir" sigs.k8s.io/kwok "$KWOK_VERSION"
  local ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$cache_dir/bin/" \
    sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl)
}

build_helm() {
  local dir="$work_dir/helm"
  wrapper "$dir" helm.sh/helm/v3 "$HELM_VERSION"
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$cache_dir/bin/helm" helm.sh/helm/v3/cmd/helm)
}

total_start=$SECONDS
log "cache: $cache_dir"
build etcd etcd
build kwok kwok kwokctl
build helm helm
build kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl

for tool in "$cache_dir"/bin/*; do
  ln -sfn "$tool" "$bin_dir/$(basename "$tool")"
done

log "control plane tools ready in $bin_dir ($((SECONDS - total_start))s)"
