#!/usr/bin/env bash
# Kill-and-resume soak of gbad-train-cnn and gbad-train-bigan (CPU, a miniature model on a
# miniature synthetic dataset):
#   1. an uninterrupted reference run of each;
#   2. the same run killed with SIGKILL at SOAK_KILLS random moments (seeded: SOAK_SEED),
#      resumed each time; every checkpoint left on disk after a kill must load into a model
#      built from its own metadata (gbad-verify-checkpoint), and the final weights and
#      checkpoint must equal the reference run's byte for byte;
#   3. the disk full (a small tmpfs when mount is allowed, else a file-size limit): a resumed
#      run must stop with one clear "error:" line and leave the last good checkpoint intact
#      (same bytes, still loads, no temporary file left).
# Usage: scripts/soak.sh [BUILD_DIR]   (default build/; needs gbad-synth, gbad-train-cnn,
#        gbad-train-bigan and gbad-verify-checkpoint in BUILD_DIR/bin)
#   SOAK_KILLS (20), SOAK_SEED (1), SOAK_EPOCHS (CNN epochs, 60), SOAK_GAN_EPOCHS (Bi-GAN
#   epochs, 200), SOAK_DIR (work folder, default BUILD_DIR/soak; replaced),
#   SOAK_DISK (auto | tmpfs | ulimit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin="$build/bin"
kills=${SOAK_KILLS:-20}
seed=${SOAK_SEED:-1}
epochs=${SOAK_EPOCHS:-60}
gan_epochs=${SOAK_GAN_EPOCHS:-200}
work=${SOAK_DIR:-$build/soak}
for b in gbad-synth gbad-train-cnn gbad-train-bigan gbad-verify-checkpoint; do
  [ -x "$bin/$b" ] || { echo "soak: error: $bin/$b not built"; exit 2; }
done
rm -rf "$work"
mkdir -p "$work"
log="$work/log"
mkdir -p "$log"
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
fail() { echo "soak: FAILED: $*"; exit 1; }
now() { date +%s.%N; }

"$bin/gbad-synth" --out "$work/data" --positives 24 --ratios 10 --size 48 --quiet --seed 3 \
  >"$log/synth" 2>&1 || fail "gbad-synth: $(tail -1 "$log/synth")"

cnn_args() {  # $1: out dir
  echo --data "$work/data" --subset 10 --out "$1" --arch resnet18-fpn --width 4 \
    --fpn-channels 8 --head-dim 8 --resize 40 --crop 32 --test-size 32 --batch 8 --workers 2 \
    --device cpu --threads 2 --epochs "$epochs" --checkpoint-every 1
}
gan_args() {  # $1: out dir
  echo --cnn "$work/cnn-ref" --out "$1" --negatives 64 --batch 16 --epochs "$gan_epochs" \
    --workers 2 --device cpu --threads 2
}

# The delays before each kill: S + uniform in [0, 1.2 (R - S) / kills] for a reference run of
# R seconds whose run directory appeared after S seconds (start-up: exec, options, data index);
# uniform in [0, 0.6 (R - S) / kills] leaves room for the work a resumed attempt repeats.
# Each resumed attempt pays the start-up again, so the kills spread over the whole training
# (steps and checkpoint writes) and the run does not finish before the last one, on a fast
# machine as on a loaded one.
delays() {  # $1: R seconds, $2: seed, $3: S seconds
  awk -v r="$1" -v k="$kills" -v s="$2" -v s0="$3" \
    'BEGIN { srand(s); w = r - s0; if (w < 0.05) w = 0.05;
             for (i = 0; i < k; i++) printf "%.3f\n", s0 + rand() * 0.6 * w / k }'
}

soak_one() {  # $1: cnn|bigan, $2: binary, $3: args function, $4: final model file
  local kind=$1 prog=$2 argsf=$3 final=$4
  local ref="$work/$kind-ref" run="$work/$kind-soak" t0 t1 r
  local ts="" refpid
  t0=$(now)
  # shellcheck disable=SC2046
  "$bin/$prog" $($argsf "$ref") >"$log/$kind-ref" 2>&1 &
  refpid=$!
  while kill -0 "$refpid" 2>/dev/null; do  # when the run directory appears: the start-up time
    if [ -z "$ts" ] && [ -f "$ref/config.json" ]; then ts=$(now); fi
    sleep 0.01
  done
  wait "$refpid" || fail "$kind reference run: $(tail -1 "$log/$kind-ref")"
  t1=$(now)
  [ -n "$ts" ] || ts=$t0
  r=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  local s0
  s0=$(awk -v a="$t0" -v b="$ts" 'BEGIN { printf "%.3f", b - a }')
  echo "soak: $kind reference run took $r s (start-up $s0 s)"
  local n=0 verified=0 attempt=0 d pid resume
  mkdir -p "$work/$kind-ckpts"
  while read -r d; do
    attempt=$((attempt + 1))
    resume=()
    [ -f "$run/config.json" ] && resume=(--resume)
    # shellcheck disable=SC2046
    "$bin/$prog" $($argsf "$run") "${resume[@]}" >"$log/$kind-$attempt" 2>&1 &
    pid=$!
    sleep "$d"
    if ! kill -0 "$pid" 2>/dev/null; then
      # The run outpaced the kills (a fast machine): fine once it survived enough of them.
      wait "$pid" || fail "$kind run $attempt failed: $(tail -1 "$log/$kind-$attempt")"
      [ "$n" -ge 5 ] || fail "$kind run $attempt ended by itself after only $n kills" \
        "($(tail -1 "$log/$kind-$attempt")); the reference run took $r s"
      echo "soak: $kind run finished by itself after $n kills"
      break
    fi
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    n=$((n + 1))
    if [ -f "$run/checkpoint.safetensors" ]; then
      cp "$run/checkpoint.safetensors" "$work/$kind-ckpts/after-kill-$n.safetensors"
      "$bin/gbad-verify-checkpoint" "$kind" "$work/$kind-ckpts/after-kill-$n.safetensors" \
        >>"$log/$kind-verify" 2>&1 || fail "$kind checkpoint after kill $n does not load: $(tail -1 "$log/$kind-verify")"
      verified=$((verified + 1))
    fi
  done < <(delays "$r" "$seed" "$s0")
  # shellcheck disable=SC2046
  "$bin/$prog" $($argsf "$run") --resume >"$log/$kind-final" 2>&1 || fail "$kind final resume: $(tail -1 "$log/$kind-final")"
  cmp "$ref/$final" "$run/$final" || fail "$kind: $final after $n kills differs from the uninterrupted run's"
  cmp "$ref/checkpoint.safetensors" "$run/checkpoint.safetensors" ||
    fail "$kind: the last checkpoint after $n kills differs from the uninterrupted run's"
  echo "soak: $kind: $n kills (after $(delays "$r" "$seed" "$s0" | paste -sd' ') s), $verified checkpoints" \
    "on disk after a kill loaded, $final equals the uninterrupted run's byte for byte"
}

