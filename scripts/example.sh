#!/usr/bin/env bash
# The main job on the bundled example: build (installing what is missing),
# then run the bundled scenario on the engine (`aspace run` with no file).
# Extra arguments go to `aspace run` (e.g. --backend=linux, or scenario files).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(scripts/build.sh release)
exec "$dir/tools/aspace/aspace" run "$@"
