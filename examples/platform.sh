# Sourced by the example scripts that run the distributed pieces on this
# machine: a throwaway SQLite system database and local object storage,
# moto's SQS on 127.0.0.1, `trace server` and one `trace worker`, all
# stopped when the script ends. Needs `moto_server`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
trace="$target/debug/trace"
pids=()
stop() {
    # Newest first: the worker and server before the queue they use.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null; wait "${pids[i]}" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop EXIT

# build_platform GUEST_PACKAGE...: the CLI and the operators the DAG uses.
build_platform() {
    rustup target add wasm32-wasip2 >/dev/null
    local packages=()
    for p in "$@"; do packages+=(-p "$p"); done
    cargo build --locked --quiet --target wasm32-wasip2 --profile guest "${packages[@]}"
    bash host/query/fetch-duckdb.sh
    cargo build --locked --quiet -p trace-cli
}

# start_queue PORT: moto's SQS, and the environment every command shares.
start_queue() {
    command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'" >&2; exit 1; }
    moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pids+=($!)
    export TRACE_DB="sqlite:$work/trace.db" TRACE_ORG=acme TRACE_STORAGE="file://$work/objects"
    export TRACE_WORKER_TOKEN="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export TRACE_SQS_ENDPOINT="http://127.0.0.1:$1" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    until curl -s -o /dev/null "http://127.0.0.1:$1"; do sleep 0.2; done
}

# start_server_and_worker PORT: the APIs on 127.0.0.1:PORT and a worker.
start_server_and_worker() {
    "$trace" server --listen "127.0.0.1:$1" >/dev/null & pids+=($!)
    until curl -s -o /dev/null "http://127.0.0.1:$1/api/v1/whoami"; do sleep 0.2; done
    "$trace" worker --server "http://127.0.0.1:$1" --operators "$target/wasm32-wasip2/guest" >/dev/null & pids+=($!)
}
