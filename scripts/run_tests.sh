#!/usr/bin/env bash
# Runs the test suite: scripts/run_tests.sh [BIN] [all|local|cluster] [pytest args...]
#   local    every test but the cluster ones (one local Spark session in the pytest process)
#   cluster  the cluster tests (a Spark standalone cluster on loopback, the built wheel)
#   all      local, then cluster, in two pytest processes so their JVMs never run side by side
# pytest's exit 5 ("no tests collected") counts as a failure. Each part prints its wall time.
set -uo pipefail
bin=${1:-.venv/bin}
part=${2:-all}
extra=("${@:3}")

run_part() {
  local name=$1 marker=$2 started status
  started=$(date +%s)
  "$bin/pytest" -q -m "$marker" "${extra[@]}"
  status=$?
  echo "tests ($name): exit $status, wall time $(( $(date +%s) - started )) s"
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no $name tests: that is a failure, not a pass" >&2
    return 1
  fi
  return "$status"
}

case "$part" in
  local) run_part local "not cluster" ;;
  cluster) run_part cluster "cluster" ;;
  all)
    run_part local "not cluster"
    local_status=$?
    run_part cluster "cluster"
    cluster_status=$?
    [ "$local_status" -eq 0 ] && [ "$cluster_status" -eq 0 ]
    ;;
  *) echo "unknown part '$part'; use all, local or cluster" >&2; exit 2 ;;
esac
