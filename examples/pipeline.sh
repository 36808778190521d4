#!/usr/bin/env bash
# The example data pipeline (examples/dags/pipeline.yaml) through its life:
# deploy, backfill the source with progress, read the published dataset's
# partitions, stage an edited UDF threshold, rematerialize it, cut over,
# roll back. Runs `trace server` and a `trace worker` on this machine with
# moto's SQS and local object storage (needs `moto_server`).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
pids=()
stop() {
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null; wait "${pids[i]}" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop EXIT

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest \
    -p op-synthetic-blocks -p op-range-aggregator -p op-erc20-transfers
cargo build --locked --quiet -p trace-cli
trace="$target/debug/trace"

command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'" >&2; exit 1; }
moto_server -H 127.0.0.1 -p 5124 >/dev/null 2>&1 & pids+=($!)
export TRACE_DB="sqlite:$work/trace.db" TRACE_ORG=acme TRACE_STORAGE="file://$work/objects"
export TRACE_WORKER_TOKEN="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TRACE_SQS_ENDPOINT=http://127.0.0.1:5124 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
until curl -s -o /dev/null http://127.0.0.1:5124; do sleep 0.2; done

"$trace" deploy examples/dags/pipeline.yaml
"$trace" server --listen 127.0.0.1:7071 >/dev/null & pids+=($!)
until curl -s -o /dev/null http://127.0.0.1:7071/api/v1/whoami; do sleep 0.2; done
"$trace" worker --server http://127.0.0.1:7071 --operators "$target/wasm32-wasip2/guest" >/dev/null & pids+=($!)

echo "== backfill the source, 1,000 blocks per run"
"$trace" backfill erc20_pipeline blocks --range 0..30000 --chunk 1000 --every 500ms | sed -n '1p;$p'
until "$trace" tasks --limit 1000 | awk 'NR > 1 && ($3 == "pending" || $3 == "running") { open = 1 } END { exit open }'; do sleep 0.5; done
"$trace" datasets

echo "== stage a higher threshold (rematerializes the edited job), cut over"
sed 's/min_value: "1000000000000"/min_value: "10000000000000"/' examples/dags/pipeline.yaml > "$work/v2.yaml"
"$trace" deploy "$work/v2.yaml" --staged
until "$trace" tasks --limit 1000 | awk 'NR > 1 && ($3 == "pending" || $3 == "running") { open = 1 } END { exit open }'; do sleep 0.5; done
"$trace" cutover erc20_pipeline 2
"$trace" datasets
echo "== roll back"
"$trace" rollback erc20_pipeline
"$trace" datasets
