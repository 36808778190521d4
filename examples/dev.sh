#!/usr/bin/env bash
# `trace dev`: the whole platform in one process (SQLite, in-process queue,
# dispatcher, workers) running examples/dags/dev.yaml over blocks 0..100,000.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest \
    -p op-range-splitter -p op-range-aggregator -p op-erc20-transfers
cargo run --locked --quiet -p trace-cli -- dev examples/dags/dev.yaml \
    --operators "$target/wasm32-wasip2/guest" \
    --range 0..100000 \
    --database "$target/trace-dev.db"
