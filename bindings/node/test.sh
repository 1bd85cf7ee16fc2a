#!/usr/bin/env bash
# The Node binding's suite, run by scripts/test.sh: installs the npm
# dependencies, builds the addon, runs the node:test suite (including the
# packaging test). Quiet on success; prints everything on failure.
set -euo pipefail
cd "$(dirname "$0")"
workspace="$(cd ../.. && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Runs a command with its output kept in the log, shown only if it fails.
quiet() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "bindings/node/test.sh: failed: $*" >&2
    exit 1
  fi
}

# Installs when package-lock.json changed since the last install (or never ran).
# `npm install`, not `npm ci`: npm 11 leaves the optional per-platform
# packages of @napi-rs/cli out of the lock file, which `npm ci` then refuses.
stamp=node_modules/.gaia-lock-sha256
if [ ! -f "$stamp" ] || ! sha256sum --check --status "$stamp" 2>/dev/null; then
  quiet npm install --no-audit --no-fund
  sha256sum package-lock.json package.json >"$stamp"
fi

quiet node_modules/.bin/napi build --platform --js native.js --dts native.d.ts \
  --target-dir "${CARGO_TARGET_DIR:-$workspace/target}"

if ! node --test tests/*.test.js >"$log" 2>&1; then
  cat "$log" >&2
  echo "bindings/node/test.sh: node --test failed" >&2
  exit 1
fi
grep -E '^# (tests|pass|fail) ' "$log"
