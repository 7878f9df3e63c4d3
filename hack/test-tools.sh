#!/usr/bin/env bash
# Build the tools only the tests need from their Go modules, each into a version-keyed
# cache directory of its own, then link them into .bin/:
#   argocd               one binary that serves every Argo CD component (hack/argocd.sh)
#   prometheus promtool  a real Prometheus for the alerting e2e test, and the rules'
#                        unit-test runner (`promtool test rules`)
# The control plane (hack/tools.sh, `make tools`) is all `make dev` needs; these are on
# the path of `make test` alone. Same rules as hack/tools.sh: GOTOOLCHAIN=local, the
# module proxy without "direct", a wrapper module per tool, CGO off, under `nice`.
# A second run with everything cached takes a second.
#
# Usage: hack/test-tools.sh [--help] [argocd|prometheus]...   (default: both)
# Environment:
#   BERTH_TOOLS_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/berth/tools)
#   BERTH_BIN_DIR       where the links go (default: <repo>/.bin)
set -euo pipefail

# github.com/argoproj/argo-cd/v3. v3.2.12 as published does not compile
# (settings.ValidateExternalURL undefined in controller/cache), and v3.3+ points
# gitops-engine at a local directory that the module does not carry.
ARGOCD_VERSION=v3.2.11
# github.com/prometheus/prometheus: the module's v0.3MM.P is Prometheus v3.MM.P.
PROMETHEUS_VERSION=v0.316.0

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

repo_root=$(cd "$(dirname "$0")/.." && pwd)
go_version=$(go env GOVERSION)
cache_root=${BERTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/tools}
bin_dir=${BERTH_BIN_DIR:-$repo_root/.bin}
mkdir -p "$bin_dir"

# shellcheck source=hack/lib/go-tools.sh
source "$repo_root/hack/lib/go-tools.sh"

log() { printf '[test-tools] %s\n' "$*" >&2; }
fail() { printf '[test-tools] FAILED: %s\n' "$*" >&2; exit 1; }

# build NAME CACHE_DIR OUTPUTS... -- runs build_NAME CACHE_DIR unless every output is
# there, then links the outputs into $bin_dir. The build writes into CACHE_DIR/bin.new
# and renames it, so an interrupted build never leaves a half-built tool that looks cached.
build() {
  local name=$1 dir=$2; shift 2
  local missing=0 out
  for out in "$@"; do [[ -x "$dir/bin/$out" ]] || missing=1; done
  if [[ $missing == 0 ]]; then
    log "$name: cached ($*)"
  else
    log "$name: building $* into $dir (several minutes on a cold cache)..."
    local start=$SECONDS logf="$dir/build-$name.log"
    mkdir -p "$dir"
    rm -rf "$dir/bin.new" && mkdir -p "$dir/bin.new"
    if ! "build_$name" "$dir" >"$logf" 2>&1; then
      tail -n 30 "$logf" >&2
      fail "$name: see $logf"
    fi
    rm -rf "$dir/bin" && mv "$dir/bin.new" "$dir/bin"
    log "$name: done in $((SECONDS - start))s ($(cd "$dir/bin" && du -sh "$@" | tr '\t\n' '= ' | sed 's/ $//'))"
  fi
  for out in "$@"; do ln -sfn "$dir/bin/$out" "$bin_dir/$out"; done
}

# Argo CD copies its go.mod's whole replace block (the k8s.io staging modules pinned
# to one v0.x, and a few others): a consumer module must repeat it to get the same
# dependency graph the release was built and tested with.
build_argocd() {
  local cache_dir=$1 dir=$1/src/argocd
  wrapper "$dir" github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION"
  local gomod
  gomod=$(cd "$dir" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f "$gomod" ]] || { echo "cannot find go.mod of argo-cd@$ARGOCD_VERSION"; return 1; }
  local block
  block=$(sed -n '/^replace (/,/^)/p' "$gomod")
  [[ -n "$block" ]] || { echo "no replace block found in $gomod"; return 1; }
  echo "copying $(grep -c '=>' <<<"$block") replace directives from $gomod"
  printf '\n%s\n' "$block" >>"$dir/go.mod"
  local pkg=github.com/argoproj/argo-cd/v3/common
  local ld="-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.gitTag=$ARGOCD_VERSION"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  (cd "$dir" && nice -n 10 go build -trimpath -ldflags "$ld" -o "$cache_dir/bin.new/argocd" \
    github.com/argoproj/argo-cd/v3/cmd)
}

# Prometheus's go.mod has no replace block; its web UI is left out (the builtinassets
# tag is off), which leaves the HTTP API, all the tests use, whole.
build_prometheus() {
  local cache_dir=$1 dir=$1/src/prometheus
  wrapper "$dir" github.com/prometheus/prometheus "$PROMETHEUS_VERSION"
  local minor=${PROMETHEUS_VERSION#v0.3}; minor=${minor%%.*}
  local patch=${PROMETHEUS_VERSION##*.}
  local pkg=github.com/prometheus/common/version
  local ld="-s -w -X $pkg.Version=3.$((10#$minor)).$patch -X $pkg.Revision=$PROMETHEUS_VERSION"
  ld+=" -X $pkg.Branch=module -X $pkg.BuildUser=berth -X $pkg.BuildDate=19700101-00:00:00"
  (cd "$dir" && nice -n 10 go build -trimpath -ldflags "$ld" -o "$cache_dir/bin.new/" \
    github.com/prometheus/prometheus/cmd/prometheus \
    github.com/prometheus/prometheus/cmd/promtool)
}

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(argocd prometheus)
total_start=$SECONDS
for tool in "${wanted[@]}"; do
  case $tool in
    argocd) build argocd "$cache_root/argocd-${ARGOCD_VERSION}_${go_version}" argocd ;;
    prometheus) build prometheus "$cache_root/prometheus-${PROMETHEUS_VERSION}_${go_version}" prometheus promtool ;;
    *) fail "unknown tool '$tool' (argocd, prometheus; --help)" ;;
  esac
done
log "${wanted[*]} ready in $bin_dir ($((SECONDS - total_start))s)"
