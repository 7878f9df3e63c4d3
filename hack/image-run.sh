#!/usr/bin/env bash
# Run an OCI image's own entrypoint without a container engine: from the image's
# unpacked filesystem, the way a container runtime would start it, as far as a
# chroot can:
#   - the image unpacked with umoci (into BUNDLE, reused when it is already there)
#   - a private mount namespace (unshare); the root filesystem bind-mounted READ-ONLY,
#     with /proc, /dev, and a fresh tmpfs on /tmp (the chart mounts an emptyDir there)
#   - optionally a ServiceAccount directory (token, ca.crt, namespace) mounted read-only
#     at /var/run/secrets/kubernetes.io/serviceaccount, as kubelet does for a Pod
#   - the image config's user (numeric uid:gid), environment, entrypoint and cmd;
#     arguments after -- replace the cmd, as `docker run IMAGE ARGS...` does;
#     --entrypoint CMD replaces the entrypoint (and drops the cmd), as a Pod's `command`
#   - --no-network: a new network namespace with no interface up
# The process keeps this script's pid (every step execs the next), so it can be
# stopped by that pid.
#
# Usage: hack/image-run.sh --layout DIR --tag TAG --bundle DIR [--sa-dir DIR]
#                          [--env NAME=VALUE]... [--entrypoint CMD] [--no-network]
#                          [-- ARGS...]
#        hack/image-run.sh --help
# Needs root (mount namespaces, chroot); installs umoci with apt-get when missing.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { printf 'image-run.sh: %s\n' "$*" >&2; exit 1; }

# The part that runs inside the new mount namespace: mounts, then exec chroot.
if [[ "${1:-}" == "--inside" ]]; then
  rootfs=$2 sa_dir=$3 userspec=$4 env_count=$5
  shift 5
  process_env=("${@:1:env_count}")
  shift "$env_count"
  mount --bind "$rootfs" "$rootfs"
  mount -o remount,bind,ro "$rootfs"
  mount -t proc proc "$rootfs/proc"
  mount --rbind /dev "$rootfs/dev"
  mount -t tmpfs -o mode=1777,size=64m tmpfs "$rootfs/tmp"
  if [[ -n "$sa_dir" ]]; then
    # A tmpfs for the mount point (the root is read-only): on /run where /var/run is
    # Debian's link to it, else on /var/run itself.
    parent=/var/run
    if [[ -L "$rootfs/var/run" ]]; then
      case $(readlink "$rootfs/var/run") in
        /run | /run/ | ../run | ../run/) parent=/run ;;
        *) fail "the image's /var/run links to $(readlink "$rootfs/var/run"), not /run" ;;
      esac
    fi
    mount -t tmpfs -o mode=755,size=1m tmpfs "$rootfs$parent"
    mkdir -p "$rootfs$parent/secrets/kubernetes.io/serviceaccount"
    mount --bind -o ro "$sa_dir" "$rootfs$parent/secrets/kubernetes.io/serviceaccount"
  fi
  # env -i: nothing of this shell's environment reaches the image's process, only what
  # the image config and --env say. chroot looks the command up in the image's PATH.
  exec /usr/bin/env -i "${process_env[@]}" /usr/sbin/chroot --userspec="$userspec" "$rootfs" "$@"
fi

layout="" tag="" bundle="" sa_dir="" entrypoint="" network=1
extra_env=() args=() have_args=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --layout) layout=${2:?}; shift 2 ;;
    --tag) tag=${2:?}; shift 2 ;;
    --bundle) bundle=${2:?}; shift 2 ;;
    --sa-dir) sa_dir=${2:?}; shift 2 ;;
    --env) extra_env+=("${2:?}"); shift 2 ;;
    --entrypoint) entrypoint=${2:?}; shift 2 ;;
    --no-network) network=0; shift ;;
    --) shift; args=("$@"); have_args=1; break ;;
    *) usage >&2; fail "unknown argument: $1" ;;
  esac
done
[[ -n "$layout" && -n "$tag" && -n "$bundle" ]] || { usage >&2; fail "--layout, --tag and --bundle are required"; }
[[ $(id -u) == 0 ]] || fail "needs root (mount namespace, chroot)"
[[ -z "$sa_dir" || -f "$sa_dir/token" ]] || fail "--sa-dir $sa_dir has no token file"

if ! command -v umoci >/dev/null; then
  echo "image-run.sh: installing umoci (apt-get)..." >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends umoci >/dev/null
fi
if [[ ! -f "$bundle/config.json" ]]; then
  rm -rf "$bundle"
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
fi

# The image config (not a runtime's derivation of it): user, env, entrypoint, cmd.
mapfile -d '' spec < <(python3 "$(dirname "$0")/image_config.py" process "$layout" "$tag" \
  "$entrypoint" "$have_args" "${args[@]}")
[[ ${#spec[@]} -ge 3 ]] || fail "cannot read the image config of $layout:$tag"
userspec=${spec[0]} env_count=${spec[1]}
process_env=("${spec[@]:2:env_count}" "${extra_env[@]}")
command=("${spec[@]:2+env_count}")

unshare_args=(--mount --propagation private)
[[ $network == 1 ]] || unshare_args+=(--net)
exec unshare "${unshare_args[@]}" -- "$0" --inside "$(cd "$bundle/rootfs" && pwd)" "$sa_dir" \
  "$userspec" "${#process_env[@]}" "${process_env[@]}" "${command[@]}"
