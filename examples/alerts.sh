#!/usr/bin/env bash
# Alerts end to end in one process: `trace dev` runs examples/dags/alerts.yaml
# over blocks 0..20,000 and sends its alerts as signed webhooks to
# examples/receiver.py on 127.0.0.1, which checks every signature and prints
# each alert once.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest \
    -p op-synthetic-blocks -p op-erc20-transfers -p op-alert-large-transfers -p op-alert-route
bash host/query/fetch-duckdb.sh
export TRACE_WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
python3 examples/receiver.py --port 8787 > "$target/alerts-received.jsonl" &
receiver=$!
trap 'kill $receiver' EXIT
sleep 0.5
cargo run --locked --quiet -p trace-cli -- dev examples/dags/alerts.yaml \
    --operators "$target/wasm32-wasip2/guest" \
    --range 0..20000 \
    --database "$target/trace-alerts.db" \
    --destination ops=http://127.0.0.1:8787/hook \
    --destination pager=http://127.0.0.1:8787/hook
echo "the receiver accepted $(wc -l < "$target/alerts-received.jsonl") alert(s); the first:"
head -n 1 "$target/alerts-received.jsonl"
