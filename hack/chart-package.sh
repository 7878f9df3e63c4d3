#!/usr/bin/env bash
# Package the Helm chart (charts/berth) for a registry, with `helm package`.
#
# The package's version and appVersion are Berth's version (hack/version.sh), and its
# values.yaml names the image published with it: image.repository is set to REPO in
# the package (the checkout is left as it is), and image.tag stays empty, so the chart
# pulled from a registry runs the image of its own appVersion with no --set at all.
# With --crds, the CRD chart (charts/berth-crds) instead, of the same version.
#
# Usage: hack/chart-package.sh (--image-repository REPO | --crds) [--out DIR] [--help]
#   --image-repository REPO  the image's repository without tag, e.g. <registry>/<owner>/berth
#   --crds                   package charts/berth-crds (it names no image)
#   --out DIR                where the .tgz goes (default: <repo>/build/chart)
# Prints the path of the package. Helm is $HELM, else .bin/helm, else helm on PATH.
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

repo_root=$(cd "$(dirname "$0")/.." && pwd)
out_dir="$repo_root/build/chart"
repository=""
crds=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --image-repository) repository=${2:?--image-repository needs a value}; shift 2 ;;
    --crds) crds=true; shift ;;
    --out) out_dir=${2:?--out needs a directory}; shift 2 ;;
    *) usage >&2; echo "chart-package.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
fail() { printf 'chart-package.sh: %s\n' "$*" >&2; exit 1; }
if [[ $crds == true ]]; then
  [[ -z "$repository" ]] || fail "--crds and --image-repository exclude each other"
else
  [[ -n "$repository" ]] || { usage >&2; fail "--image-repository (or --crds) is required"; }
  # An image repository: lower-case path components, an optional host[:port] first.
  [[ "$repository" =~ ^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$ ]] \
    || fail "not an image repository (no tag, no digest): $repository"
fi

helm=${HELM:-}
if [[ -z "$helm" ]]; then
  if [[ -x "$repo_root/.bin/helm" ]]; then helm="$repo_root/.bin/helm"; else helm=$(command -v helm || true); fi
fi
[[ -n "$helm" && -x "$helm" ]] || fail "helm is missing: run \`make tools\` or set HELM"

version=$("$repo_root/hack/version.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ $crds == true ]]; then
  mkdir -p "$out_dir"
  env -u KUBECONFIG "$helm" package "$repo_root/charts/berth-crds" --version "$version" \
    --app-version "$version" --destination "$out_dir" >/dev/null
  package="$out_dir/berth-crds-$version.tgz"
  [[ -f "$package" ]] || fail "helm package made no $package"
  echo "$package"
  exit 0
fi
cp -a "$repo_root/charts/berth" "$work/berth"

# Set image.repository in the copy's values.yaml, keeping its comments: the one
# `repository:` line of the top-level `image:` block.
python3 - "$work/berth/values.yaml" "$repository" <<'EOF'
import re, sys
path, repository = sys.argv[1], sys.argv[2]
text = open(path).read()
block = re.search(r"^image:\n((?:[ #].*\n|\n)*)", text, re.MULTILINE)
if block is None:
    sys.exit("chart-package.sh: values.yaml has no top-level image: block")
body, count = re.subn(r"^(  repository:) .*$", rf"\1 {repository}", block.group(1), flags=re.MULTILINE)
if count != 1:
    sys.exit(f"chart-package.sh: expected one image.repository line, found {count}")
open(path, "w").write(text[: block.start(1)] + body + text[block.end(1) :])
EOF

mkdir -p "$out_dir"
env -u KUBECONFIG "$helm" package "$work/berth" --version "$version" --app-version "$version" \
  --destination "$out_dir" >/dev/null
package="$out_dir/berth-$version.tgz"
[[ -f "$package" ]] || fail "helm package made no $package"

# What the package says is what was asked for.
shown=$(env -u KUBECONFIG "$helm" show values "$package" | python3 -c \
  'import sys, yaml; v = yaml.safe_load(sys.stdin)["image"]; print(v["repository"], repr(v["tag"]))')
[[ "$shown" == "$repository ''" ]] || fail "the package's image values are: $shown"
echo "$package"
