#!/usr/bin/env bash
# The main job on a bundled example: build (installing what is missing) and run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(scripts/build.sh release)
exec "$dir/examples/example_vma_tour" "$@"
