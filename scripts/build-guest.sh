#!/bin/bash
# Build the guest assets for the vmm sandbox kind into OUTDIR:
#   OUTDIR/vmlinuz              Debian's cloud kernel (fetched with apt-get download, unpacked
#                               with dpkg -x: never installed into the host's /boot)
#   OUTDIR/initramfs.cpio.gz    busybox-static as /init, the kernel modules the agent needs,
#                               the host's node + its shared libs, runc, crun, conmon and catatonit
#                               + their libs,
#                               tsula-agent and its native addon (node-unix-socket)
#   OUTDIR/kernel-release       the guest kernel's release (uname -r inside the guest)
# Offline except for Debian's apt (one .deb, kept in OUTDIR for the next build). Needs: apt-get,
# dpkg, cpio, gzip, busybox-static, node, runc, crun, conmon, catatonit, build/tsula-agent.cjs (npm run build)
# and node_modules/node-unix-socket{,-linux-x64-gnu} (npm install).
#
# With --image, node, runc and the agent go into OUTDIR/rootfs.img (read-only ext4, given to
# the VM as a virtio-pmem device mounted with DAX, or a virtio-blk disk: vmm.toml's `image`
# and `disable_image_nvdimm` keys) and the initramfs keeps only busybox,
# the modules and /init. Under TCG the kernel unpacks a 40 MB initramfs in ~5 s, while the
# disk is read on demand: boots are that much faster.
set -euo pipefail

IMAGE=0
if [ "${1:-}" = "--image" ]; then IMAGE=1; shift; fi
OUT=${1:?usage: build-guest.sh [--image] OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=${TSULA_AGENT_BUNDLE:-$ROOT/build/tsula-agent.cjs}
KPKG=${TSULA_GUEST_KERNEL_PKG:-linux-image-cloud-amd64}
# what the agent needs in the guest; dependencies are added from each .ko's modinfo
# (virtio_net brings net_failover and failover: the pod's NIC, kata's tcfilter model)
# (virtio_pmem and nd_pmem: the image as a DAX disk, kata's image on nvdimm; see the init)
WANT_MODULES=(virtio_pci virtio_mmio virtio_console virtio-rng virtio_blk virtiofs overlay virtio_net virtio_pmem nd_pmem)
# and, loaded on demand, what containers may ask the guest kernel for
ONDEMAND_MODULES=(bridge)

die() { echo "build-guest: $*" >&2; exit 1; }
for t in apt-get dpkg cpio gzip node gcc; do command -v "$t" >/dev/null || die "missing tool: $t"; done
BUSYBOX=/bin/busybox
# the guest has no libc of its own for busybox: it must be the static build
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "busybox-static is not installed (apt-get install busybox-static)"
RUNC=$(command -v runc || true)
CRUN=$(command -v crun || true)
CONMON=$(command -v conmon || true)
CATATONIT=$(command -v catatonit || true)
[ -f "$AGENT" ] || die "agent bundle $AGENT is missing: run npm run build first"
# the agent's native addon: the package and its prebuilt binary for this platform
ADDON_PKGS=(node-unix-socket node-unix-socket-linux-x64-gnu)
for p in "${ADDON_PKGS[@]}"; do
  [ -d "$ROOT/node_modules/$p" ] || die "$ROOT/node_modules/$p is missing: run npm install first"
done

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
# keep only the kernel in use cached
for o in "$OUT"/linux-image-*.deb; do [ "$o" = "$deb" ] || rm -f "$o"; done
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
# busybox's applets as links in /bin (what `busybox --install -s /bin` makes, one process less
# at every boot)
for a in $("$BUSYBOX" --list); do
  [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
# /init's mounts, modules and devices, and the agent's ConfigureNetwork, each in one process
# (see tsula-boot.c, ip-batch.c): static, for any x86-64 CPU the guest gets
gcc -static -Os -s -march=x86-64 -mtune=generic -Wall -Wextra -Werror -o "$R/bin/tsula-boot" \
  "$ROOT/scripts/guest/tsula-boot.c" "$ROOT/scripts/guest/ip-batch.c" || die "cannot build tsula-boot (gcc, libc6-dev)"

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
boot_order=("${order[@]}")
# loaded only when asked (never at boot): the kernel's request_module runs /sbin/modprobe (below)
# for what a privileged container sets up, as `brctl addbr` (SIOCBRADDBR asks for "bridge")
order=()
for m in "${ONDEMAND_MODULES[@]}"; do add_mod "$m"; done
ondemand_order=("${order[@]}")
order=("${boot_order[@]}")
# The kernel checks a signed module's signature at every insmod (a SHA-256 of the module and
# an RSA verify): ~0.5 s of a TCG boot for these modules. This kernel does not enforce them
# (no CONFIG_MODULE_SIG_FORCE, no lockdown in the guest), so they go: the guest loads them
# unsigned and marks itself tainted (E) once. A kernel that enforces keeps them.
if ! grep -q '^CONFIG_MODULE_SIG_FORCE=y' "$OUT/config"; then
  node -e '
    const fs = require("fs");
    const MAGIC = Buffer.from("~Module signature appended~\n");
    for (const f of process.argv.slice(1)) {
      const b = fs.readFileSync(f);
      if (b.length < MAGIC.length + 12 || !b.subarray(-MAGIC.length).equals(MAGIC)) continue;
      // struct module_signature (12 bytes, sig_len big-endian last) precedes the magic
      const sigLen = b.readUInt32BE(b.length - MAGIC.length - 4);
      fs.writeFileSync(f, b.subarray(0, b.length - MAGIC.length - 12 - sigLen));
    }' "$R"/lib/modules/*.ko
fi
printf '%s\n' "${order[@]}" > "$R/etc/modules-order"
printf '%s\n' "${ondemand_order[@]}" > "$R/etc/modules-bridge"
# out of /lib/modules: the guest image's /lib is bound over the initramfs' after the boot
# modules are in, and the kernel's helper runs in the root the image's dirs cover
mkdir -p "$R/kmod"
for m in "${ondemand_order[@]}"; do mv "$R/lib/modules/$m.ko" "$R/kmod/"; done
# the kernel's modprobe (its usermode helper: `/sbin/modprobe -q -- NAME`): the bridge's
# modules, dependencies first, for "bridge" and ip-link's "rtnl-link-bridge"; nothing else
cat > "$R/sbin/modprobe" <<'MODPROBE'
#!/bin/sh
for m; do :; done
case "$m" in
bridge|rtnl-link-bridge)
  while read -r k; do insmod "/kmod/$k.ko" 2>/dev/null; done </etc/modules-bridge
  [ -d /sys/module/bridge ];;
*) exit 1;;
esac
MODPROBE
chmod 0755 "$R/sbin/modprobe"

