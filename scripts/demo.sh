#!/usr/bin/env bash
# The README's main command: installs what is missing, builds in Release, then runs the whole
# GBAD pipeline on a synthetic SIXray-like dataset and prints the comparison table:
#   1. gbad-synth        synthetic X-ray scans in SIXray's layout (subsets 10 and 100)
#   2. gbad-train-cnn    plain CNN (ResNet-18, GAP+FC head) on the practical (imbalanced) split,
#                        and the CHR baseline (ResNet-18 + CHR head) on the same split
#   3. gbad-train-cnn    GBAD phase 1: ResNet-18 + FPN head on the ideal (balanced) set
#   4. gbad-train-bigan  GBAD phase 2: Bi-GAN on the features of random negatives
#   5. gbad-train-svm    GBAD phase 3: SVM on the anomaly scores (R, FM)
#   5b. gbad-train-ganomaly  Table 4 baselines: GANomaly and Skip-GANomaly on negative images
#   6. gbad-eval         every method on the test splits of subsets 100 and 10
#   7. gbad-predict --cam  class activation maps of 12 test scans (GBAD's classifier)
#      gbad-report       the table (paper Tables 1-3 and 4), a Markdown report with plots and a
#                        self-contained HTML page (training curves, anomaly scores, SVM gate),
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
# GANomaly / Skip-GANomaly: 32x32 images, quarter-width networks, a few epochs (the paper's
# sizes: gbad-train-ganomaly's defaults, README "Baselines").
img_gan_size=32 img_gan_ch=16 img_gan_negatives=2000 img_gan_epochs=3
if [ "${DEMO_FAST:-0}" = 1 ]; then
  positives=40 size=64 resize=72 crop=64 width=8 fpn=16 head=16
  cnn_epochs=2 practical_epochs=1 gan_epochs=3 negatives=300 batch=16
  img_gan_ch=8 img_gan_negatives=256 img_gan_epochs=1
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
# Training wall-clock seconds per run, and method.json (parameters, training time) beside an
# evaluation for gbad-report.
declare -A train_s
timed() {  # timed KEY command...
  local key=$1 t0
  shift
  t0=$(date +%s%N)
  "$@"
  train_s[$key]=$(( ($(date +%s%N) - t0) / 1000000 ))
}
params_of() {  # classifier parameter count at the demo's sizes
  "$bin/gbad-summary" --arch "$1" --width $width --fpn-channels $fpn --head-dim $head \
    --image-size $crop --quiet | awk '/^total parameters/ {gsub(",", "", $3); print $3}'
}
method_json() {  # method_json DIR PARAMS MILLISECONDS
  printf '{"params": %s, "train_seconds": %s}\n' "$2" "$(awk "BEGIN {print $3 / 1000}")" \
    > "$1/method.json"
}

stamp "1/7 synthetic dataset ($positives positives, subsets 10 and 100)"
"$bin/gbad-synth" --out "$run/data" --positives "$positives" --ratios 10,100 --size $size --quiet

stamp "2/7 plain CNN (resnet18-plain) on the practical split of subset 100"
timed plain "$bin/gbad-train-cnn" --data "$run/data" --subset 100 --out "$run/cnn-practical" \
  --arch resnet18-plain --train-set practical --epochs $practical_epochs --lr 0.05 \
  "${model[@]}" "${common[@]}"

stamp "2/7 CHR baseline (resnet18-chr) on the practical split of subset 100"
timed chr "$bin/gbad-train-cnn" --data "$run/data" --subset 100 --out "$run/cnn-chr" \
  --arch resnet18-chr --train-set practical --epochs $practical_epochs --lr 0.05 \
  "${model[@]}" "${common[@]}"

stamp "3/7 GBAD phase 1: resnet18-fpn on the ideal set of subset 100"
timed ideal "$bin/gbad-train-cnn" --data "$run/data" --subset 100 --out "$run/cnn-ideal" \
  --arch resnet18-fpn --train-set ideal --epochs $cnn_epochs --lr 0.05 \
  "${model[@]}" "${common[@]}"

