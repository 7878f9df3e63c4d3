"""Read one image of an OCI image layout (the output of hack/image.sh): no tool needed.

Usage:
  python3 hack/image_config.py summary LAYOUT TAG
      JSON: the manifest digest, the image config's config (User, Env, Entrypoint,
      Cmd, Labels...), and the sizes (compressed layers + config, as a registry
      stores it and a node pulls it).
  python3 hack/image_config.py size LAYOUT TAG
      One line: the compressed size in MB and the number of layers.
  python3 hack/image_config.py process LAYOUT TAG ENTRYPOINT HAVE_ARGS [ARGS...]
      NUL-separated, for hack/image-run.sh: "uid:gid", the number of environment
      entries, the entries, then the command, as a container runtime makes it: the
      image's Entrypoint, or ENTRYPOINT when it is not empty (a Pod's `command`; the
      image's Cmd is then ignored), followed by ARGS when HAVE_ARGS is 1, else by Cmd.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _blob(layout: Path, digest: str) -> Any:
    return json.loads((layout / "blobs" / digest.replace(":", "/")).read_text())


def manifest_of(layout: Path, tag: str) -> tuple[str, dict[str, Any]]:
    index = _blob_index(layout)
    found = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    if len(found) != 1:
        raise SystemExit(f"image_config.py: no image tagged {tag} in {layout}")
    digest = found[0]["digest"]
    return digest, _blob(layout, digest)


def _blob_index(layout: Path) -> Any:
    return json.loads((layout / "index.json").read_text())


def summary(layout: Path, tag: str) -> dict[str, Any]:
    digest, manifest = manifest_of(layout, tag)
    image = _blob(layout, manifest["config"]["digest"])
    layers = [layer["size"] for layer in manifest["layers"]]
    return {
        "digest": digest,
        "config": image.get("config", {}),
        "architecture": image.get("architecture"),
        "os": image.get("os"),
        "layers": len(layers),
        "compressed_bytes": manifest["config"]["size"] + sum(layers),
    }


def process(layout: Path, tag: str, entrypoint: str, have_args: bool, args: list[str]) -> list[str]:
    config = summary(layout, tag)["config"]
    user = config.get("User") or "0:0"
    uid, _, gid = user.partition(":")
    gid = gid or uid
    if not (uid.isdigit() and gid.isdigit()):
        raise SystemExit(f"image_config.py: the image's user {user!r} is not numeric uid[:gid]")
    if (config.get("WorkingDir") or "/") != "/":
        raise SystemExit("image_config.py: only images whose WorkingDir is / are supported")
    env = list(config.get("Env") or [])
    if entrypoint:
        command = [entrypoint, *args]
    else:
        command = list(config.get("Entrypoint") or []) + (
            args if have_args else list(config.get("Cmd") or [])
        )
    if not command:
        raise SystemExit("image_config.py: no entrypoint, no cmd and no ARGS: nothing to run")
    return [f"{uid}:{gid}", str(len(env)), *env, *command]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stdout if argv[:1] in (["-h"], ["--help"]) else sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    command, layout, tag = argv[0], Path(argv[1]), argv[2]
    if command == "summary":
        print(json.dumps(summary(layout, tag), indent=2))
        return 0
    if command == "size":
        found = summary(layout, tag)
        print(f"{found['compressed_bytes'] / 1e6:.1f} MB compressed, {found['layers']} layers")
        return 0
    if command == "process" and len(argv) >= 5:
        fields = process(layout, tag, argv[3], argv[4] == "1", argv[5:])
        sys.stdout.write("\0".join(fields) + "\0")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
