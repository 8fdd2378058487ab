#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (CUDA compiled in when nvcc is
# present) and runs every test with ctest. GPU tests skip themselves without a GPU.
# Usage: scripts/test.sh [--cpu-only]   (--cpu-only builds with -DGBAD_CUDA=OFF in build-cpu/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
build="$root/build"
extra=()
if [ "${1:-}" = "--cpu-only" ]; then
  build="$root/build-cpu"
  extra=(-DGBAD_CUDA=OFF)
fi
start=$(date +%s)
"$root/scripts/build.sh" "$build" "${extra[@]}"
echo "test: build took $(( $(date +%s) - start )) s"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 900
