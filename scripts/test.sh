#!/usr/bin/env bash
# Install what the tests need, build, and run the whole suite with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "the suite runs real containers: run as root" >&2; exit 1; }
scripts/deps.sh --test
scripts/ensure-guest.sh "${TSULA_GUEST_DIR:-/var/lib/tsula/guest}"
scripts/build-busybox-image.sh "$(pwd)/build/images" >/dev/null
# unit tests first (fast, no daemon), then integration tests each with a private tsulad
exec node --test --test-concurrency=2 --test-timeout=300000 "$@" dist/test/