# the programs' tree: inside the initramfs, or the disk image's root
S=$R
[ "$IMAGE" = 1 ] && S="$WORK/sys" && mkdir -p "$S"
# the shared libraries ldd names for an ELF file, at the same paths
copy_libs() {
  # a static binary (catatonit) has none: ldd says so and fails
  { ldd "$1" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$S$(dirname "$lib")"
    cp -L "$lib" "$S$lib"
  done
}
# copy a binary and its shared libraries
copy_elf() {
  install -D -m 0755 "$1" "$S$2"
  copy_libs "$1"
}
copy_elf "$(readlink -f "$(command -v node)")" /usr/bin/node
[ -n "$RUNC" ] && copy_elf "$(readlink -f "$RUNC")" /usr/sbin/runc
# the agent runs containers with crun when the image has it (tsula.oci_runtime=runc: runc)
[ -n "$CRUN" ] && copy_elf "$(readlink -f "$CRUN")" /usr/bin/crun
# the agent runs containers as the host does: conmon monitors runc's process
[ -n "$CONMON" ] && copy_elf "$(readlink -f "$CONMON")" /usr/bin/conmon
# pid 1 of a pod's shared PID namespace, reaping its orphans (src/agent/pod-namespaces.ts)
[ -n "$CATATONIT" ] && copy_elf "$(readlink -f "$CATATONIT")" /usr/bin/catatonit
install -D -m 0644 "$AGENT" "$S/opt/tsula/tsula-agent.cjs"
# a clone of a VM template sets its clock, CRNG, hostname and share up with it (src/agent/clone.ts)
node "$ROOT/scripts/guest/make-clone-setup.mjs" "$S/opt/tsula/tsula-clone-setup"
# the addon is loaded on first use from /opt/tsula/node_modules (see scripts/bundle.mjs)
mkdir -p "$S/opt/tsula/node_modules"
for p in "${ADDON_PKGS[@]}"; do
  cp -rL "$ROOT/node_modules/$p" "$S/opt/tsula/node_modules/"
done
for f in $(find "$S/opt/tsula/node_modules" -name '*.node'); do copy_libs "$f"; done
# --jitless: under TCG every piece of JIT-compiled code must be translated again by QEMU;
# the agent's work is I/O, and the interpreter starts ~1.5 s sooner there
# --no-rehash-snapshot: V8 would rehash every hash table of the agent's 5.7 MB snapshot with a
# new seed at each start (~6 ms on the host, ~15% of the start; far more under TCG). The seed
# guards a process against hash flooding by whoever feeds it keys: the agent's keys come
# from the host's sandboxer, and it lives for one pod. V8 takes a snapshot only under the
# flags it was made with, and the flags are part of the snapshot's cache key below.
FLAGS=${TSULA_AGENT_NODE_FLAGS---jitless --no-rehash-snapshot}
echo "$FLAGS" > "$R/etc/agent-node-flags"
# The agent's V8 startup snapshot (the module graph and protobuf registries deserialized
# instead of evaluated: ~2 s instead of ~6 s to the agent's first answer under TCG) is valid
# only for the node binary, the flags AND the CPU features it was made with: V8 refuses it
# on another CPU (node exits 14). The host's CPU is not the guest's (-cpu max under TCG,
# -cpu host under KVM), so snapshots are made in a guest and cached by the host (see /init
# and src/sandboxer/kinds/vmm/snapshots.ts). image-id names what a snapshot depends on
# in this image; /init adds the flags and the guest CPU's cpuinfo to make the cache key.
sha256sum "$AGENT" "$(readlink -f "$(command -v node)")" | cut -d' ' -f1 | sha256sum | cut -c1-16 > "$S/opt/tsula/image-id"

cat > "$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
echo 'root:x:0:' > "$R/etc/group"

# /init: mount the basics, load modules in order, run the agent; when the agent exits the
# VM powers off (the host sees qemu exit: -no-reboot turns the reboot into an exit).
cat > "$R/etc/profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=${TERM:-linux}
PS1='tsula-guest# '
cd /root 2>/dev/null
EOF
cat > "$R/init" <<'EOF'
#!/bin/busybox sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Every process costs ~15-20 ms under TCG, and busybox's shell forks for each applet it
# runs: this script keeps to the shell's builtins (read, echo, case, parameter expansion),
# and busybox's applet links are in the initramfs already (made at build time).
stamp() { read -r uptime_s _ </proc/uptime; echo "init: $1 ${uptime_s}s"; }
# The mounts, modules, disk and devices are tsula-boot's (scripts/guest/tsula-boot.c): one
# process instead of ~40 busybox ones.
# runc's pivot_root refuses the initramfs (the rootfs mount can't be pivoted): the first run,
# as PID 1 on the initramfs, becomes `tsula-boot root`, which loads the modules, copies the
# rest (~3.5 MB) into a tmpfs, frees the initramfs, makes the tmpfs the root and runs this
# again there, marked by /.tsula-tmpfs-root (or, should it fail, here with TSULA_BOOT_STAY).
# Without --image the copy includes node (~120 MB): slow, use --image.
if [ $$ = 1 ] && [ ! -e /.tsula-tmpfs-root ] && [ -z "${TSULA_BOOT_STAY:-}" ]; then
  exec /bin/tsula-boot root
fi
# /proc /sys /dev /run /tmp, cgroup2, the modules (unless loaded), the guest image (--image:
# on virtio-blk, or virtio-pmem with DAX for tsula.image=pmem), the virtio-fs share, lo, the
# hostname (tsula.hostname=, checked by the sandboxer), /dev/virtio-ports/NAME, the snapshot key
/bin/tsula-boot setup
read -r cmdline </proc/cmdline
# debug shell on the virtio console (/dev/hvc0, when the host gives one), respawned: a login
# shell in its own session with hvc0 as controlling tty (setsid -c), so job control works.
# The console appears a little after virtio_console loads: wait for it in the background.
# It starts 2 s late: its login shell would take the guest's one vCPU from the agent's start.
(
  usleep 2000000
  for i in $(seq 1 300); do [ -c /dev/hvc0 ] && break; usleep 10000; done
  [ -c /dev/hvc0 ] || exit 0
  while true; do
    TERM=linux HOME=/root setsid -c sh -l <>/dev/hvc0 >&0 2>&0
    sleep 1
  done
) </dev/null >/dev/null 2>&1 &
stamp ready
FLAGS=
[ -r /etc/agent-node-flags ] && read -r FLAGS </etc/agent-node-flags
SHARED=/run/tsula/shared
# the snapshot cache key (tsula-boot's: node + agent + flags, and this CPU's vendor, family,
# model and flags)
key=none
[ -r /run/tsula/agent-snapshot-key ] && read -r key </run/tsula/agent-snapshot-key
case " $cmdline " in
*" tsula.agent_snapshot=build "*)
  # a builder VM (no pod, no container ever runs here): make the snapshot for this CPU in
  # the writable share, check that V8 takes it, then power off; the host moves it into its cache
  if [ -s "$SHARED/.agent-snapshots/$key.blob" ]; then
    echo "init: agent snapshot $key: cached already"
  else
    echo "init: making the agent snapshot $key"
    tmp=$SHARED/.$key.tmp
    if node $FLAGS --snapshot-blob "$tmp" --build-snapshot /opt/tsula/tsula-agent.cjs &&
      TSULA_AGENT_CHECK=1 node $FLAGS --snapshot-blob "$tmp"; then
      mv "$tmp" "$SHARED/$key.blob" && echo "init: agent snapshot $key made"
    else
      rm -f "$tmp"; echo "init: making the agent snapshot $key failed"
    fi
  fi
  poweroff -f;;
