#!/usr/bin/env bash
# The README's main command: installs what is missing, builds in Release, then runs the whole
# GBAD pipeline on a synthetic SIXray-like dataset and prints the comparison table:
#   1. gbad-synth        synthetic X-ray scans in SIXray's layout (subsets 10 and 100)
#   2. gbad-train-cnn    plain CNN (ResNet-18, GAP+FC head) on the practical (imbalanced) split
#   3. gbad-train-cnn    GBAD phase 1: ResNet-18 + FPN head on the ideal (balanced) set
#   4. gbad-train-bigan  GBAD phase 2: Bi-GAN on the features of random negatives
#   5. gbad-train-svm    GBAD phase 3: SVM on the anomaly scores (R, FM)
#   6. gbad-eval         the three methods on the test splits of subsets 100 and 10
#   7. gbad-report       the table (paper Tables 1-3 and 4) and a Markdown report with plots,
#                        with each method's difference from the plain CNN and its paired-
#                        bootstrap 95% interval over the test images (1,000 resamples)
# Runs on the CPU (width-reduced backbones, 96-pixel inputs); uses the GPU when one is present.
# Usage: scripts/demo.sh [RUN_DIR]   (default runs/demo; an earlier demo run there is replaced)
# Environment: DEMO_POSITIVES (default 300), DEMO_DEVICE (auto), DEMO_FAST=1 (a 1-minute smoke
# version with tiny sizes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${1:-$root/runs/demo}
"$root/scripts/deps.sh"
"$root/scripts/build.sh" "$root/build"
bin="$root/build/bin"
device=${DEMO_DEVICE:-auto}
positives=${DEMO_POSITIVES:-300}
size=128 resize=112 crop=96 width=16 fpn=64 head=64
cnn_epochs=15 practical_epochs=1 gan_epochs=40 negatives=5000 batch=32
if [ "${DEMO_FAST:-0}" = 1 ]; then
  positives=40 size=64 resize=72 crop=64 width=8 fpn=16 head=16
  cnn_epochs=2 practical_epochs=1 gan_epochs=3 negatives=300 batch=16
fi
# Replace an earlier demo run, but never delete a folder the demo did not make.
if [ -e "$run" ] && [ -n "$(ls -A "$run" 2>/dev/null)" ] && [ ! -f "$run/.gbad-demo" ]; then
  echo "demo: error: $run exists and is not a gbad demo run; choose another RUN_DIR" >&2
  exit 1
fi
rm -rf "$run"
mkdir -p "$run"
touch "$run/.gbad-demo"
start=$(date +%s)
stamp() { echo; echo "== [$(( $(date +%s) - start )) s] $*"; }
common=(--device "$device" --seed 1)
model=(--width $width --fpn-channels $fpn --head-dim $head --resize $resize --crop $crop
       --test-size $crop --batch $batch --workers 2)

stamp "1/7 synthetic dataset ($positives positives, subsets 10 and 100)"
"$bin/gbad-synth" --out "$run/data" --positives "$positives" --ratios 10,100 --size $size --quiet

stamp "2/7 plain CNN (resnet18-plain) on the practical split of subset 100"
"$bin/gbad-train-cnn" --data "$run/data" --subset 100 --out "$run/cnn-practical" \
  --arch resnet18-plain --train-set practical --epochs $practical_epochs --lr 0.05 \
  "${model[@]}" "${common[@]}"

stamp "3/7 GBAD phase 1: resnet18-fpn on the ideal set of subset 100"
"$bin/gbad-train-cnn" --data "$run/data" --subset 100 --out "$run/cnn-ideal" \
  --arch resnet18-fpn --train-set ideal --epochs $cnn_epochs --lr 0.05 \
  "${model[@]}" "${common[@]}"

stamp "4/7 GBAD phase 2: Bi-GAN on $negatives negatives' features"
"$bin/gbad-train-bigan" --cnn "$run/cnn-ideal" --out "$run/bigan" --negatives $negatives \
  --epochs $gan_epochs --lr 1e-4 --workers 2 "${common[@]}"

stamp "5/7 GBAD phase 3: SVM on (R, FM)"
"$bin/gbad-train-svm" --cnn "$run/cnn-ideal" --bigan "$run/bigan" --out "$run/svm" \
  --workers 2 "${common[@]}"

for subset in 100 10; do
  stamp "6/7 evaluation on the test split of subset $subset"
  "$bin/gbad-eval" --cnn "$run/cnn-practical" --no-gate --subset $subset \
    --out "$run/eval$subset/plain-practical" --title "plain CNN, practical" --workers 2 \
    "${common[@]}" | tail -n 3
  "$bin/gbad-eval" --cnn "$run/cnn-ideal" --no-gate --subset $subset \
    --out "$run/eval$subset/cnn-ideal" --title "CNN ideal, no gate" --workers 2 \
    "${common[@]}" | tail -n 3
  "$bin/gbad-eval" --cnn "$run/cnn-ideal" --bigan "$run/bigan" --svm "$run/svm" \
    --subset $subset --out "$run/eval$subset/gbad" --title "GBAD" --workers 2 \
    "${common[@]}" | tail -n 4
done

stamp "7/7 report"
for subset in 100 10; do
  echo
  echo "---- synthetic SIXray$subset (test split) ----"
  (cd "$run" && "$bin/gbad-report" --title "GBAD demo on synthetic SIXray$subset" \
    --runs "ResNet18 plain, practical=eval$subset/plain-practical;ResNet18-FPN ideal, no gate=eval$subset/cnn-ideal;ResNet18-FPN + GBAD=eval$subset/gbad" \
    --reference "ResNet18 plain, practical" --out "report$subset.md")
done
echo
echo "demo finished in $(( $(date +%s) - start )) s; reports: $run/report100.md $run/report10.md"
