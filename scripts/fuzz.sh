#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, -DGBAD_FUZZ=ON, in build-fuzz/) and runs
# each for SECONDS, at most FUZZ_JOBS (default 2) at a time. Fails on any finding: a crash, a
# sanitizer report, a timeout (-timeout, default 30 s per input), an allocation over 2 GB, or
# an exception other than gbad::Error escaping a reader.
#
# Usage: scripts/fuzz.sh SECONDS [TARGET...]     (default: every target)
#   Corpus: the committed seeds and regressions in fuzz/corpus/<target>/ plus fresh valid seeds
#   (fuzz_make_seeds) are read; new inputs go to build-fuzz/corpus/<target>/ (kept between
#   runs); a finding is written to build-fuzz/findings/<target>/. Add each finding, once fixed,
#   to fuzz/corpus/<target>/ as crash-<what> so it stays a regression test.
#   FUZZ_NO_BUILD=1 skips the build; FUZZ_TIMEOUT sets the per-input limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
all=(fuzz_split_csv fuzz_image fuzz_pack fuzz_safetensors fuzz_checkpoint fuzz_pretrained fuzz_run_config
     fuzz_scores_csv fuzz_svm_model)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build="$root/build-fuzz"
jobs=${FUZZ_JOBS:-2}

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # -O1 with line tables: quick to build on a small machine, full stack traces in reports.
  cmake -S "$root" -B "$build" -G Ninja -DGBAD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DGBAD_BUILD_TESTS=OFF \
    -DGBAD_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
  ninja -C "$build" -j "$(nproc)" fuzz_all
fi

rm -rf "$build/seeds" "$build/findings" "$build/tmp" "$build/logs"
mkdir -p "$build/seeds" "$build/findings" "$build/tmp" "$build/logs"
"$build/fuzz/fuzz_make_seeds" "$build/seeds"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() {
  local t=$1
  local work="$build/corpus/$t" log="$build/logs/$t.log"
  mkdir -p "$work" "$build/findings/$t" "$build/tmp/$t"
  local dirs=("$work" "$root/fuzz/corpus/$t")
  [ -d "$build/seeds/$t" ] && dirs+=("$build/seeds/$t")
  local dict=()
  [ -f "$root/fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
  TMPDIR="$build/tmp/$t" nice -n 10 "$build/fuzz/$t" -max_total_time="$secs" \
    -timeout="${FUZZ_TIMEOUT:-30}" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$t/" "${dict[@]}" "${dirs[@]}" \
    >"$log" 2>&1
}

pids=() names=()
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/$t" ] || { echo "fuzz: no target $t (known: ${all[*]})"; exit 2; }
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzz: $t for ${secs} s"
  run_one "$t" &
  pids+=($!) names+=("$t")
done

fail=0
printf '%-18s %8s %12s %8s %8s %s\n' target seconds executions cov ft result
for i in "${!pids[@]}"; do
  t=${names[$i]} rc=0
  wait "${pids[$i]}" || rc=$?
  log="$build/logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  time_s=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | awk '{print $5}' | tail -1 || true)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  result=ok
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$build/findings/$t")" ]; then
    result="FINDING (exit $rc): $(ls "$build/findings/$t" | head -3 | tr '\n' ' ')see $log"
    fail=1
  fi
  printf '%-18s %8s %12s %8s %8s %s\n' "$t" "${time_s:-?}" "${execs:-?}" \
    "$(echo "$cov" | awk '{print $2}')" "$(echo "$cov" | awk '{print $4}')" "$result"
done
rm -rf "$build/tmp"
if [ "$fail" -ne 0 ]; then
  echo "fuzz: FAILED: findings above (inputs in $build/findings/)"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${secs} s without a finding"