stamp "4/7 GBAD phase 2: Bi-GAN on $negatives negatives' features"
timed bigan "$bin/gbad-train-bigan" --cnn "$run/cnn-ideal" --out "$run/bigan" --negatives $negatives \
  --epochs $gan_epochs --lr 1e-4 --workers 2 "${common[@]}"

stamp "5/7 GBAD phase 3: SVM on (R, FM)"
timed svm "$bin/gbad-train-svm" --cnn "$run/cnn-ideal" --bigan "$run/bigan" --out "$run/svm" \
  --workers 2 "${common[@]}"

for variant in ganomaly skip; do
  stamp "5/7 $variant at ${img_gan_size}x${img_gan_size} on $img_gan_negatives negatives of subset 100"
  "$bin/gbad-train-ganomaly" --data "$run/data" --subset 100 --eval-subsets 100,10 \
    --out "$run/$variant" --variant $variant --image-size $img_gan_size --ngf $img_gan_ch \
    --ndf $img_gan_ch --negatives $img_gan_negatives --epochs $img_gan_epochs --batch 64 \
    --workers 2 "${common[@]}" | tail -n 2
done

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
  "$bin/gbad-eval" --cnn "$run/cnn-chr" --no-gate --subset $subset \
    --out "$run/eval$subset/chr" --title "CHR, practical" --workers 2 \
    "${common[@]}" | tail -n 3
  for variant in ganomaly skip; do  # min-max normalised anomaly scores, any-threat metrics
    "$bin/gbad-eval" --scores "$run/$variant/eval$subset/scores.csv" \
      --labels "$run/data/ImageSet/$subset/test.csv" \
      --json "$run/$variant/eval$subset/metrics.json" | tail -n 7
  done
  method_json "$run/eval$subset/plain-practical" "$(params_of resnet18-plain)" ${train_s[plain]}
  method_json "$run/eval$subset/chr" "$(params_of resnet18-chr)" ${train_s[chr]}
  method_json "$run/eval$subset/cnn-ideal" "$(params_of resnet18-fpn)" ${train_s[ideal]}
  # GBAD: training time of phases 1-3; its parameter count (classifier + Bi-GAN) is not shown.
  method_json "$run/eval$subset/gbad" null \
    $(( ${train_s[ideal]} + ${train_s[bigan]} + ${train_s[svm]} ))
done

stamp "7/7 class activation maps of 12 test scans of subset 100 (GBAD's classifier)"
# 9 scans with threats and 3 without, in the test split's order: a map per class above 0.5
# and per labelled class (the paper's Table 5 / Fig. 7, made from this run).
awk -F, -v dir="$run/data/JPEGImage" 'NR > 1 {
    pos = 0; for (k = 2; k <= NF; ++k) if ($k == 1) pos = 1
    if (pos && np < 9) { print dir "/" $1 ".jpg"; ++np }
    if (!pos && nn < 3) { print dir "/" $1 ".jpg"; ++nn } }' \
  "$run/data/ImageSet/100/test.csv" > "$run/cam-images.txt"
"$bin/gbad-predict" --cnn "$run/cnn-ideal" --bigan "$run/bigan" --svm "$run/svm" \
  --list "$run/cam-images.txt" --labels "$run/data/ImageSet/100/test.csv" --cam "$run/cams" \
  --csv "$run/cams/predictions.csv" "${common[@]}" | tail -n 4

stamp "7/7 report"
for subset in 100 10; do
  echo
  echo "---- synthetic SIXray$subset (test split) ----"
  (cd "$run" && "$bin/gbad-report" --title "GBAD demo on synthetic SIXray$subset" \
    --runs "ResNet18 plain, practical=eval$subset/plain-practical;ResNet18 + CHR, practical=eval$subset/chr;ResNet18-FPN ideal, no gate=eval$subset/cnn-ideal;ResNet18-FPN + GBAD=eval$subset/gbad;GANomaly ${img_gan_size}px=ganomaly/eval$subset;Skip-GANomaly ${img_gan_size}px=skip/eval$subset" \
    --reference "ResNet18 plain, practical" --out "report$subset.md" --html "report$subset.html" \
    --cams cams)
done
echo
echo "demo finished in $(( $(date +%s) - start )) s; reports: $run/report100.md $run/report10.md"
echo "self-contained pages (open in a browser): $run/report100.html $run/report10.html"
