#!/usr/bin/env bash
# Installs everything Trace's tests need on a fresh Debian-like machine, then
# says so. Safe to rerun: what is already there is left alone.
#
#   - the wasm32-wasip2 Rust target (guest components are built from source);
#   - PostgreSQL's server binaries from Debian (the store's tests start a
#     throwaway cluster on 127.0.0.1);
#   - moto's server from PyPI (SQS and S3 on 127.0.0.1);
#   - the pinned componentize-qjs and componentize-py (JavaScript and Python
#     operators), into ~/.cache/trace/tools;
#   - DuckDB's prebuilt library (pinned, checksum-checked) for the query
#     engine, into host/query/lib;
#   - anvil, a real Ethereum node (pinned, checksum-checked; from npm), into
#     ~/.cache/trace/tools/anvil, for the ingest tests;
#   - Debian's chromium and chromium-driver, for the web console's browser
#     test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        echo "setup: $* needs root (or sudo)" >&2
        exit 1
    fi
}

rustup target add wasm32-wasip2

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "setup: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq postgresql >/dev/null
fi

if ! command -v moto_server >/dev/null 2>&1; then
    echo "setup: installing moto[server] from PyPI"
    python3 -m pip install --quiet 'moto[server]' || python3 -m pip install --quiet --user 'moto[server]'
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

if ! command -v chromedriver >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

bash guest-sdk/install-tools.sh
bash host/query/fetch-duckdb.sh
bash tests/fetch-anvil.sh
echo "setup: ready; run the tests with: cargo test --locked"
