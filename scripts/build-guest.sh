#!/bin/bash
# Build the guest assets for the vmm sandbox kind into OUTDIR:
#   OUTDIR/vmlinuz              Debian's cloud kernel (fetched with apt-get download, unpacked
#                               with dpkg -x: never installed into the host's /boot)
#   OUTDIR/initramfs.cpio.gz    busybox-static as /init, the kernel modules the agent needs,
#                               the host's node + its shared libs, runc + its libs, tsula-agent
#   OUTDIR/kernel-release       the guest kernel's release (uname -r inside the guest)
# Offline except for Debian's apt (one .deb). Needs: apt-get, dpkg, cpio, gzip, busybox-static,
# node, runc, and build/tsula-agent.mjs (npm run build).
#
# With --image, node, runc and the agent go into OUTDIR/rootfs.img (read-only ext4, given to
# the VM as a virtio-blk disk: vmm.toml's `image` key) and the initramfs keeps only busybox,
# the modules and /init. Under TCG the kernel unpacks a 40 MB initramfs in ~5 s, while the
# disk is read on demand: boots are that much faster.
set -euo pipefail

IMAGE=0
if [ "${1:-}" = "--image" ]; then IMAGE=1; shift; fi
OUT=${1:?usage: build-guest.sh [--image] OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${TSULA_AGENT_BUNDLE:-$ROOT/build/tsula-agent.mjs}
KPKG=${TSULA_GUEST_KERNEL_PKG:-linux-image-cloud-amd64}
# what the agent needs in the guest; dependencies are added from each .ko's modinfo
WANT_MODULES=(virtio_pci virtio_mmio virtio_console virtio-rng virtio_blk virtiofs overlay)

die() { echo "build-guest: $*" >&2; exit 1; }
for t in apt-get dpkg cpio gzip node; do command -v "$t" >/dev/null || die "missing tool: $t"; done
BUSYBOX=/bin/busybox
# the guest has no libc of its own for busybox: it must be the static build
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "busybox-static is not installed (apt-get install busybox-static)"
RUNC=$(command -v runc || true)
[ -f "$AGENT" ] || die "agent bundle $AGENT is missing: run npm run build first"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- kernel: resolve the meta package to the versioned image, download, unpack ---
pkg=$(apt-cache depends "$KPKG" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  pkg=$(apt-cache depends "$KPKG" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$pkg" ] || die "cannot resolve $KPKG to a kernel image package"
deb=$(ls "$OUT"/"$pkg"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  (cd "$OUT" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb=$(ls "$OUT"/"$pkg"_*.deb 2>/dev/null | head -1 || true)
  [ -n "$deb" ] || die "apt-get download $pkg failed"
fi
dpkg -x "$deb" "$WORK/k"
KVER=$(ls "$WORK/k/lib/modules" | head -1)
cp "$WORK/k/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$WORK/k/boot/config-$KVER" "$OUT/config"
echo "$KVER" > "$OUT/kernel-release"
KMOD="$WORK/k/lib/modules/$KVER"

# --- initramfs tree ---
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,lib/modules,opt/tsula,usr/bin,usr/sbin,var/run,root}
cp "$BUSYBOX" "$R/bin/busybox"

# modules: the .deb has no modules.dep (depmod makes it at install time), so the order comes
# from each module's own "depends=" modinfo field, dependencies first. A feature built into
# the kernel (=y in config) needs no module.
declare -A seen=()
order=()
modpath() { find "$KMOD/kernel" -name "$1.ko" -o -name "$1.ko.xz" | head -1; }
add_mod() {
  local m=$1 f deps d
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  f=$(modpath "$m")
  if [ -z "$f" ]; then
    grep -q "/$m.ko\$" "$KMOD/modules.builtin" 2>/dev/null && return 0
    die "kernel module $m not found in $KVER"
  fi
  deps=$(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr ',' ' ')
  for d in $deps; do add_mod "$d"; done
  order+=("$m")
  cp "$f" "$R/lib/modules/"
}
for m in "${WANT_MODULES[@]}"; do add_mod "$m"; done
printf '%s\n' "${order[@]}" > "$R/etc/modules-order"

# the programs' tree: inside the initramfs, or the disk image's root
S=$R
[ "$IMAGE" = 1 ] && S="$WORK/sys" && mkdir -p "$S"
# copy a binary and the shared libraries ldd names for it, at the same paths
copy_elf() {
  local bin=$1 dest=$2
  install -D -m 0755 "$bin" "$S$dest"
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$S$(dirname "$lib")"
    cp -L "$lib" "$S$lib"
  done
}
copy_elf "$(readlink -f "$(command -v node)")" /usr/bin/node
[ -n "$RUNC" ] && copy_elf "$(readlink -f "$RUNC")" /usr/sbin/runc
install -D -m 0644 "$AGENT" "$S/opt/tsula/tsula-agent.mjs"
# --jitless: under TCG every piece of JIT-compiled code must be translated again by QEMU;
# the agent's work is I/O, and the interpreter starts ~1.5 s sooner there
echo "${TSULA_AGENT_NODE_FLAGS---jitless}" > "$R/etc/agent-node-flags"

cat > "$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
echo 'root:x:0:' > "$R/etc/group"

# /init: mount the basics, load modules in order, run the agent; when the agent exits the
# VM powers off (the host sees qemu exit: -no-reboot turns the reboot into an exit).
cat > "$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
echo "init: start $(cut -d' ' -f1 /proc/uptime)s"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup 2>/dev/null && \
  mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified 2>/dev/null
for m in $(cat /etc/modules-order); do
  insmod /lib/modules/$m.ko 2>/dev/null || echo "init: insmod $m failed"
done
# --image layout: the programs are on the first virtio disk; bind its top directories
if [ ! -e /opt/tsula/tsula-agent.mjs ]; then
  for i in $(seq 1 200); do [ -b /dev/vda ] && break; usleep 10000; done
  mkdir -p /mnt/sys && mount -o ro /dev/vda /mnt/sys || echo "init: cannot mount the guest image /dev/vda"
  for d in /mnt/sys/*; do
    [ "$d" = /mnt/sys/lost+found ] && continue
    mkdir -p "/${d#/mnt/sys/}" && mount -o bind "$d" "/${d#/mnt/sys/}"
  done
fi
ip link set lo up 2>/dev/null
hostname tsula-guest
# virtio ports appear asynchronously after the module loads; udev would make the named
# links, busybox mdev -s does the same from sysfs
for i in $(seq 1 100); do ls /sys/class/virtio-ports/ 2>/dev/null | grep -q . && break; usleep 10000; done
mkdir -p /dev/virtio-ports
for p in /sys/class/virtio-ports/*; do
  [ -f "$p/name" ] && ln -sf "/dev/$(basename "$p")" "/dev/virtio-ports/$(cat "$p/name")"
done
echo "init: ready $(cut -d' ' -f1 /proc/uptime)s"
if grep -q 'tsula.debug=1' /proc/cmdline && [ -e /dev/virtio-ports/debug.console.0 ]; then
  # a port can be open only once: one read-write open shared by the shell's stdio
  (while true; do setsid sh <>/dev/virtio-ports/debug.console.0 >&0 2>&0; sleep 1; done) &
fi
node $(cat /etc/agent-node-flags 2>/dev/null) /opt/tsula/tsula-agent.mjs
echo "init: tsula-agent exited with $?"
poweroff -f
EOF
chmod 0755 "$R/init"

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -6) > "$OUT/initramfs.cpio.gz"
if [ "$IMAGE" = 1 ]; then
  command -v mkfs.ext4 >/dev/null || die "--image needs mkfs.ext4 (e2fsprogs)"
  kib=$(du -sk "$S" | cut -f1)
  rm -f "$OUT/rootfs.img"
  # no journal: the disk is read-only in every VM
  mkfs.ext4 -q -F -L tsula-guest -O ^has_journal -d "$S" "$OUT/rootfs.img" "$((kib * 11 / 10 + 8192))k"
  echo "image: $OUT/rootfs.img ($(du -k "$OUT/rootfs.img" | cut -f1) KiB used)"
else
  rm -f "$OUT/rootfs.img"
fi
echo "kernel: $OUT/vmlinuz ($KVER, $(du -k "$OUT/vmlinuz" | cut -f1) KiB)"
echo "initramfs: $OUT/initramfs.cpio.gz ($(du -k "$OUT/initramfs.cpio.gz" | cut -f1) KiB, modules: ${order[*]})"
