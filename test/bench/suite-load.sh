#!/usr/bin/env bash
# The suite beside another CPU-heavy job: N runs in a row of `bash .ci/run`, each on a fresh clone
# of this repository's HEAD, each beside one busy core (sha256sum of an endless stream). Prints
# each run's exit code, wall time and load; exits 1 when any run failed.
#   bash test/bench/suite-load.sh [RUNS] [HOGS]      (defaults: 3 runs, 1 busy core; 0 hogs = quiet)
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-3}
hogs=${2:-1}
work=$(mktemp -d /tmp/gwfleet-suite-load-XXXXXX)
failed=0
for n in $(seq 1 "$runs"); do
  git clone -q "$repo" "$work/clone"
  pids=()
  for _ in $(seq 1 "$hogs"); do sha256sum /dev/zero & pids+=($!); done
  start=$(date +%s)
  (cd "$work/clone" && bash .ci/run) > "$work/run$n.log" 2>&1
  rc=$?
  end=$(date +%s)
  ((${#pids[@]})) && kill "${pids[@]}"
  summary=$(grep -E 'Tests +[0-9]' "$work/run$n.log" | tail -1 | sed 's/^ *//')
  echo "run $n: exit $rc, $((end - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg); $summary (log: $work/run$n.log)"
  ((rc)) && failed=1
  rm -rf "$work/clone"
done
exit $failed
