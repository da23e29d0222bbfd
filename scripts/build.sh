#!/usr/bin/env bash
# scripts/build.sh [debug|release|asan|tsan] — configure and build one build
# type into build/ (debug), build-release/, build-asan/ or build-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
type=${1:-debug}
case "$type" in
  debug)   dir=build;         bt=Debug ;;
  release) dir=build-release; bt=Release ;;
  asan)    dir=build-asan;    bt=Asan ;;
  tsan)    dir=build-tsan;    bt=Tsan ;;
  *) echo "usage: scripts/build.sh [debug|release|asan|tsan]" >&2; exit 2 ;;
esac
scripts/deps.sh
cc=gcc
[ "$type" = tsan ] && cc=clang   # clang's TSan runtime handles liburcu's threads best
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$bt" -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
echo "$dir"
