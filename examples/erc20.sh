#!/usr/bin/env bash
# Run the example UDF (ERC-20 transfers above a threshold) on the bundled
# Parquet file with `trace op run`: no server, just the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest -p op-erc20-transfers
cargo run --locked --quiet -p trace-cli -- op run \
    "$target/wasm32-wasip2/guest/op_erc20_transfers.wasm" \
    --input examples/data/erc20_logs.parquet \
    --range 17000000..17000500 \
    --config '{"min_value": "100000000000"}' \
    --out-dir "$target/example-out"
