#!/usr/bin/env bash
# The one entry point of the whole test suite (README, .ci/run): formatting,
# lints, doc links and every test suite. Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# A local S3 server (moto, on a free loopback port) for the S3 blob store's
# tests; stopped on exit unless it was already running. Without it those
# tests skip, except under GAIA_REQUIRE_SERVICES=1 (.ci/run), where a server
# that cannot start fails the run.
step "local S3 server (scripts/s3-server.sh)"
s3_started_here=0
stop_s3() {
  if [ "$s3_started_here" = 1 ]; then bash scripts/s3-server.sh stop; fi
}
trap stop_s3 EXIT
if bash scripts/s3-server.sh status; then
  echo "reusing the running one"
elif bash scripts/s3-server.sh start >/dev/null; then
  s3_started_here=1
elif [ "${GAIA_REQUIRE_SERVICES:-}" = 1 ]; then
  echo "cannot start the S3 server" >&2
  exit 1
else
  echo "no S3 server: the S3 tests will be skipped" >&2
fi
if bash scripts/s3-server.sh status; then
  eval "$(bash scripts/s3-server.sh env)"
fi

step "cargo test --workspace"
cargo test --workspace --locked

# Each binding's own suite (it installs what it needs): Python, Node, C/C++/C#.
for suite in bindings/python/test.sh bindings/node/test.sh bindings/ffi/test.sh; do
  if [ -f "$suite" ]; then
    step "$suite"
    bash "$suite"
  fi
done
