#!/usr/bin/env bash
# Installs the pinned builders for JavaScript and Python operators into
# Trace's tools directory ($TRACE_TOOLS_DIR, default ~/.cache/trace/tools),
# where `trace op build` finds them. Safe to rerun: a tool already at its
# pinned version is left alone.
set -euo pipefail

QJS_VERSION=0.4.5      # keep in step with host/opkit/src/tools.rs
PY_VERSION=0.25.1

tools="${TRACE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trace/tools}"
mkdir -p "$tools/js"

qjs="$tools/js/node_modules/componentize-qjs/package.json"
if ! grep -q "\"version\": \"$QJS_VERSION\"" "$qjs" 2>/dev/null; then
    echo "installing componentize-qjs $QJS_VERSION into $tools/js"
    npm install --prefix "$tools/js" --no-audit --no-fund --loglevel=error "componentize-qjs@$QJS_VERSION"
fi

if ! "$tools/py/bin/componentize-py" --version 2>/dev/null | grep -q "$PY_VERSION"; then
    echo "installing componentize-py $PY_VERSION into $tools/py"
    python3 -m venv "$tools/py"
    "$tools/py/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$PY_VERSION"
fi
echo "tools ready in $tools"