*" tsula.agent_snapshot=off "*) snap="off";;
*) snap="missing $key";;
esac
# A start-up optimisation never makes a boot fail: the agent tells us (SIGUSR1) once it runs
# from the snapshot; a node that exits before that (a snapshot V8 refuses, a damaged blob)
# is followed at once by the plain script. A trapped signal ends `wait` early: wait again.
rc=
blob=$SHARED/.agent-snapshots/$key.blob
if [ "$snap" != off ] && [ -s "$blob" ]; then
  up=
  trap 'up=1' USR1
  TSULA_AGENT_SNAPSHOT="used $key" TSULA_AGENT_NOTIFY=1 node $FLAGS --snapshot-blob "$blob" &
  pid=$!
  wait $pid; rc=$?
  [ -n "$up" ] && [ -d /proc/$pid ] && { wait $pid; rc=$?; }
  if [ -z "$up" ]; then
    echo "init: the agent snapshot $key was refused (node exited with $rc): starting the agent without it"
    snap="refused $key exit=$rc"; rc=
  fi
  trap - USR1
elif [ "$snap" != off ] && [ -d "$SHARED/.agent-snapshots" ]; then
  echo "init: no agent snapshot for this CPU ($key) yet: starting the agent without one"
elif [ "$snap" != off ]; then
  echo "init: the host shares no agent snapshots: starting the agent without one"
