#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (CUDA compiled in when nvcc is
# present) and runs every test with ctest. GPU tests skip themselves without a GPU.
# Usage: scripts/test.sh [--cpu-only | --sanitize | --tsan]
#   --cpu-only  builds with -DGBAD_CUDA=OFF in build-cpu/.
#   --sanitize  CPU backend with AddressSanitizer + UndefinedBehaviorSanitizer (-O1 with debug
#               info, tests and binaries only, no benchmarks) in build-asan/; runs the whole
#               suite. Any report (leaks included) fails the test that caused it.
#   --tsan      CPU backend with ThreadSanitizer in build-tsan/; runs the data and loader tests
#               (the threaded parts: loader workers, the generator's thread pool).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
mode=${1:-}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
san_flags=(-DGBAD_CUDA=OFF -DGBAD_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
           "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g")
# Every sanitizer report stops the program (the build also uses -fno-sanitize-recover=all).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
start=$(date +%s)
case "$mode" in
  "")
    build="$root/build"
    "$root/scripts/build.sh" "$build" "${launcher[@]}"
    ;;
  --cpu-only)
    build="$root/build-cpu"
    "$root/scripts/build.sh" "$build" -DGBAD_CUDA=OFF "${launcher[@]}"
    ;;
  --sanitize)
    build="$root/build-asan"
    cmake -S "$root" -B "$build" -G Ninja -DGBAD_SANITIZE=address,undefined "${san_flags[@]}" \
      "${launcher[@]}" >/dev/null
    cmake --build "$build" -j "$(nproc)"
    ;;
  --tsan)
    build="$root/build-tsan"
    cmake -S "$root" -B "$build" -G Ninja -DGBAD_SANITIZE=thread "${san_flags[@]}" \
      "${launcher[@]}" >/dev/null
    cmake --build "$build" -j "$(nproc)" --target test_data
    ;;
  *)
    echo "usage: scripts/test.sh [--cpu-only | --sanitize | --tsan]" >&2
    exit 2
    ;;
esac
echo "test: build took $(( $(date +%s) - start )) s"
cd "$build"
if [ "$mode" = "--tsan" ]; then
  # Only the data library's tests are built here: Loader, Image, Sampler, SixrayReader, Synth.
  ctest --output-on-failure -j "$(nproc)" --timeout 900 -R '^(Loader|Image|Sampler|SixrayReader|Synth|Cli)\.'
else
  ctest --output-on-failure -j "$(nproc)" --timeout 900
fi
