#!/usr/bin/env bash
# make test-faults: the fault suite (issue #5). Runs the product binary
# (build/x86_64/fillrelay, or FR_FAULT_BIN) against the local Bybit peer
# (tests/peer/) and the private PostgreSQL + Redis of tests/services.sh, breaks
# things while fills flow, and checks every fill exactly once afterwards.
#
#   tests/faults/run.sh [--full] [--keep] [SCENARIO_SUBSTRING...]
#
# FR_FAULT_SEED=N reproduces a run (the seed is printed first and on failure).
# FR_FAULT_DIR=DIR work directory (default /tmp/fr-faults-PID; removed on
# success unless --keep). Prints one line per scenario ("ok NAME (...)" or
# "FAIL NAME ..."), then "N passed, N failed"; exit status 1 on any failure.
# The work is done by faults.py (Python 3 standard library, curl-free).
set -uo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/faults/faults.py "$@"
