#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — builds the scenario-parser fuzz target
# (tests/fuzz/fuzz_scenario.c) with clang, libFuzzer, ASan and UBSan into
# build-fuzz/, and runs it for SECONDS (default 20), seeded with
# scenarios/*.scn.  Exit status is libFuzzer's: non-zero when an input
# crashed the parser (the input is saved as build-fuzz/crash-*).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
out=build-fuzz
mkdir -p "$out/corpus"
clang -std=gnu11 -g -O1 -D_GNU_SOURCE \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra -Werror -Wno-unused-parameter \
  -Iinclude -Itools/aspace \
  tests/fuzz/fuzz_scenario.c tools/aspace/parse.c tools/aspace/format.c \
  -o "$out/fuzz_scenario"
cp scenarios/*.scn tests/scenario-errors/*.scn "$out/corpus/"
exec "$out/fuzz_scenario" -max_total_time="$secs" -max_len=4096 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/" \
  -print_final_stats=1 "$out/corpus"
