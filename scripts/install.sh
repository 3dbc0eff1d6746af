#!/usr/bin/env bash
# One command for a fresh Debian 12 machine, as root: install tsula and what it needs,
# build the local busybox image, start tsulad if it is not running, and run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

[[ $(id -u) == 0 ]] || { echo "run as root (containers need it)" >&2; exit 1; }

scripts/deps.sh

echo ">>> guest assets for VM sandboxes"
scripts/ensure-guest.sh

# the CLI's launcher as a copy with this checkout's build directory written in (a symlink
# would cost every call a readlink(1) to find it)
sed "s|^TSULA_BUILD=\$|TSULA_BUILD='$ROOT/build'|" "$ROOT/bin/tsula" >/usr/local/bin/tsula.new
chmod 0755 /usr/local/bin/tsula.new && mv -f /usr/local/bin/tsula.new /usr/local/bin/tsula
ln -sf "$ROOT/bin/tsulad" /usr/local/bin/tsulad
ln -sf "$ROOT/bin/tsula-sandboxer" /usr/local/bin/tsula-sandboxer
# containerd runs this per container; the sh launcher answers start/delete without node
# when the sandboxer already runs, and hands everything else to bin/containerd-shim-tsula-v2
ln -sf "$ROOT/bin/containerd-shim-tsula-v2-fast" /usr/local/bin/containerd-shim-tsula-v2
mkdir -p /etc/tsula
# the VM sandboxes' config: the defaults, each key commented with what it does (an existing
# file stays); containerd's runtime option ConfigPath and ctr --runtime-config-path name it
[[ -e /etc/tsula/vmm.toml ]] || install -m 0644 scripts/vmm.toml /etc/tsula/vmm.toml
# crictl (cri-tools v1.29, Kubernetes' CRI client) from ../shared/tools when it is there, and
# pointed at tsulad's CRI socket as iSulad's guide does (an existing /etc/crictl.yaml stays)
if [[ -x ../shared/tools/crictl ]] && ! command -v crictl >/dev/null; then
  install -m 0755 ../shared/tools/crictl /usr/local/bin/crictl
fi
# pods' network: a bridge + host-local + portmap conflist when no CNI config exists yet
mkdir -p /etc/cni/net.d
if ! ls /etc/cni/net.d/*.conf /etc/cni/net.d/*.conflist /etc/cni/net.d/*.json >/dev/null 2>&1; then
  install -m 0644 scripts/cni/10-tsula.conflist /etc/cni/net.d/10-tsula.conflist
fi
# (crictl run pulls before it runs unless told not to: images here are loaded, not pulled)
[[ -e /etc/crictl.yaml ]] || cat > /etc/crictl.yaml <<'YAML'
runtime-endpoint: unix:///run/tsula/cri.sock
image-endpoint: unix:///run/tsula/cri.sock
timeout: 60
disable-pull-on-run: true
YAML

echo ">>> building busybox:latest from Debian's busybox-static"
scripts/build-busybox-image.sh "$ROOT/build/images" >/dev/null

SOCK=/run/tsula/tsulad.sock
# A daemon (tsulad, or the sandboxer it started) older than this build is restarted: its
# containers and pods keep running and the new one adopts them.
restart_if_stale() { # restart_if_stale PIDFILE BUNDLE NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  [[ -n $pid && -d /proc/$pid && $2 -nt /proc/$pid ]] || return 0
  echo ">>> $3 (pid $pid) runs an older build: restarting it"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
}
restart_if_stale /run/tsula/tsulad.pid "$ROOT/build/tsulad.mjs" tsulad
restart_if_stale /run/tsula-sandboxer/sandboxer.pid "$ROOT/build/tsula-sandboxer.mjs" tsula-sandboxer
if ! tsula version >/dev/null 2>&1; then
  echo ">>> starting tsulad (log: /var/log/tsulad.log)"
  setsid nohup tsulad >>/var/log/tsulad.log 2>&1 </dev/null &
  for _ in $(seq 1 100); do [[ -S $SOCK ]] && tsula version >/dev/null 2>&1 && break; sleep 0.1; done
  tsula version >/dev/null || { echo "tsulad did not start; see /var/log/tsulad.log" >&2; tail -20 /var/log/tsulad.log >&2; exit 1; }
fi

tsula load -i "$ROOT/build/images/busybox.tar"
tsula run --rm busybox echo "hello from a tsula container"
# the same image in a VM of its own: the guest's kernel answers (seconds under TCG)
echo ">>> host kernel $(uname -r); in a VM sandbox:"
if ! tsula run --rm --runtime vmm busybox uname -r; then
  {
    echo "!!! the VM sandbox demo failed: the cause and the guest's console are above."
    echo "    logs: /var/log/tsulad.log, /run/tsula-sandboxer/sandboxer.log; guest assets: /var/lib/tsula/guest"
    echo "    containers with the default runtime (runc) work: tsula run --rm busybox echo hi"
  } >&2
  exit 1
fi
# Kubernetes' client: a pod with an IP from CNI and a container in it, through tsulad's CRI
if command -v crictl >/dev/null; then
  echo ">>> a pod through CRI (crictl):"
  demo=$(mktemp -d)
  echo '{"metadata":{"name":"demo","namespace":"default","uid":"tsula-install-demo"},"log_directory":"'"$demo"'"}' > "$demo/pod.json"
  echo '{"metadata":{"name":"hello"},"image":{"image":"busybox"},"log_path":"hello.log","command":["sh","-c","echo hello from a CRI pod at $(ip -4 addr show eth0 | grep -o \"inet [0-9.]*\")"]}' > "$demo/ctr.json"
  pod=$(crictl runp "$demo/pod.json")
  ctr=$(crictl create "$pod" "$demo/ctr.json" "$demo/pod.json")
  crictl start "$ctr" >/dev/null
  for _ in $(seq 1 50); do [[ -s $demo/hello.log ]] && break; sleep 0.1; done
  crictl logs "$ctr"
  crictl rmp -f "$pod" >/dev/null
  rm -rf "$demo"
fi
echo ">>> done: try 'tsula run -it --rm busybox sh', 'tsula run -it --rm --runtime vmm busybox sh' or crictl (README)"
