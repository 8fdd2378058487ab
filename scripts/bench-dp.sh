#!/usr/bin/env bash
# Data-parallel scaling on CPU processes: gbad-train-cnn with 1 process and with `mpirun -np 2`
# at the same global batch on a synthetic set, then the all-reduce alone (gbad-bench-allreduce).
# Prints images/s of each run (from metrics.jsonl, the mean of the logged steps after the first
# epoch) and the all-reduce seconds per step of the 2-process runs: buckets reduced during
# backward (default) and after it (--no-overlap).
# Usage: scripts/bench-dp.sh [BUILD_DIR] [extra gbad-train-cnn options]
set -euo pipefail
build=${1:-build-cpu}
shift || true
bin="$build/bin"
for b in gbad-synth gbad-train-cnn gbad-bench-allreduce; do
  [ -x "$bin/$b" ] || { echo "bench-dp: $bin/$b missing (build it; needs MPI)" >&2; exit 1; }
done
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2)
work=$(mktemp -d /tmp/gbad-bench-dp.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$bin/gbad-synth" --out "$work/data" --positives 60 --ratios 10 --size 96 --quiet --seed 3
model=(--arch resnet18-fpn --width 16 --fpn-channels 32 --head-dim 32 --resize 72 --crop 64
       --batch 16 --epochs 3 --log-every 1 --workers 1 --device cpu --seed 5
       --data "$work/data" --subset 10 "$@")
summary() {  # mean images/s and all-reduce s/step over the logged steps of epochs 2..
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
rows = [r for r in rows if r["epoch"] > 1]
ips = sum(r["images_per_s"] for r in rows) / len(rows)
ar = [r.get("allreduce_s_per_step") for r in rows if "allreduce_s_per_step" in r]
print("images/s %.1f over %d logged steps%s" % (ips, len(rows),
      "; all-reduce %.2f ms/step" % (1e3 * sum(ar) / len(ar)) if ar else ""))
PY
}
echo "== 1 process (--threads 1)"
"$bin/gbad-train-cnn" --out "$work/one" --threads 1 "${model[@]}" > /dev/null 2>&1
summary "$work/one/metrics.jsonl"
echo "== 2 processes (mpirun -np 2, --threads 1 each)"
"${mpirun[@]}" "$bin/gbad-train-cnn" --out "$work/two" --threads 1 "${model[@]}" > /dev/null 2>&1
summary "$work/two/metrics.jsonl"
echo "== 2 processes, --no-overlap (buckets reduced after backward)"
"${mpirun[@]}" "$bin/gbad-train-cnn" --out "$work/two-after" --threads 1 --no-overlap "${model[@]}" \
  > /dev/null 2>&1
summary "$work/two-after/metrics.jsonl"
echo "== all-reduce alone, 2 processes"
"${mpirun[@]}" "$bin/gbad-bench-allreduce" --device cpu --threads 1 --sizes-mb 0.25,1,4,16,64 \
  --arch resnet34-fpn 2>/dev/null
"${mpirun[@]}" "$bin/gbad-bench-allreduce" --device cpu --threads 1 --sizes-mb 1 \
  --arch resnet101-fpn 2>/dev/null | tail -1
