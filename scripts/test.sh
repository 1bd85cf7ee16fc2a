#!/usr/bin/env bash
# The one entry point of the whole test suite (README, .ci/run): formatting,
# lints and every test suite. Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace"
cargo test --workspace --locked

# Each binding's own suite (it installs what it needs): Python, Node, C/C++/C#.
for suite in bindings/python/test.sh bindings/node/test.sh bindings/ffi/test.sh; do
  if [ -f "$suite" ]; then
    step "$suite"
    bash "$suite"
  fi
done
