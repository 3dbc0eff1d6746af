#!/usr/bin/env bash
# Install what tsula needs from Debian, then npm dependencies, then build.
#   scripts/deps.sh          runtime packages
#   scripts/deps.sh --test   plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_PKGS=(runc conmon busybox-static umoci skopeo attr procps iproute2 util-linux ca-certificates socat)
# pod networks: the CNI plugins (bridge, host-local, portmap in /usr/lib/cni) and iptables
# (portmap's DNAT, the bridge plugin's ipMasq for CRI pods, tsulad's networks' own rules)
RUNTIME_PKGS+=(containernetworking-plugins iptables)
# run --init: tini-static is bound into the container as /sbin/docker-init (docker's own init)
RUNTIME_PKGS+=(tini)
# a pod's shared PID namespace: catatonit -P is its pid 1 (kubelet's pause, podman's infra):
# it reaps the pod's orphans and is no `sleep` a container's pgrep would find
RUNTIME_PKGS+=(catatonit)
# VM sandboxes: qemu under TCG or KVM, virtiofsd (/usr/lib/qemu/virtiofsd, in qemu-system-common
# on Debian 12), and what scripts/build-guest.sh needs to make the guest's initramfs and image
RUNTIME_PKGS+=(qemu-system-x86 qemu-system-common cpio e2fsprogs)
# the guest's OCI runtime: crun (C) starts a container in a third of runc's (Go) emulated
# time under TCG; the host keeps runc, and the guest image has both (see build-guest.sh)
RUNTIME_PKGS+=(crun)
# tsula's native addon (native/tsula_native.c, built by npm run build against node's headers):
# posix_spawn and the mount syscalls for the daemons, which run without it, slower
RUNTIME_PKGS+=(gcc libc6-dev)
# layers and archives compressed with zstd (node 20's zlib has none), xz or bzip2: streamed
# through these tools, as dockerd runs xz (src/image/decompress.ts)
RUNTIME_PKGS+=(zstd xz-utils bzip2)
TEST_PKGS=()

if [[ "${1:-}" == "--test" ]]; then
  # real peers the suite starts: a registry (with htpasswd auth), containerd and its runc shim
  # (openssl makes the certificates of the HTTPS registry tests), and docker-compose (v1,
  # Python: docker-py drives the API as the docker CLI does not)
  TEST_PKGS+=(docker-registry apache2-utils containerd psmisc openssl docker-compose)
  # a third-party WebSocket client (websocket-client) for the streaming server's WebSocket transport
  TEST_PKGS+=(python3-websocket)
fi

missing=()
for p in "${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo ">>> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null || [[ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]]; then
  echo ">>> Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci would refuse the lock file: the registry mirror here lacks some other platforms'
# optional binaries (buf, node-unix-socket for darwin/arm), so npm leaves them out of the
# lock. npm install still installs the locked versions of everything this machine needs.
echo ">>> npm install"
npm install --no-audit --no-fund --loglevel=error
echo ">>> build"
npm run --silent build
