#!/usr/bin/env bash
# The distributed pieces on one machine: `trace server` (public + internal
# API, dispatcher) on a SQLite system database, moto's SQS on 127.0.0.1 as
# the queue, one `trace worker`, and a user acting through the public API
# with an API token. Everything stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
pids=()
stop() {
    # Newest first: the worker and server before the queue they use.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null; wait "${pids[i]}" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop EXIT

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest \
    -p op-range-splitter -p op-range-aggregator -p op-erc20-transfers
cargo build --locked --quiet -p trace-cli
trace="$target/debug/trace"

command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'" >&2; exit 1; }
moto_server -H 127.0.0.1 -p 5123 >/dev/null 2>&1 & pids+=($!)
export TRACE_DB="sqlite:$work/trace.db" TRACE_ORG=acme
export TRACE_WORKER_TOKEN="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TRACE_SQS_ENDPOINT=http://127.0.0.1:5123 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
until curl -s -o /dev/null http://127.0.0.1:5123; do sleep 0.2; done

"$trace" user add ann --role admin
token="$("$trace" token create ann 2>/dev/null)"

"$trace" server --listen 127.0.0.1:7070 & pids+=($!)
until curl -s -o /dev/null http://127.0.0.1:7070/api/v1/whoami; do sleep 0.2; done
"$trace" worker --server http://127.0.0.1:7070 --operators "$target/wasm32-wasip2/guest" & pids+=($!)

api() { curl -sS -H "Authorization: Bearer $token" "$@"; echo; }
api --data-binary @examples/dags/dev.yaml http://127.0.0.1:7070/api/v1/dags
api -H 'content-type: application/json' -d '{"run_id": "r1", "start": 0, "end": 50000}' \
    http://127.0.0.1:7070/api/v1/dags/blocks_pipeline/jobs/blocks/trigger
for _ in $(seq 1 100); do
    open="$(api 'http://127.0.0.1:7070/api/v1/tasks?limit=1000' | jq '[.[] | select(.status == "pending" or .status == "running")] | length')"
    total="$(api 'http://127.0.0.1:7070/api/v1/tasks?limit=1000' | jq length)"
    echo "tasks: $total, open: $open"
    [ "$open" = 0 ] && [ "$total" -gt 1 ] && break
    sleep 0.5
done
api http://127.0.0.1:7070/api/v1/datasets | jq .
