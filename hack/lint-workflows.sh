#!/usr/bin/env bash
# Lint the GitHub Actions workflows in .github/workflows, and the ones the manual gives
# as recipes (examples/*/github-actions/), with actionlint (built from its Go module by
# hack/release-tools.sh); the shell of every `run:` step is checked with shellcheck,
# installed from Debian's packages when missing.
#
# Usage: hack/lint-workflows.sh [--help] [actionlint flags...] [WORKFLOW FILE...]
# With no file, every workflow of this repository and every recipe.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

repo_root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v shellcheck >/dev/null; then
  [[ $(id -u) == 0 ]] || { echo "lint-workflows.sh: install shellcheck (Debian package)" >&2; exit 1; }
  echo "[lint-workflows] installing shellcheck (apt-get)..." >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends shellcheck >/dev/null
fi
"$repo_root/hack/release-tools.sh" >&2
cd "$repo_root"
files=()
for arg in "$@"; do
  [[ $arg == *.yml || $arg == *.yaml ]] && files+=("$arg")
done
if ((${#files[@]} == 0)); then
  shopt -s nullglob
  set -- "$@" .github/workflows/*.yml .github/workflows/*.yaml examples/*/github-actions/*.yml
fi
exec "${BERTH_BIN_DIR:-$repo_root/.bin}/actionlint" -shellcheck "$(command -v shellcheck)" "$@"
