#!/usr/bin/env bash
# Build the VM sandbox's guest assets into DIR (default /var/lib/tsula/guest) with
# scripts/build-guest.sh --image, only when they are missing or stale. DIR/.stamp holds the
# sha256 of what they were built from: the agent bundle, build-guest.sh, the versions of the
# agent's native addon, and the sizes of the node, runc and conmon binaries copied into the
# image. The kernel .deb stays cached in DIR (build-guest.sh keeps it), so a rebuild is offline.
#   scripts/ensure-guest.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/var/lib/tsula/guest}
AGENT=${TSULA_AGENT_BUNDLE:-build/tsula-agent.cjs}

[[ -f $AGENT ]] || { echo "ensure-guest: $AGENT is missing: run npm run build first" >&2; exit 1; }

stamp() {
  {
    sha256sum "$AGENT" scripts/build-guest.sh | cut -d' ' -f1
    cat node_modules/node-unix-socket/package.json node_modules/node-unix-socket-linux-x64-gnu/package.json 2>/dev/null | sha256sum | cut -d' ' -f1
    for t in node runc conmon; do
      p=$(command -v "$t") || { echo "$t: none"; continue; }
      p=$(readlink -f "$p")
      echo "$p $(stat -c %s "$p")"
    done
  } | sha256sum | cut -d' ' -f1
}

want=$(stamp)
fresh=1
for f in vmlinuz initramfs.cpio.gz rootfs.img kernel-release; do [[ -s $DIR/$f ]] || fresh=0; done
[[ $fresh == 1 && "$(cat "$DIR/.stamp" 2>/dev/null)" == "$want" ]] && exit 0

mkdir -p "$DIR"
# a build that fails halfway must not look current next time
rm -f "$DIR/.stamp"
scripts/build-guest.sh --image "$DIR"
echo "$want" > "$DIR/.stamp"