fi
if [ -z "$rc" ]; then
  TSULA_AGENT_SNAPSHOT="$snap" node $FLAGS /opt/tsula/tsula-agent.cjs
  rc=$?
fi
echo "init: tsula-agent exited with $rc"
poweroff -f
EOF
chmod 0755 "$R/init"

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -6) > "$OUT/initramfs.cpio.gz"
if [ "$IMAGE" = 1 ]; then
  command -v mkfs.ext4 >/dev/null || die "--image needs mkfs.ext4 (e2fsprogs)"
  kib=$(du -sk "$S" | cut -f1)
  rm -f "$OUT/rootfs.img"
  # no journal: the disk is read-only in every VM; 4 KiB blocks, as DAX maps pages; the file
  # a multiple of 2 MiB, as QEMU places a virtio-pmem region at that alignment
  mkfs.ext4 -q -F -b 4096 -L tsula-guest -O ^has_journal -d "$S" "$OUT/rootfs.img" "$((kib * 11 / 10 + 8192))k"
  truncate -s "$(( ($(stat -c %s "$OUT/rootfs.img") + 2097151) / 2097152 * 2097152 ))" "$OUT/rootfs.img"
  echo "image: $OUT/rootfs.img ($(du -k "$OUT/rootfs.img" | cut -f1) KiB used)"
else
  rm -f "$OUT/rootfs.img"
fi
echo "kernel: $OUT/vmlinuz ($KVER, $(du -k "$OUT/vmlinuz" | cut -f1) KiB)"
echo "initramfs: $OUT/initramfs.cpio.gz ($(du -k "$OUT/initramfs.cpio.gz" | cut -f1) KiB, modules: ${order[*]})"
