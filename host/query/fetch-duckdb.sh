#!/usr/bin/env bash
# Fetch the prebuilt DuckDB library the query crate links against: the
# `libduckdb.so` that the npm package @duckdb/node-bindings-linux-x64 ships,
# pinned by version and checked against its sha256. Building DuckDB from
# source (the `bundled` feature) takes over an hour on two cores.
#
# Puts the library in host/query/lib/ (ignored by git), where
# .cargo/config.toml points DUCKDB_LIB_DIR; the `trace` binary finds it
# there at run time through an rpath. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

version="1.5.6-r.1"
sha256="1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff"
lib="lib/libduckdb.so"
stamp="lib/.version"

if [[ -f "$lib" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@duckdb/node-bindings-linux-x64@$version" >/dev/null)
tarball="$work/duckdb-node-bindings-linux-x64-$version.tgz"
echo "$sha256  $tarball" | sha256sum --check --quiet || {
    echo "fetch-duckdb: checksum mismatch for @duckdb/node-bindings-linux-x64@$version" >&2
    exit 1
}
tar -xzf "$tarball" -C "$work" package/libduckdb.so
mkdir -p lib
mv "$work/package/libduckdb.so" "$lib"
echo "$version" > "$stamp"
echo "fetch-duckdb: DuckDB library $version in $(pwd)/lib"
