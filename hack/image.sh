#!/usr/bin/env bash
# Build the Berth operator image from ./Dockerfile on a machine with no container
# engine and no image registry: the base image is made here from Debian's packages
# (debootstrap), and buildah builds the Dockerfile with chroot isolation (its RUN
# steps run in a chroot: no daemon, no container runtime, no cgroups needed).
#
# Output (OUT defaults to <repo>/build/image):
#   OUT/oci    an OCI image layout holding one image, tagged <version>-g<commit>
#              (hack/version.sh --tag; -dirty when tracked files have changes)
#   OUT/tag    that tag, on one line
# The image is also in the local containers storage as localhost/berth:<tag>.
#
# The base (Debian minbase + python3, no docs, man pages, locales or apt lists) is
# cached outside the checkout, keyed by suite, architecture and recipe revision; a
# cold base takes a few minutes, a warm one seconds. Missing Debian packages
# (buildah, debootstrap) are installed with apt-get.
#
# Usage: hack/image.sh [--help] [--out DIR] [--refresh-base]
#   --refresh-base   rebuild the cached base (e.g. for Debian's security updates)
# Environment:
#   BERTH_IMAGE_CACHE    base cache root (default: ${XDG_CACHE_HOME:-~/.cache}/berth/image)
#   BERTH_DEBIAN_MIRROR  a Debian mirror URL for debootstrap (default: debootstrap's own)
#   BERTH_IMAGE_SOURCE   the org.opencontainers.image.source label (default: unknown)
set -euo pipefail

# The base: Debian bookworm's python3 is 3.11, the Python the package declares and the
# Dockerfile's default BASE_IMAGE (debian:bookworm-slim) gets. Bump BASE_RECIPE when
# the recipe below changes, so that the cache key changes with it.
DEBIAN_SUITE=bookworm
BASE_PACKAGES=python3
BASE_RECIPE=r1

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

repo_root=$(cd "$(dirname "$0")/.." && pwd)
out_dir="$repo_root/build/image"
refresh_base=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --out) out_dir=${2:?--out needs a directory}; shift 2 ;;
    --refresh-base) refresh_base=1; shift ;;
    *) usage >&2; echo "image.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

log() { printf '[image] %s\n' "$*" >&2; }
fail() { printf '[image] FAILED: %s\n' "$*" >&2; exit 1; }

# -- what the build needs on this machine --------------------------------------------

apt_updated=0
need() { # need COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null && return
  [[ $(id -u) == 0 ]] || fail "$1 is missing: install the Debian package $2 (as root)"
  if [[ $apt_updated == 0 ]]; then
    log "installing Debian packages this build needs (apt-get update first)..."
    apt-get update -q >/dev/null
    apt_updated=1
  fi
  log "apt-get install $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >/dev/null
}
need buildah buildah
need debootstrap debootstrap
# debootstrap checks Debian's Release signatures (a non-Debian host may lack the keys).
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || need /nonexistent debian-archive-keyring
[[ $(id -u) == 0 ]] || fail "debootstrap and buildah's chroot isolation need root"

arch=$(dpkg --print-architecture)
version=$("$repo_root/hack/version.sh")
tag=$("$repo_root/hack/version.sh" --tag)
revision=$(git -C "$repo_root" rev-parse HEAD)
# Layers and the image's creation time carry the commit's time, not the clock's.
epoch=$(git -C "$repo_root" log -1 --format=%ct)
image="localhost/berth:$tag"
total_start=$SECONDS

# -- the base image --------------------------------------------------------------------

base_key="debian-${DEBIAN_SUITE}-minbase-${BASE_PACKAGES//,/-}-${arch}-${BASE_RECIPE}"
cache_root=${BERTH_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/image}
base_dir="$cache_root/$base_key"
base_tar="$base_dir/rootfs.tar"
base_image="localhost/berth-base:$base_key"

