#!/usr/bin/env bash
# Install the Backstage backend that tests/e2e/test_backstage.py runs (the catalog and
# Kubernetes plugins, from npm) into a version-keyed cache outside the checkout.
#
# hack/backstage/ holds what is installed: package.json (exact versions),
# package-lock.json (every package's version and integrity hash, no registry address)
# and backend.js (the backend, plain JavaScript). The cache directory is keyed by a hash
# of package.json, package-lock.json and .npmrc, and by Node's version: a bump of either
# installs afresh beside the old one, an unchanged key costs nothing. `npm ci` installs
# exactly the lockfile; better-sqlite3 (the catalog's database) builds from source
# against the Node headers when no prebuilt binary can be fetched.
#
# Not on `make dev`'s path: only the Backstage test target needs it.
#
# Usage: hack/backstage.sh [install]   install unless cached; print the directory
#        hack/backstage.sh dir         print the directory an install would use
#        hack/backstage.sh --help
# Environment:
#   BERTH_TOOLS_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/berth/tools)
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-install}" in
  -h | --help) usage; exit 0 ;;
  install | dir) command=${1:-install} ;;
  *) usage >&2; exit 2 ;;
esac

repo_root=$(cd "$(dirname "$0")/.." && pwd)
source_dir="$repo_root/hack/backstage"
log() { printf '[backstage] %s\n' "$*" >&2; }
fail() { printf '[backstage] FAILED: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (Node 20 or newer; Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || fail "npm is not installed (Debian: apt-get install npm)"
node_version=$(node --version)
node_major=${node_version#v}
node_major=${node_major%%.*}
if ((node_major < 20)); then
  fail "Node $node_version is too old: the backend needs Node 20 or newer"
fi

inputs_hash=$(cat "$source_dir/package.json" "$source_dir/package-lock.json" "$source_dir/.npmrc" \
  | sha256sum | cut -c1-12)
cache_root=${BERTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/tools}
cache_dir="$cache_root/backstage-node${node_version#v}-$inputs_hash"

if [[ $command == dir ]]; then
  echo "$cache_dir"
  exit 0
fi
if [[ -f "$cache_dir/.installed" ]]; then
  log "cached: $cache_dir"
  echo "$cache_dir"
  exit 0
fi

# Install into a fresh directory beside the final one and move it into place only once
# complete: an interrupted install never looks like a cached one, and two installs
# racing each other cannot mix their files (the second one's move fails, its own
# directory is removed, and the first one's result is used).
mkdir -p "$cache_root"
work_dir=$(mktemp -d "$cache_dir.tmp.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT
cp "$source_dir/package.json" "$source_dir/package-lock.json" "$source_dir/.npmrc" "$work_dir/"

# Debian's nodejs keeps its headers in /usr/include/node: node-gyp builds against them
# instead of downloading a tarball of headers (which a machine without the internet at
# large cannot).
if [[ -z "${npm_config_nodedir:-}" && -f /usr/include/node/node.h ]]; then
  export npm_config_nodedir=/usr
fi

log "installing the Backstage backend with npm ci (a cold install takes minutes) into $cache_dir"
start=$SECONDS
logf="$work_dir/npm-install.log"
if ! (cd "$work_dir" && npm ci --no-audit --no-fund --loglevel=http) >"$logf" 2>&1; then
  tail -n 40 "$logf" >&2
  cp "$logf" "$cache_root/backstage-failed.log"
  fail "npm ci (the whole log: $cache_root/backstage-failed.log)"
fi
# The catalog's database is a native module: prove it loads with this Node before the
# install counts (a module built for another ABI fails only when the backend starts).
(cd "$work_dir" && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()") \
  || fail "better-sqlite3 does not load with Node $node_version"
fetched=$(grep -c 'fetch GET 200' "$logf" || true)
log "installed in $((SECONDS - start))s: $fetched packages fetched, $(du -sh "$work_dir" | cut -f1) on disk"
touch "$work_dir/.installed"
if mv -T "$work_dir" "$cache_dir" 2>/dev/null; then
  trap - EXIT
else
  log "another install finished first; using it"
fi
echo "$cache_dir"
