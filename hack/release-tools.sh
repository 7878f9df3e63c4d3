#!/usr/bin/env bash
# Build the image and release tools from their Go modules into a version-keyed cache
# of their own (apart from hack/tools.sh's control-plane tools), then link them into
# .bin/:
#   crane       go-containerregistry's image tool: assembles, pushes and pulls images,
#               and `crane registry serve` is the loopback registry of the tests
#   actionlint  the GitHub Actions workflow linter
# Same rules as hack/tools.sh: GOTOOLCHAIN=local, the module proxy without "direct",
# one wrapper module per tool, built under `nice`. A second run takes a second.
#
# Usage: hack/release-tools.sh [--help]
# Environment:
#   BERTH_TOOLS_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/berth/tools)
#   BERTH_BIN_DIR       where the links go (default: <repo>/.bin)
set -euo pipefail

GGCR_VERSION=v0.22.1        # github.com/google/go-containerregistry (crane)
ACTIONLINT_VERSION=v1.7.12  # github.com/rhysd/actionlint

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

repo_root=$(cd "$(dirname "$0")/.." && pwd)
go_version=$(go env GOVERSION)
cache_root=${BERTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/tools}
key="release_ggcr-${GGCR_VERSION}_actionlint-${ACTIONLINT_VERSION}_${go_version}"
cache_dir="$cache_root/$key"
bin_dir=${BERTH_BIN_DIR:-$repo_root/.bin}
work_dir="$cache_dir/src"
mkdir -p "$cache_dir/bin" "$work_dir" "$bin_dir"

# shellcheck source=hack/lib/go-tools.sh
source "$repo_root/hack/lib/go-tools.sh"

log() { printf '[release-tools] %s\n' "$*" >&2; }
fail() { printf '[release-tools] FAILED: %s\n' "$*" >&2; exit 1; }

# build NAME OUTPUT MODULE VERSION PACKAGE LDFLAGS
build() {
  local name=$1 out=$2 module=$3 version=$4 pkg=$5 ld=$6
  if [[ -x "$cache_dir/bin/$out" ]]; then
    log "$name: cached"
    return
  fi
  log "$name: building $module@$version (a minute or two on a cold cache)..."
  local start=$SECONDS dir="$work_dir/$name" logf="$cache_dir/build-$name.log"
  wrapper "$dir" "$module" "$version"
  if ! (cd "$dir" && nice -n 10 go build -trimpath -ldflags "-s -w $ld" \
      -o "$cache_dir/bin/$out.tmp" "$pkg") >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    fail "$name: see $logf"
  fi
  mv "$cache_dir/bin/$out.tmp" "$cache_dir/bin/$out"
  log "$name: done in $((SECONDS - start))s"
}

total_start=$SECONDS
log "cache: $cache_dir"
build crane crane github.com/google/go-containerregistry "$GGCR_VERSION" \
  github.com/google/go-containerregistry/cmd/crane \
  "-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$GGCR_VERSION"
build actionlint actionlint github.com/rhysd/actionlint "$ACTIONLINT_VERSION" \
  github.com/rhysd/actionlint/cmd/actionlint \
  "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"

for tool in crane actionlint; do
  ln -sfn "$cache_dir/bin/$tool" "$bin_dir/$tool"
done
log "crane and actionlint ready in $bin_dir ($((SECONDS - total_start))s)"
