#!/usr/bin/env bash
# Build tsula's test images from the host's busybox-static, with no network:
#   OUTDIR/busybox-oci.tar  busybox:latest, oci-archive (gzip layers, as skopeo writes it)
#   OUTDIR/busybox.tar      busybox:latest, docker-archive (uncompressed layers)
#   OUTDIR/layered.tar      layered:latest, docker-archive: busybox's layer + 2 layers that
#                           exercise whiteouts (see below)
# Layers are made with GNU tar (fixed mtime, sorted, uid/gid 0) and added verbatim with
# `umoci raw add-layer`, and every timestamp is pinned, so the image ids are the same on
# every run and on every machine with the same busybox binary. Re-running overwrites.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
OUTDIR=$1

for tool in umoci skopeo tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$0: '$tool' not found (apt-get install $tool)" >&2; exit 1; }
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "$0: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
# A dynamically linked busybox would not run inside an image that has no libc.
if command -v file >/dev/null 2>&1 && ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
  echo "$0: $BUSYBOX is not statically linked (apt-get install busybox-static)" >&2; exit 1
fi

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsula-busybox.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

EPOCH=2024-01-01T00:00:00Z
# GNU tar flags for a reproducible layer tar: what is in it depends only on the files.
TAR_REPRO=(--sort=name --mtime="$EPOCH" --owner=0 --group=0 --numeric-owner --format=posix
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)

layer_tar() { # layer_tar DIR OUT.tar: the contents of DIR, paths relative to it
  tar -C "$1" "${TAR_REPRO[@]}" -cf "$2" .
}

# --- rootfs of busybox ---------------------------------------------------------------------
ROOT=$WORK/rootfs
mkdir -p "$ROOT"/{bin,dev,etc,home,proc,root,sys,tmp,usr/bin,usr/sbin,var}
cp "$BUSYBOX" "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"
# What `busybox --install -s` does, but into /bin only and with relative links, so the
# links also resolve when the rootfs is looked at from the host.
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] && continue
  ln -sf busybox "$ROOT/bin/$applet"
done
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
chmod 0644 "$ROOT/etc/passwd" "$ROOT/etc/group"
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"
chmod 0755 "$ROOT" "$ROOT"/{bin,dev,etc,home,proc,sys,usr,usr/bin,usr/sbin,var}
layer_tar "$ROOT" "$WORK/base.tar"

# --- busybox:latest as an OCI layout -------------------------------------------------------
OCI=$WORK/oci
umoci init --layout "$OCI"
umoci new --image "$OCI:busybox"
umoci config --image "$OCI:busybox" --no-history --created "$EPOCH" \
  --architecture amd64 --os linux \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd sh
umoci raw add-layer --image "$OCI:busybox" --history.created "$EPOCH" \
  --history.created_by "busybox-static $("$BUSYBOX" 2>&1 | head -1 | awk '{print $2}')" "$WORK/base.tar"

# --- layered:latest: busybox + whiteout layers ---------------------------------------------
# layer 1 adds /data/keep, /data/gone, /opq/a;
# layer 2 deletes /data/gone (.wh.gone) and makes /opq opaque (.wh..wh..opq) with a new /opq/b,
# so a container sees /data/keep, /opq/b and neither /data/gone nor /opq/a.
L1=$WORK/l1; L2=$WORK/l2
mkdir -p "$L1/data" "$L1/opq" "$L2/data" "$L2/opq"
echo keep >"$L1/data/keep"; echo gone >"$L1/data/gone"; echo a >"$L1/opq/a"
: >"$L2/data/.wh.gone"; : >"$L2/opq/.wh..wh..opq"; echo b >"$L2/opq/b"
chmod 0755 "$L1" "$L1"/* "$L2" "$L2"/*
chmod 0644 "$L1"/*/* "$L2"/*/*
layer_tar "$L1" "$WORK/l1.tar"
layer_tar "$L2" "$WORK/l2.tar"
umoci tag --image "$OCI:busybox" layered
umoci raw add-layer --image "$OCI:layered" --history.created "$EPOCH" --history.created_by "layer 1: add" "$WORK/l1.tar"
umoci raw add-layer --image "$OCI:layered" --history.created "$EPOCH" --history.created_by "layer 2: whiteouts" "$WORK/l2.tar"

# --- archives ------------------------------------------------------------------------------
# skopeo refuses to overwrite some destinations; write to temp names, then rename.
rm -f "$OUTDIR"/.busybox-oci.tar.new "$OUTDIR"/.busybox.tar.new "$OUTDIR"/.layered.tar.new
skopeo copy --quiet "oci:$OCI:busybox" "oci-archive:$OUTDIR/.busybox-oci.tar.new:busybox:latest"
skopeo copy --quiet "oci:$OCI:busybox" "docker-archive:$OUTDIR/.busybox.tar.new:busybox:latest"
skopeo copy --quiet "oci:$OCI:layered" "docker-archive:$OUTDIR/.layered.tar.new:layered:latest"
mv -f "$OUTDIR/.busybox-oci.tar.new" "$OUTDIR/busybox-oci.tar"
mv -f "$OUTDIR/.busybox.tar.new" "$OUTDIR/busybox.tar"
mv -f "$OUTDIR/.layered.tar.new" "$OUTDIR/layered.tar"
echo "built $OUTDIR/busybox-oci.tar $OUTDIR/busybox.tar $OUTDIR/layered.tar"