soak_one cnn gbad-train-cnn cnn_args model.safetensors
soak_one bigan gbad-train-bigan gan_args bigan.safetensors

# ---- disk full -------------------------------------------------------------------------------
disk=${SOAK_DISK:-auto}
mnt="$work/full"
mkdir -p "$mnt"
mounted=0
if [ "$disk" != ulimit ] && mount -t tmpfs -o size=64m tmpfs "$mnt" 2>/dev/null; then
  mounted=1
  disk=tmpfs
elif [ "$disk" = tmpfs ]; then
  fail "cannot mount a tmpfs (not allowed here?); use SOAK_DISK=ulimit"
else
  disk=ulimit
fi
cleanup() { [ "$mounted" = 1 ] && umount "$mnt" 2>/dev/null; true; }
trap cleanup EXIT

disk_full_one() {  # $1: cnn|bigan, $2: binary, $3: args function, $4: extra first-run args
  local kind=$1 prog=$2 argsf=$3 first=$4 out rc=0
  local run="$mnt/$kind"
  # A good checkpoint first (the CNN stops after 3 steps; the Bi-GAN runs 2 epochs).
  # shellcheck disable=SC2046
  "$bin/$prog" $($argsf "$run") $first >"$log/$kind-full-1" 2>&1 || [ $? -eq 3 ] ||
    fail "$kind disk-full set-up run: $(tail -1 "$log/$kind-full-1")"
  [ -f "$run/checkpoint.safetensors" ] || fail "$kind disk-full set-up run left no checkpoint"
  cp "$run/checkpoint.safetensors" "$work/$kind-good.safetensors"
  local size
  size=$(stat -c %s "$run/checkpoint.safetensors")
  if [ "$disk" = tmpfs ]; then
    # Fill the disk until less than half a checkpoint is free: the next checkpoint cannot be
    # written, the small files (config.json, command.txt) still can.
    local free
    free=$(( $(stat -f -c '%a*%S' "$mnt") ))
    head -c $(( free - size / 2 )) /dev/zero >"$mnt/filler" 2>/dev/null || true
    # shellcheck disable=SC2046
    "$bin/$prog" $($argsf "$run") --resume >"$log/$kind-full-2" 2>&1 || rc=$?
    rm -f "$mnt/filler"
  else
    # No file may grow past half a checkpoint; SIGXFSZ ignored so write() fails with EFBIG.
    # shellcheck disable=SC2046
    (trap '' XFSZ; ulimit -f $(( size / 2 / 1024 )); exec "$bin/$prog" $($argsf "$run") --resume) \
      >"$log/$kind-full-2" 2>&1 || rc=$?
  fi
  out=$(cat "$log/$kind-full-2")
  [ "$rc" -ne 0 ] || fail "$kind with the disk full exited 0"
  [ "$rc" -lt 128 ] || fail "$kind with the disk full died of signal $((rc - 128)): $out"
  [ "$(grep -c 'error: ' <<<"$out")" -eq 1 ] || fail "$kind with the disk full: not one clear error line: $out"
  grep -Eq 'No space left on device|File too large' <<<"$out" ||
    fail "$kind with the disk full: the error does not say the disk is full: $(grep 'error: ' <<<"$out")"
  cmp "$run/checkpoint.safetensors" "$work/$kind-good.safetensors" ||
    fail "$kind with the disk full: the last good checkpoint changed"
  "$bin/gbad-verify-checkpoint" "$kind" "$run/checkpoint.safetensors" >>"$log/$kind-verify" 2>&1 ||
    fail "$kind with the disk full: the last good checkpoint does not load"
  if ls "$run" | grep -q '\.tmp\.'; then fail "$kind with the disk full left a temporary file: $(ls "$run")"; fi
  echo "soak: $kind with the disk full ($disk): $(grep 'error: ' <<<"$out" | cut -c1-160)"
  echo "soak: $kind with the disk full: last good checkpoint intact and loads"
}

disk_full_one cnn gbad-train-cnn cnn_args "--stop-after 3"
rm -rf "${mnt:?}/cnn"
disk_full_one bigan gbad-train-bigan gan_args "--epochs 2"
echo "soak: passed"
