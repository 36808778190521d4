#!/usr/bin/env bash
# The ERC-20 example pipeline on a real chain, in one process. It starts
# anvil (a local Ethereum node, from tests/fetch-anvil.sh) on
# 127.0.0.1:8545, deploys the test ERC-20 and makes 40 transfers
# (examples/chain.py), then `trace dev` ingests the chain with evm_source
# over a pool of two slots, each with its own key (kept as org secrets),
# runs the example UDF on the logs, and queries the transfers it found.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
tools="${TRACE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trace/tools}"

rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --quiet --target wasm32-wasip2 --profile guest -p op-evm-source -p op-erc20-transfers
bash host/query/fetch-duckdb.sh
bash tests/fetch-anvil.sh
if (exec 3<>/dev/tcp/127.0.0.1/8545) 2>/dev/null; then
    echo "something already listens on 127.0.0.1:8545; stop it first (this example starts its own node there)" >&2
    exit 1
fi
"$tools/anvil/anvil" --host 127.0.0.1 --port 8545 > "$target/anvil.log" 2>&1 &
node=$!
trap 'kill $node' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/8545) 2>/dev/null && break; sleep 0.1; done

made="$(python3 examples/chain.py --rpc http://127.0.0.1:8545 --transfers 40 --blocks 100)"
head="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["head"])' "$made")"

# Each slot's key, as trace dev takes secrets: from the environment (anvil
# accepts any key; a hosted node would check it).
export NODE_KEY_A="example-key-a-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export NODE_KEY_B="example-key-b-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
db="$target/trace-chain.db"
rm -f "$db"
cargo run --locked --quiet -p trace-cli -- dev examples/dags/chain.yaml \
    --operators "$target/wasm32-wasip2/guest" \
    --range "0..$((head - 1))" --chunk 50 \
    --secret node-a=NODE_KEY_A --secret node-b=NODE_KEY_B \
    --database "$db" | tee "$target/trace-chain.out"
org="$(grep -o 'dev_[0-9]*' "$target/trace-chain.out" | tail -n 1)"
echo "the first transfers the UDF found (tokens of 18 decimals):"
cargo run --locked --quiet -p trace-cli -- query --db "sqlite:$db" --org "$org" --format table \
    "SELECT block_number, '0x' || lower(hex(\"to\")) AS recipient, round(value / 1e18, 6) AS tokens FROM erc20_transfers WHERE hex(\"from\") <> '0000000000000000000000000000000000000000' ORDER BY block_number LIMIT 10"
