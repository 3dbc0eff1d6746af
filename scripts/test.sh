#!/usr/bin/env bash
# Install what the tests need, build, and run the whole suite with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "the suite runs real containers: run as root" >&2; exit 1; }
scripts/deps.sh --test
scripts/ensure-guest.sh "${TSULA_GUEST_DIR:-/var/lib/tsula/guest}"
scripts/build-busybox-image.sh "$(pwd)/build/images" >/dev/null
# the stock docker CLI (Debian's docker.io client binary, unpacked into build/tools)
scripts/docker-cli.sh >/dev/null
# the real CRI client (cri-tools v1.29) beside the project, when it is there
[[ -x ../shared/tools/crictl ]] && export PATH="$(cd ../shared/tools && pwd):$PATH"
# Files named on the command line: just those.
if (($#)); then exec node --test --test-concurrency=1 --test-timeout=600000 "$@"; fi

# 1. unit tests and integration tests, each file with its own private daemons, three at a time
#    (they wait on runc, conmon and the disk as much as they compute: on 2 cores three files
#    at once took 6.2 min where two took 9.4);
# 2. the VM tests last, two files at once and nothing else (QEMU under TCG keeps a core busy
#    while it boots; the tests' boot deadlines, 120 s, leave room for a boot of ~10-25 s that
#    shares the host: 7.1 min where one at a time took 10-13);
# 3. the leak check: nothing any test started may be left (compared with a snapshot taken now).
baseline=$(mktemp "${TMPDIR:-/tmp}/tsula-leaks.XXXXXX")
tap=$(mktemp "${TMPDIR:-/tmp}/tsula-tap.XXXXXX")
trap 'rm -f "$baseline" "$tap"' EXIT
node dist/test/leaks/snapshot.js > "$baseline"
# Longest first, so that no long file starts last and runs alone at the end: the VM files that
# take minutes (template, snapshot, sandbox: ~2-3.5 min each) lead; the unit files (seconds)
# fill the lanes at the end of the first phase.
slow_vm=(template snapshot sandbox)
mapfile -t vm < <(for n in "${slow_vm[@]}"; do ls dist/test/integration/vmm-$n.test.js; done
  ls dist/test/integration/vmm-*.test.js | grep -vE "/vmm-($(IFS='|'; echo "${slow_vm[*]}"))\.")
mapfile -t rest < <(ls dist/test/integration/*.test.js | grep -v '/vmm-'; ls dist/test/unit/*.test.js)
rc=0
node --test --test-concurrency=3 --test-timeout=300000 "${rest[@]}" | tee -a "$tap" || rc=1
node --test --test-concurrency=2 --test-timeout=600000 "${vm[@]}" | tee -a "$tap" || rc=1
TSULA_LEAK_BASELINE=$baseline node --test dist/test/leaks/check.js | tee -a "$tap" || rc=1
# A log is often read from its tail (CI keeps a part of it): the failures again, at the end,
# each with its error (up to 40 lines).
if grep -q '^ *not ok' "$tap"; then
  echo "# failed tests:"
  awk '/^ *not ok/ { p = 1; n = 0; match($0, /^ */); end = sprintf("%*s...", RLENGTH + 2, "") }
       p && n++ < 40 { print "#   " $0 }
       p && $0 == end { p = 0 }' "$tap"
fi
exit $rc
