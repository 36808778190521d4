#!/usr/bin/env bash
# Fetch anvil, a real Ethereum node the ingest tests, the example and the
# benchmark run on 127.0.0.1: the binary that the npm package
# @foundry-rs/anvil-linux-amd64 ships, pinned by version and checked against
# its sha256. Puts it at $TRACE_TOOLS_DIR/anvil/anvil (default
# ~/.cache/trace/tools). Idempotent.
set -euo pipefail

version="1.7.1"
sha256="5727dd8f08f3bf6dde4ec1d9832e87c43f9315ef824bff1ab18486bf51bc7af3"
tools="${TRACE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trace/tools}"
dir="$tools/anvil"
stamp="$dir/.version"

if [[ -x "$dir/anvil" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@foundry-rs/anvil-linux-amd64@$version" >/dev/null)
tarball="$work/foundry-rs-anvil-linux-amd64-$version.tgz"
echo "$sha256  $tarball" | sha256sum --check --quiet || {
    echo "fetch-anvil: checksum mismatch for @foundry-rs/anvil-linux-amd64@$version" >&2
    exit 1
}
tar -xzf "$tarball" -C "$work" package/bin/anvil
mkdir -p "$dir"
mv "$work/package/bin/anvil" "$dir/anvil"
chmod +x "$dir/anvil"
echo "$version" > "$stamp"
echo "fetch-anvil: anvil $version at $dir/anvil"
