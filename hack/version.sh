#!/usr/bin/env bash
# Print Berth's version, read from its one place: __version__ in
# operator/berth/__init__.py.
#
# Usage: hack/version.sh [--tag | --check-tag TAG | --help]
#   (no option)       the version, e.g. 0.1.0
#   --tag             the image tag of this checkout: <version>-g<12-digit commit>,
#                     with -dirty appended when tracked files have uncommitted changes;
#                     the same commit always gives the same tag
#   --check-tag TAG   exit 1 unless TAG is v<version> (the release workflow's git tag)
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
init="$repo_root/operator/berth/__init__.py"

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' "$init")
if [[ -z "$version" ]]; then
  echo "version.sh: no __version__ = \"...\" line in $init" >&2
  exit 1
fi

case "${1:-}" in
  "") echo "$version" ;;
  --tag)
    commit=$(git -C "$repo_root" rev-parse --short=12 HEAD)
    dirty=""
    if [[ -n "$(git -C "$repo_root" status --porcelain --untracked-files=no)" ]]; then
      dirty="-dirty"
    fi
    echo "${version}-g${commit}${dirty}"
    ;;
  --check-tag)
    tag=${2:?--check-tag needs the git tag, e.g. v$version}
    if [[ "$tag" != "v$version" ]]; then
      echo "version.sh: git tag $tag does not match the version $version (want v$version)" >&2
      exit 1
    fi
    echo "$version"
    ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
