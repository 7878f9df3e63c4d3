# Sourced by hack/tools.sh and hack/release-tools.sh: the rules every Go tool of this
# project is built under, written once.

# Never let the go command reach for a toolchain or a VCS host of its own: only the
# configured module proxy, with its "direct" fallback removed.
export GOTOOLCHAIN=local
GOPROXY=$(go env GOPROXY | sed -E 's/(^|[,|])(direct|off)//g; s/^[,|]//')
export GOPROXY
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# wrapper DIR MODULE VERSION: a fresh module in DIR that requires MODULE@VERSION, so the
# exact version is pinned by the script that calls it and nowhere else.
wrapper() {
  local dir=$1 module=$2 version=$3
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'module berth.local/tools/%s\n\ngo 1.24\n\nrequire %s %s\n' \
    "$(basename "$dir")" "$module" "$version" >"$dir/go.mod"
}
