#!/usr/bin/env bash
# The C ABI's suite: builds libgaia_ffi, then compiles and runs the C (gcc),
# C++ (g++) and C# (Mono) programs against it. Installs Mono when `mcs` is
# missing. Quiet on success; a failing step prints its output and fails.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
lib_dir="$root/target/debug"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs a step quietly; on failure shows what it printed.
run() {
  local name="$1"
  shift
  if ! "$@" >"$work/$name.log" 2>&1; then
    echo "bindings/ffi: $name failed:" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
}

# Runs a test program and prints its closing "N passed, M failed" line.
run_test() {
  local name="$1"
  shift
  run "$name" env LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
  echo "$name: $(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$work/$name.log" | tail -n 1)"
}

run build cargo build -p gaia-ffi --locked --quiet

if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  run apt-update apt-get update -qq
  run mono-install apt-get install -y -qq --no-install-recommends mono-mcs mono-runtime
fi

run c-compile gcc -std=c11 -Wall -Wextra -Werror -O1 -g -Iinclude tests/c/test_gaia.c \
  -L"$lib_dir" -lgaia_ffi -lpthread -o "$work/test_gaia_c"
run_test c "$work/test_gaia_c"

# Once under valgrind (about 20 s): no invalid access, nothing definitely or
# indirectly lost. ("Possibly lost" is the process-wide runtime's live threads.)
if command -v valgrind >/dev/null; then
  run_test c-valgrind env LD_LIBRARY_PATH="$lib_dir" valgrind -q --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=9 "$work/test_gaia_c"
fi

run cpp-compile g++ -std=c++17 -Wall -Wextra -Werror -O1 -g -Iinclude -Icpp \
  tests/cpp/test_gaia.cpp -L"$lib_dir" -lgaia_ffi -lpthread -o "$work/test_gaia_cpp"
run_test cpp "$work/test_gaia_cpp"

# The core assembly alone (as Unity builds it), then the test program against it.
run cs-compile mcs -unsafe -warnaserror -target:library -out:"$work/Gaia.dll" unity/com.gaia.engine/Runtime/Core/*.cs
run cs-test-compile mcs -r:"$work/Gaia.dll" -r:System.Core.dll -out:"$work/TestGaia.exe" \
  tests/csharp/TestGaia.cs
run_test csharp mono "$work/TestGaia.exe"
