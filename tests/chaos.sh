#!/usr/bin/env bash
# The chaos soak (host/cli/tests/chaos.rs) with its report on the terminal:
# random kill -9s of workers, servers, delivery processes and the backfill,
# PostgreSQL crashed and restarted, then the rows compared with a calm run.
#   bash tests/chaos.sh            the CI variant (20 faults of each kind)
#   bash tests/chaos.sh --long     an hour or more of faults over a growing range,
#                                  then its calm run (plan on two to three hours)
#   TRACE_CHAOS_SEED=N bash tests/chaos.sh   replay a run's choices
# Needs what tests/setup.sh installs (PostgreSQL, moto).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    --long) export TRACE_CHAOS_LONG=1 ;;
    "") ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bash tests/chaos.sh [--long]" >&2; exit 2 ;;
esac
exec cargo test --locked -p trace-cli --test chaos -- --nocapture
