#!/usr/bin/env bash
# The stock docker CLI for the tests: the client binary alone from Debian 12's docker.io
# package (Docker 20.10, API 1.41), unpacked with dpkg -x into DIR (default build/tools), never
# installed and never running dockerd. Prints the binary's path; does nothing when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-build/tools}
BIN="$DIR/docker"
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
mkdir -p "$DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download needs the package lists: a fresh machine may not have them yet
if ! (cd "$work" && apt-get download -q docker.io >/dev/null 2>&1); then
  apt-get update -q >/dev/null
  (cd "$work" && apt-get download -q docker.io) || { echo "docker-cli: cannot download Debian's docker.io package (apt-get download docker.io failed)" >&2; exit 1; }
fi
dpkg -x "$work"/docker.io_*.deb "$work/x"
install -m 0755 "$work/x/usr/bin/docker" "$BIN"
"$BIN" --version >&2
echo "$BIN"
