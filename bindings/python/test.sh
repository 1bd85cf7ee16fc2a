#!/usr/bin/env bash
# The Python binding's suite (called by scripts/test.sh): a virtual
# environment under target/python-venv (reused), `maturin develop` into it
# (dev profile, the workspace's target/), then pytest (which also runs the example
# notebook and mypy on a typed example). Quiet on success; prints the failing step's output otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/python-venv"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

run() { # run a step quietly; on failure show its output and stop
  if ! "$@" >"$log" 2>&1; then
    echo "bindings/python/test.sh: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

if [ ! -x "$venv/bin/python" ]; then
  run python3 -m venv "$venv"
fi
py="$venv/bin/python"
stamp="$venv/.gaia-requirements"
requirements="maturin>=1.7,<2 pytest mypy nbclient nbformat ipykernel"
if [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  # shellcheck disable=SC2086
  run "$py" -m pip install --disable-pip-version-check -q $requirements
  echo "$requirements" >"$stamp"
fi

export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
run "$venv/bin/maturin" develop --manifest-path "$here/Cargo.toml" --quiet
cd "$root"
# pytest runs every test, the example notebook (nbclient) and mypy on the
# typed example; only its closing line is shown on success.
run "$py" -m pytest "$here/tests" -q -p no:cacheprovider
tail -n 1 "$log"
