#!/usr/bin/env bash
# Build the VM sandbox's guest assets into DIR (default /var/lib/tsula/guest) with
# scripts/build-guest.sh --image, only when they are missing or stale. DIR/.stamp holds the
# sha256 of what they were built from: the agent bundle, build-guest.sh, the versions of the
# agent's native addon, and the sizes of the node, runc, crun, conmon and catatonit binaries copied into the
# image. The kernel .deb stays cached in DIR (build-guest.sh keeps it), so a rebuild is offline.
# Then makes the agent's startup snapshot for this host (DIR/snapshots, see tsula-sandboxer
# agent-snapshot).
#   scripts/ensure-guest.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/var/lib/tsula/guest}
AGENT=${TSULA_AGENT_BUNDLE:-build/tsula-agent.cjs}

[[ -f $AGENT ]] || { echo "ensure-guest: $AGENT is missing: run npm run build first" >&2; exit 1; }

stamp() {
  {
    sha256sum "$AGENT" scripts/build-guest.sh scripts/guest/make-clone-setup.mjs scripts/guest/tsula-boot.c scripts/guest/ip-batch.c | cut -d' ' -f1
    cat node_modules/node-unix-socket/package.json node_modules/node-unix-socket-linux-x64-gnu/package.json 2>/dev/null | sha256sum | cut -d' ' -f1
    for t in node runc crun conmon catatonit; do
      p=$(command -v "$t") || { echo "$t: none"; continue; }
      p=$(readlink -f "$p")
      echo "$p $(stat -c %s "$p")"
    done
  } | sha256sum | cut -d' ' -f1
}

want=$(stamp)
fresh=1
for f in vmlinuz initramfs.cpio.gz rootfs.img kernel-release; do [[ -s $DIR/$f ]] || fresh=0; done
if [[ $fresh == 0 || "$(cat "$DIR/.stamp" 2>/dev/null)" != "$want" ]]; then
  mkdir -p "$DIR"
  # a build that fails halfway must not look current next time; snapshots of an older image
  # can never match the new one
  rm -rf "$DIR/.stamp" "$DIR/snapshots"
  scripts/build-guest.sh --image "$DIR"
  echo "$want" > "$DIR/.stamp"
fi

# The agent's startup snapshot for this host's VM config, made in a builder VM (~20 s under
# TCG, once; instant when cached). Without it VM pods still work, their agent starts ~4 s
# later, and the sandboxer makes the snapshot after the first boot instead.
if ! node build/tsula-sandboxer.mjs agent-snapshot --guest-dir "$DIR"; then
  echo "ensure-guest: WARNING: could not make the agent snapshot (see above); VM pods start without it" >&2
fi
