#!/usr/bin/env bash
# `trace dev` at scale on synthetic blocks: the whole platform in one
# process (SQLite, in-process queue, dispatcher, workers) running the
# synthetic pipeline (examples/dags/pipeline.yaml, ten generated EVM logs
# per block) over blocks 0..100,000, then querying what it published. The
# same UDF runs on a real chain in examples/dev.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest \
    -p op-synthetic-blocks -p op-range-aggregator -p op-erc20-transfers
bash host/query/fetch-duckdb.sh
cargo run --locked --quiet -p trace-cli -- dev examples/dags/pipeline.yaml \
    --operators "$target/wasm32-wasip2/guest" \
    --range 0..100000 \
    --database "$target/trace-dev.db"
