#!/usr/bin/env bash
# Quickstart with the krt command line. Uses the engine at $KRUNTIMES_STATE_DIR (or the default
# state directory); starts one in the background, and stops it at the end, if none is running.
set -euo pipefail

if ! krt runtime list >/dev/null 2>&1; then
    krt up --detach --memory
    trap 'krt down' EXIT
fi
krt runtime list

# Run a command and wait for it: its output is printed, and krt exits with its result.
krt run -r bash --wait -- echo "hello from a warm bash pod"

# Submit without waiting (krt prints the name), then follow the output until the end.
name=$(krt run -r bash -- bash -c 'for i in 1 2 3; do echo "step $i"; done')
krt logs -f "$name"
krt get "$name"

# A python snippet from stdin.
krt run -r python --wait -f - <<'PY'
import sys
print("python", sys.version.split()[0], "on a warm worker")
PY

# Scripts can rely on exit codes: 1 Failed, 124 Timeout, 130 Cancelled.
status=0
krt run -r bash --wait --timeout 500ms -- sleep 30 || status=$?
echo "a Run that sleeps past its timeout exits with $status"

krt list --runtime bash
