#!/usr/bin/env bash
# The distributed pieces on one machine: `trace server` (public + internal
# API, dispatcher) on a SQLite system database, moto's SQS on 127.0.0.1 as
# the queue, one `trace worker`, and a user acting through the public API
# with an API token, ending with a query of what the run published. The DAG
# is the example pipeline (examples/dags/pipeline.yaml). Everything stops
# when the script ends. Needs moto_server, curl and jq.
source "$(dirname "$0")/platform.sh"

build_platform op-synthetic-blocks op-range-aggregator op-erc20-transfers
start_queue 5123
"$trace" user add ann --role admin
token="$("$trace" token create ann 2>/dev/null)"
start_server_and_worker 7070

api() { curl -sS -H "Authorization: Bearer $token" "$@"; echo; }
api --data-binary @examples/dags/pipeline.yaml http://127.0.0.1:7070/api/v1/dags
api -H 'content-type: application/json' -d '{"run_id": "r1", "start": 0, "end": 20000}' \
    http://127.0.0.1:7070/api/v1/dags/erc20_pipeline/jobs/blocks/trigger
for _ in $(seq 1 100); do
    open="$(api 'http://127.0.0.1:7070/api/v1/tasks?limit=1000' | jq '[.[] | select(.status == "pending" or .status == "running")] | length')"
    total="$(api 'http://127.0.0.1:7070/api/v1/tasks?limit=1000' | jq length)"
    echo "tasks: $total, open: $open"
    [ "$open" = 0 ] && [ "$total" -gt 1 ] && break
    sleep 0.5
done
api http://127.0.0.1:7070/api/v1/datasets | jq .
# What came out, through the Query Service (the server reads the same storage).
api -H 'content-type: application/json' \
    -d '{"sql": "SELECT count(*) AS transfers, min(block_number) AS first_block, max(block_number) AS last_block FROM erc20_transfers"}' \
    http://127.0.0.1:7070/api/v1/query | jq .
