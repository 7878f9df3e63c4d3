#!/usr/bin/env bash
# Push a packaged chart (hack/chart-package.sh) to an OCI registry with `helm push`,
# and print its reference by digest (<host>/<path>/berth@sha256:...), which is what
# `cosign sign` signs.
#
# Usage: hack/chart-push.sh PACKAGE oci://HOST[:PORT]/PATH [--plain-http] [--help]
#   --plain-http   for a registry on loopback without TLS (the tests' registry)
# Log in first (`helm registry login`) where the registry needs it. Helm is $HELM,
# else .bin/helm, else helm on PATH.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { printf 'chart-push.sh: %s\n' "$*" >&2; exit 1; }
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi
[[ $# -ge 2 ]] || { usage >&2; exit 2; }
package=$1 target=$2
shift 2
flags=()
for arg in "$@"; do
  case "$arg" in
    --plain-http) flags+=(--plain-http) ;;
    *) usage >&2; fail "unknown argument: $arg" ;;
  esac
done
[[ -f "$package" ]] || fail "no such package: $package"
[[ "$target" == oci://* ]] || fail "the target must be an oci:// URL: $target"

repo_root=$(cd "$(dirname "$0")/.." && pwd)
helm=${HELM:-}
if [[ -z "$helm" ]]; then
  if [[ -x "$repo_root/.bin/helm" ]]; then helm="$repo_root/.bin/helm"; else helm=$(command -v helm || true); fi
fi
[[ -n "$helm" && -x "$helm" ]] || fail "helm is missing: run \`make tools\` or set HELM"

out=$(env -u KUBECONFIG "$helm" push "$package" "${target%/}" "${flags[@]}" 2>&1) \
  || fail "helm push failed: $out"
pushed=$(sed -n 's/^Pushed: *//p' <<<"$out")
digest=$(sed -n 's/^Digest: *//p' <<<"$out")
[[ -n "$pushed" && "$digest" == sha256:* ]] || fail "unexpected output of helm push: $out"
echo "${pushed%:*}@$digest"