make_base_tar() {
  local rootfs="$base_dir/rootfs.tmp" start=$SECONDS logf="$base_dir/debootstrap.log"
  mkdir -p "$base_dir"
  rm -rf "$rootfs" "$base_tar.tmp"
  log "base: debootstrap $DEBIAN_SUITE (minbase + $BASE_PACKAGES) for $arch; a few minutes..."
  log "base: progress in $logf"
  local mirror=()
  [[ -n "${BERTH_DEBIAN_MIRROR:-}" ]] && mirror=("$BERTH_DEBIAN_MIRROR")
  # debootstrap prints one line per step; show a dot per ten so a long step is visible.
  if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" --arch="$arch" \
      "$DEBIAN_SUITE" "$rootfs" "${mirror[@]}" 2>&1 | tee "$logf" \
      | awk 'NR % 10 == 0 { printf "." > "/dev/stderr"; fflush("/dev/stderr") }'; then
    echo >&2
    tail -n 20 "$logf" >&2
    fail "debootstrap failed: see $logf"
  fi
  echo >&2
  [[ -x "$rootfs/usr/bin/python3" ]] || fail "debootstrap gave no /usr/bin/python3: see $logf"
  # What an image needs none of: package caches and lists, docs, man pages, locales;
  # and no future apt-get install (the Dockerfile's build stage) brings them back.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian "$rootfs"/tmp/* \
    "$rootfs"/dev/* "$rootfs"/proc/* "$rootfs"/sys/* "$rootfs"/run/*
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/berth-minimal" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  # A byte-for-byte repeatable archive of the tree: sorted, one mtime, numeric owners.
  tar -C "$rootfs" --sort=name --mtime="@0" --numeric-owner --xattrs -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf "$rootfs"
  log "base: $(du -h "$base_tar" | cut -f1) in $((SECONDS - start))s"
}

if [[ $refresh_base == 1 ]]; then
  rm -f "$base_tar"
  buildah rmi "$base_image" >/dev/null 2>&1 || true
fi
if [[ -f "$base_tar" ]]; then
  log "base: cached ($base_tar)"
else
  make_base_tar
fi
if buildah inspect --type image "$base_image" >/dev/null 2>&1 && [[ $refresh_base == 0 ]]; then
  log "base: $base_image in the local image store"
else
  log "base: importing $base_image..."
  ctr=$(buildah from --pull=never scratch)
  buildah add --quiet "$ctr" "$base_tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --quiet --rm --timestamp 0 "$ctr" "$base_image" >/dev/null
fi

# -- the image -------------------------------------------------------------------------

# pip in the build stage reaches PyPI the way this machine does: when it trusts a CA
# bundle of its own (a TLS-inspecting proxy), that file is mounted read-only for the
# RUN steps only and named by PIP_CERT; it lands in no layer.
ca_args=()
for ca in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [[ -n "$ca" && -f "$ca" ]]; then
    ca_args=(--volume "$ca:/run/berth-build-ca.crt:ro" --build-arg PIP_CERT=/run/berth-build-ca.crt)
    break
  fi
done
index_args=()
[[ -n "${PIP_INDEX_URL:-}" ]] && index_args=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")

log "image: buildah bud (chroot isolation) -> $image"
build_start=$SECONDS
build_log="$out_dir/build.log"
mkdir -p "$out_dir"
if ! buildah bud --layers --pull=never --isolation=chroot --timestamp "$epoch" \
    --build-arg "BASE_IMAGE=$base_image" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "SOURCE=${BERTH_IMAGE_SOURCE:-unknown}" \
    "${ca_args[@]}" "${index_args[@]}" \
    --tag "$image" --file "$repo_root/Dockerfile" "$repo_root" 2>&1 | tee "$build_log" \
    | grep --line-buffered -E '^\[[0-9]+/[0-9]+\] STEP|^--> Using cache' \
    | sed -u 's/^/[image]   /' >&2; then
  tail -n 30 "$build_log" >&2
  fail "buildah bud failed: see $build_log"
fi
log "image: built in $((SECONDS - build_start))s"

rm -rf "$out_dir/oci"
buildah push --quiet "$image" "oci:$out_dir/oci:$tag" >/dev/null
echo "$tag" >"$out_dir/tag"

# A cached step must never leave another commit's labels on the image.
python3 "$repo_root/hack/image_config.py" summary "$out_dir/oci" "$tag" | python3 -c '
import json, sys
labels = json.load(sys.stdin)["config"].get("Labels") or {}
want = {"org.opencontainers.image.version": sys.argv[1], "org.opencontainers.image.revision": sys.argv[2]}
wrong = {k: labels.get(k) for k, v in want.items() if labels.get(k) != v}
sys.exit(f"[image] FAILED: the image labels {wrong}, not {want}" if wrong else 0)
' "$version" "$revision"

# The size a registry stores and a node pulls: the compressed layers plus config.
size=$(python3 "$repo_root/hack/image_config.py" size "$out_dir/oci" "$tag")
log "image: $image, $size"
log "image: OCI layout $out_dir/oci, tag $tag (in $((SECONDS - total_start))s)"
