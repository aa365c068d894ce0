#!/usr/bin/env bash
# Runs the whole suite; pytest's exit 5 ("no tests collected") counts as a failure.
set -uo pipefail
bin=${1:-.venv/bin}
"$bin/pytest" -q "${@:2}"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$status"
