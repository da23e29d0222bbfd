#!/usr/bin/env bash
# The whole test suite: the debug build's tests, the same tests under
# AddressSanitizer+UBSan, and the concurrency tests under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
status=0
run() { # build-type ctest-args...
  local t=$1; shift
  echo "== $t =="
  local dir; dir=$(scripts/build.sh "$t")
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") || status=1
}
run debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run asan -LE slow
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run tsan -L concurrency
exit $status
