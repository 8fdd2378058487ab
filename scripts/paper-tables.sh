#!/usr/bin/env bash
# The paper's Tables 1-4 from one command: for every backbone this build knows and every
# subset (SIXray10/100/1000), the plain CNN on the practical set, CHR where the build has it,
# the GBAD classifier alone (ideal set, no gate) and GBAD; Table 4 (binary any-threat metrics on
# SIXray100) with the GAN baselines where the build has them. Every method is compared with its
# backbone's plain CNN and GBAD with its own ungated classifier, with paired-bootstrap 95%
# intervals over the test images; with --seeds K every configuration is trained K times and the
# tables show mean and sd over seeds next to the interval.
#
# usage: scripts/paper-tables.sh [options] DATA_ROOT
#   --out DIR        results (default runs/paper-tables); DIR/paper-tables.md is the report
#   --reduced        the reduced scale (below) instead of the paper's settings
#   --demo-scale     the demo's sizes (below): larger than --reduced, models that learn on the
#                    synthetic scans; for one or two backbones
#   --synth          first write a synthetic dataset at DATA_ROOT (when it has no ImageSet/)
#   --seeds K        train every configuration with seeds 1..K (default 1)
#   --archs "A B"    backbones (default: $PAPER_ARCHS or "resnet34 resnet50 resnet101
#                    inceptionv3 densenet121"); ones `gbad-summary --list` lacks are skipped
#   --subsets "S.."  subsets (default "10 100 1000")
#   --device D       cpu, cuda or auto (default auto)
#   --bin DIR        the gbad binaries (default build/bin, else build-cpu/bin)
#   --gate-study     also the gate variants (docs/reduced-protocol.md): Bi-GAN on the CNN's
#                    2,000 (or --negatives) highest-scoring negatives of a 4x random pool
#                    (--hard-negatives 1), gate threshold keeping 95% of the training positives
#                    (--gate-recall 0.95), per-class gate (--gate per-class)
#   --resamples N    bootstrap resamples (default 1000)
#   --smoke          a one-minute check of the script itself (tiny models; use with --synth and
#                    --subsets "10 100"): the numbers mean nothing
#
# Settings. Default = the paper (for a GPU): ResNet width 64, FPN 256, head 256, train resize
# 256 / crop 224, test 224, batch 32, SGD lr 0.01, 15 epochs for every CNN (practical and
# ideal); Bi-GAN on 50,000 negatives, Adam 1e-5, batch 50, 100 passes; SVM defaults; GANomaly /
# Skip-GANomaly at gbad-train-ganomaly's defaults (the authors' sizes).
# --reduced = a 2-core CPU in under two hours (measured on a loaded 2-core machine: ResNet34
#   ~1 min on SIXray10, ~2 min on SIXray100, ~8 min on SIXray1000 per seed, plus ~1-4 min per
#   seed for --gate-study; ResNet50/101 1.5-3x ResNet34; times per row in the report):
#   synthetic data (--synth): 150 positives (120 train / 30 test); the subsets asked for, as
#   negatives-per-positive ratios: 10/100/1000 -> 1,500 / 15,000 / 150,000 negatives; 48-pixel
#   scans (~4 KB each: 61 MB for SIXray10+100, 595 MB for SIXray1000 alone, which takes 4
#   minutes to generate). Models: width 8, FPN 16, head 16, train resize 56 / crop 48, test 48,
#   batch 32, lr 0.05 (InceptionV3: resize 88 / crop 75 / test 75, its smallest input, without
#   the auxiliary head); ideal CNN 10 epochs; practical CNN 1 epoch on SIXray100/1000 and 3 on
#   SIXray10 (about as many images seen as the ideal CNN on SIXray10, many more on the larger
#   subsets); Bi-GAN on 2,000 negatives, lr 1e-4, 30 passes; GANomaly / Skip-GANomaly at 32x32,
#   quarter width (16 channels), on 2,000 negatives for 5 epochs. Memory: about 100 MB per
#   process (images are streamed from disk; measured: the practical CNN on SIXray1000).
#   On the synthetic scans of gbad-synth the 48-pixel models stay near chance on SIXray100
#   (docs/reduced-protocol.md): the threats are a few pixels across at that size.
# --demo-scale = the demo's sizes (scripts/demo.sh), where the models learn: 300 positives (240
#   train / 60 test), 128-pixel scans; width 16, FPN 64, head 64, train resize 112 / crop 96,
#   test 96, batch 32, lr 0.05; ideal CNN 15 epochs; practical CNN as --reduced; Bi-GAN on
#   5,000 negatives, lr 1e-4, 40 passes; GANomaly / Skip-GANomaly as --reduced. ResNet18 takes
#   about 5-10 minutes per seed for SIXray100 and 10 together on a 2-core CPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/runs/paper-tables reduced=0 synth=0 seeds=1 device=auto gate_study=0 resamples=1000
archs=${PAPER_ARCHS:-"resnet34 resnet50 resnet101 inceptionv3 densenet121"}
subsets="10 100 1000"
bin=""
data=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --reduced) reduced=1; shift ;;
    --smoke) reduced=2; shift ;;
    --demo-scale) reduced=3; shift ;;
    --synth) synth=1; shift ;;
    --seeds) seeds=$2; shift 2 ;;
    --archs) archs=$2; shift 2 ;;
    --subsets) subsets=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --gate-study) gate_study=1; shift ;;
    --resamples) resamples=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "paper-tables: error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$data" ] || { echo "paper-tables: error: two data roots: $data and $1" >&2; exit 2; }
       data=$1; shift ;;
  esac
done
[ -n "$data" ] || { echo "paper-tables: error: give DATA_ROOT (see --help)" >&2; exit 2; }
[[ "$seeds" =~ ^[1-9][0-9]*$ ]] || { echo "paper-tables: error: --seeds needs a whole number >= 1, got '$seeds'" >&2; exit 2; }
if [ -z "$bin" ]; then
  if [ -x "$root/build/bin/gbad-train-cnn" ]; then bin=$root/build/bin; else bin=$root/build-cpu/bin; fi
fi
for b in gbad-synth gbad-summary gbad-train-cnn gbad-train-bigan gbad-train-svm gbad-eval gbad-report; do
  [ -x "$bin/$b" ] || { echo "paper-tables: error: $bin/$b is missing: build first (scripts/build.sh) or give --bin" >&2; exit 1; }
done

if [ $reduced = 2 ]; then
  scale="smoke"
  model=(--width 4 --fpn-channels 8 --head-dim 8 --resize 40 --crop 32 --test-size 32 --batch 16 --workers 2)
  lr=0.05 ideal_epochs=2 gan=(--negatives 100 --lr 1e-4 --epochs 2 --batch 10 --workers 2)
  practical_epochs() { echo 1; }
  imggan=(--image-size 32 --ngf 8 --ndf 8 --nz 16 --negatives 128 --epochs 1 --batch 32 --workers 2)
  synth_opts=(--positives 24 --size 40)
elif [ $reduced = 3 ]; then
  scale="demo"
  model=(--width 16 --fpn-channels 64 --head-dim 64 --resize 112 --crop 96 --test-size 96 --batch 32 --workers 2)
  lr=0.05 ideal_epochs=15 gan=(--negatives 5000 --lr 1e-4 --epochs 40 --workers 2)
  practical_epochs() { [ "$1" = 10 ] && echo 3 || echo 1; }
  imggan=(--image-size 32 --ngf 16 --ndf 16 --negatives 2000 --epochs 5 --workers 2)
  synth_opts=(--positives 300 --size 128)
elif [ $reduced = 1 ]; then
  scale="reduced"
  model=(--width 8 --fpn-channels 16 --head-dim 16 --resize 56 --crop 48 --test-size 48 --batch 32 --workers 2)
  lr=0.05 ideal_epochs=10 gan=(--negatives 2000 --lr 1e-4 --epochs 30 --workers 2)
  practical_epochs() { [ "$1" = 10 ] && echo 3 || echo 1; }
  imggan=(--image-size 32 --ngf 16 --ndf 16 --negatives 2000 --epochs 5 --workers 2)
  synth_opts=(--positives 150 --size 48)
else
  scale="paper"
  model=(--width 64 --fpn-channels 256 --head-dim 256 --resize 256 --crop 224 --test-size 224 --batch 32 --workers 4)
  lr=0.01 ideal_epochs=15 gan=(--negatives 50000 --lr 1e-5 --batch 50 --workers 4)
  practical_epochs() { echo 15; }
  imggan=(--workers 4)  # gbad-train-ganomaly's defaults: the authors' sizes
  synth_opts=(--positives 2000 --size 224)
fi
ev=(--workers 2)

if [ ! -d "$data/ImageSet" ]; then
  [ $synth = 1 ] || { echo "paper-tables: error: $data has no ImageSet/ (give a SIXray root, or --synth to generate one)" >&2; exit 1; }
  echo "== synthetic dataset at $data (${synth_opts[*]})"
  t0=$(date +%s)
  "$bin/gbad-synth" --out "$data" "${synth_opts[@]}" --ratios "$(tr ' ' ',' <<<"$subsets")" --quiet
  echo "   $(( $(date +%s) - t0 )) s, $(du -sh "$data" | cut -f1)"
fi

known=$("$bin/gbad-summary" --list)
has_arch() { grep -qx "$1" <<<"$known"; }
gan_bin=""
[ -x "$bin/gbad-train-ganomaly" ] && gan_bin=$bin/gbad-train-ganomaly
pretty() {  # resnet34 -> ResNet34
  case "$1" in
    resnet*) echo "ResNet${1#resnet}" ;; inceptionv3) echo InceptionV3 ;;
    densenet*) echo "DenseNet${1#densenet}" ;; *) echo "$1" ;;
  esac
}

mkdir -p "$out"
times=$out/times.tsv
[ -f "$times" ] || printf 'subset\tarch\tseed\trow\tseconds\n' >"$times"
log=$out/log.txt
# step NAME DIR CMD...: runs CMD unless DIR already holds its result (a rerun resumes), logs it
step() {
  local name=$1 done_file=$2; shift 2
  if [ -f "$done_file" ]; then return 0; fi
  echo "   $name" | tee -a "$log"
  "$@" >>"$log" 2>&1 || { echo "paper-tables: error: $name failed; see $log" >&2; exit 1; }
}
row_time() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$times"; }

# arch_model ARCH: the model options for one backbone into m. InceptionV3 needs inputs of at
# least 75 pixels, so at the reduced and smoke scales it trains on 75-pixel crops of 88-pixel
# resizes and is tested at 75 (the scans are upsampled); below 299 pixels (every scale but the
# paper's) it trains without its auxiliary head. Every other backbone takes model as is.
arch_model() {
  m=()
  local skip=0 o
  for o in "${model[@]}"; do
    if [ $skip = 1 ]; then skip=0; continue; fi
    if [ "$1" = inceptionv3 ] && { [ $reduced = 1 ] || [ $reduced = 2 ]; }; then
      case "$o" in --resize|--crop|--test-size) skip=1; continue ;; esac
    fi
    m+=("$o")
  done
  if [ "$1" = inceptionv3 ] && { [ $reduced = 1 ] || [ $reduced = 2 ]; }; then
    m+=(--resize 88 --crop 75 --test-size 75)
  fi
  if [ "$1" = inceptionv3 ] && [ $reduced != 0 ]; then m+=(--aux-weight 0); fi  # needs >= 299
}

start=$(date +%s)
for subset in $subsets; do
  for arch in $archs; do
    if ! has_arch "$arch-plain" || ! has_arch "$arch-fpn"; then
      echo "== skip $arch: gbad-summary --list has no $arch-plain / $arch-fpn" | tee -a "$log"
      continue
    fi
    arch_model "$arch"
    for seed in $(seq 1 "$seeds"); do
      d=$out/s$subset/$arch/seed$seed
      mkdir -p "$d"
      common=(--device "$device" --seed "$seed")
      echo "== SIXray$subset $arch seed $seed ($scale scale) [$(( $(date +%s) - start )) s]" | tee -a "$log"
      t0=$(date +%s)
      step "plain CNN ($arch-plain, practical)" "$d/plain/model.safetensors" "$bin/gbad-train-cnn" \
        --data "$data" --subset "$subset" --arch "$arch-plain" --train-set practical --out "$d/plain" \
        --epochs "$(practical_epochs "$subset")" --lr $lr "${m[@]}" "${common[@]}"
      step "plain CNN: eval" "$d/eval-plain/metrics.json" "$bin/gbad-eval" --cnn "$d/plain" \
        --no-gate --out "$d/eval-plain" --title plain "${ev[@]}" "${common[@]}"
      [ -f "$d/eval-plain/.t" ] || { row_time "$subset" "$arch" "$seed" plain $(( $(date +%s) - t0 )); touch "$d/eval-plain/.t"; }
      if has_arch "$arch-chr"; then
        t0=$(date +%s)
        step "CHR ($arch-chr, practical)" "$d/chr/model.safetensors" "$bin/gbad-train-cnn" \
          --data "$data" --subset "$subset" --arch "$arch-chr" --train-set practical --out "$d/chr" \
          --epochs "$(practical_epochs "$subset")" --lr $lr "${m[@]}" "${common[@]}"
        step "CHR: eval" "$d/eval-chr/metrics.json" "$bin/gbad-eval" --cnn "$d/chr" \
          --no-gate --out "$d/eval-chr" --title CHR "${ev[@]}" "${common[@]}"
        [ -f "$d/eval-chr/.t" ] || { row_time "$subset" "$arch" "$seed" chr $(( $(date +%s) - t0 )); touch "$d/eval-chr/.t"; }
      fi
      t0=$(date +%s)
      step "GBAD phase 1 ($arch-fpn, ideal)" "$d/cnn/model.safetensors" "$bin/gbad-train-cnn" \
        --data "$data" --subset "$subset" --arch "$arch-fpn" --train-set ideal --out "$d/cnn" \
        --epochs $ideal_epochs --lr $lr "${m[@]}" "${common[@]}"
      step "ideal CNN, no gate: eval" "$d/eval-ideal/metrics.json" "$bin/gbad-eval" --cnn "$d/cnn" \
        --no-gate --out "$d/eval-ideal" --title "ideal, no gate" "${ev[@]}" "${common[@]}"
      [ -f "$d/eval-ideal/.t" ] || { row_time "$subset" "$arch" "$seed" "ideal (GBAD phase 1 + eval)" $(( $(date +%s) - t0 )); touch "$d/eval-ideal/.t"; }
      t0=$(date +%s)
      step "GBAD phase 2 (Bi-GAN)" "$d/bigan/bigan.safetensors" "$bin/gbad-train-bigan" \
        --cnn "$d/cnn" --out "$d/bigan" "${gan[@]}" "${common[@]}"
      step "GBAD phase 3 (SVM)" "$d/svm/svm.model" "$bin/gbad-train-svm" --cnn "$d/cnn" \
        --bigan "$d/bigan" --out "$d/svm" --workers 2 "${common[@]}"
      step "GBAD: eval" "$d/eval-gbad/metrics.json" "$bin/gbad-eval" --cnn "$d/cnn" \
        --bigan "$d/bigan" --svm "$d/svm" --out "$d/eval-gbad" --title GBAD "${ev[@]}" "${common[@]}"
      [ -f "$d/eval-gbad/.t" ] || { row_time "$subset" "$arch" "$seed" "gbad (phases 2-3 + gated eval)" $(( $(date +%s) - t0 )); touch "$d/eval-gbad/.t"; }
      if [ $gate_study = 1 ]; then
        t0=$(date +%s)
        step "gate study: hard-negative Bi-GAN" "$d/bigan-hard/bigan.safetensors" "$bin/gbad-train-bigan" \
          --cnn "$d/cnn" --out "$d/bigan-hard" "${gan[@]}" --hard-negatives 1 "${common[@]}"
        step "gate study: SVM on the hard-negative Bi-GAN" "$d/svm-hard/svm.model" "$bin/gbad-train-svm" \
          --cnn "$d/cnn" --bigan "$d/bigan-hard" --out "$d/svm-hard" --workers 2 "${common[@]}"
        step "gate study: eval hard" "$d/eval-gbad-hard/metrics.json" "$bin/gbad-eval" --cnn "$d/cnn" \
          --bigan "$d/bigan-hard" --svm "$d/svm-hard" --out "$d/eval-gbad-hard" --title "GBAD hard" "${ev[@]}" "${common[@]}"
        step "gate study: eval recall-targeted threshold" "$d/eval-gbad-recall/metrics.json" "$bin/gbad-eval" \
          --cnn "$d/cnn" --bigan "$d/bigan" --svm "$d/svm" --gate-recall 0.95 --out "$d/eval-gbad-recall" \
          --title "GBAD recall 0.95" "${ev[@]}" "${common[@]}"
        step "gate study: eval per-class gate" "$d/eval-gbad-perclass/metrics.json" "$bin/gbad-eval" \
          --cnn "$d/cnn" --bigan "$d/bigan" --svm "$d/svm" --gate per-class --out "$d/eval-gbad-perclass" \
          --title "GBAD per-class" "${ev[@]}" "${common[@]}"
        [ -f "$d/eval-gbad-perclass/.t" ] || { row_time "$subset" "$arch" "$seed" "gate study (3 variants)" $(( $(date +%s) - t0 )); touch "$d/eval-gbad-perclass/.t"; }
      fi
    done
  done
  # Table 4 comparators: image-level GAN anomaly detectors on SIXray100 (binary only).
  if [ "$subset" = 100 ] && [ -n "$gan_bin" ]; then
    for variant in ganomaly skip; do
      for seed in $(seq 1 "$seeds"); do
        d=$out/s100/$variant/seed$seed
        t0=$(date +%s)
        step "$variant (gbad-train-ganomaly)" "$d/eval/metrics.json" bash -c '
          "$0" --variant "$1" --data "$2" --subset 100 --out "$3/train" --device "$4" --seed "$5" "${@:6}" &&
          mkdir -p "$3/eval" && cp "$3/train/eval100/scores.csv" "$3/eval/scores.csv" &&
          cp "$3/train/eval100/method.json" "$3/eval/method.json" &&
          "$(dirname "$0")/gbad-eval" --scores "$3/eval/scores.csv" --labels "$2/ImageSet/100/test.csv" \
            --json "$3/eval/metrics.json"' "$gan_bin" "$variant" "$data" "$d" "$device" "$seed" "${imggan[@]}"
        [ -f "$d/eval/.t" ] || { row_time 100 "$variant" "$seed" "$variant" $(( $(date +%s) - t0 )); touch "$d/eval/.t"; }
      done
    done
  fi
done

# ---- reports -----------------------------------------------------------------------------
dirs() {  # dirs SUBSET ARCH EVAL -> seed dirs joined by ','
  local s=$1 a=$2 e=$3 list="" k
  for k in $(seq 1 "$seeds"); do
    [ -f "$out/s$s/$a/seed$k/$e/metrics.json" ] || return 1
    list+="${list:+,}$out/s$s/$a/seed$k/$e"
  done
  echo "$list"
}
md=$out/paper-tables.md
{
  echo "# GBAD: the paper's Tables 1-4 ($scale scale)"
  echo
  echo "Data: \`$data\`. Seeds: $seeds. Backbones asked for: $archs. Command:"
  echo "\`scripts/paper-tables.sh --out $out --seeds $seeds --archs \"$archs\" --subsets \"$subsets\"$([ $reduced = 1 ] && echo " --reduced")$([ $reduced = 2 ] && echo " --smoke")$([ $reduced = 3 ] && echo " --demo-scale")$([ $gate_study = 1 ] && echo " --gate-study") $data\`"
  echo
  echo "Rows: \`<Backbone>\` = plain CNN (GAP + FC) trained on the practical (whole, imbalanced)"
  echo "training split; \`+CHR\` where the build has \`<backbone>-chr\`; \`ideal, no gate\` = GBAD's"
  echo "classifier (FPN head) trained on the ideal (balanced) set, without the gate;"
  echo "\`(Ours) +GBAD\` = the same classifier with the Bi-GAN/SVM gate. With several seeds the"
  echo "values are means over seeds (the mean column also gives the sd over seeds)."
  echo
} >"$md"
strip_curves() { sed '/^## Curves/,$d' "$1" | sed '1{/^# /d}'; }
for subset in $subsets; do
  runs="" table4=""
  for arch in $archs; do
    p=$(pretty "$arch")
    x=$(dirs "$subset" "$arch" eval-plain) || continue
    runs+="${runs:+;}$p=$x"
    x=$(dirs "$subset" "$arch" eval-chr) && runs+=";$p+CHR=$x"
    x=$(dirs "$subset" "$arch" eval-ideal) && runs+=";$p ideal, no gate=$x"
    x=$(dirs "$subset" "$arch" eval-gbad) && runs+=";(Ours) $p+GBAD=$x"
    if [ $gate_study = 1 ]; then
      x=$(dirs "$subset" "$arch" eval-gbad-hard) && runs+=";$p+GBAD hard negatives=$x"
      x=$(dirs "$subset" "$arch" eval-gbad-recall) && runs+=";$p+GBAD recall-0.95 gate=$x"
      x=$(dirs "$subset" "$arch" eval-gbad-perclass) && runs+=";$p+GBAD per-class gate=$x"
    fi
  done
  [ -n "$runs" ] || continue
  case "$subset" in 10) n=1 ;; 100) n=2 ;; 1000) n=3 ;; *) n="($subset)" ;; esac
  { echo "## Table $n: classification AP (%) on SIXray$subset"; echo; } >>"$md"
  # The table in the paper's layout (no differences), then per backbone the differences
  # from the plain CNN and from the ungated classifier.
  "$bin/gbad-report" --runs "$runs" --resamples 0 --out "$out/s$subset/table.md" --title x >/dev/null
  strip_curves "$out/s$subset/table.md" | sed 's/^## /### /' >>"$md"
  for arch in $archs; do
    p=$(pretty "$arch")
    arch_runs=$(tr ';' '\n' <<<"$runs" | { grep -F -e "$p=" -e "$p+" -e "$p ideal" || true; } | paste -sd ';')
    [ -n "$arch_runs" ] || continue
    for ref in "$p" "$p ideal, no gate"; do
      grep -qF "$ref=" <<<"$arch_runs" || continue
      tag=$(tr -c 'A-Za-z0-9\n' _ <<<"$ref")
      echo "== report SIXray$subset, reference $ref"
      "$bin/gbad-report" --runs "$arch_runs" --reference "$ref" --resamples "$resamples" \
        --out "$out/s$subset/diff-$tag.md" --json "$out/s$subset/diff-$tag.json" --title x
      { echo; echo "### SIXray$subset, $p: differences from $ref"; echo;
        sed -n '/^## Difference from/,/^## Curves/p' "$out/s$subset/diff-$tag.md" | sed '1d;$d'; } >>"$md"
    done
  done
  # Table 4: binary metrics of GBAD and the GAN baselines on SIXray100.
  if [ "$subset" = 100 ]; then
    t4=""
    for arch in $archs; do
      x=$(dirs 100 "$arch" eval-gbad) && t4+="${t4:+;}(Ours) $(pretty "$arch")+GBAD=$x"
    done
    for variant in ganomaly skip; do
      x=$(dirs 100 "$variant" eval) || continue
      [ $variant = skip ] && name="Skip-GANomaly" || name="GANomaly"
      t4+=";$name=$x"
    done
    if [ -n "$t4" ]; then
      "$bin/gbad-report" --runs "$t4" --resamples "$resamples" --out "$out/s100/table4.md" \
        --json "$out/s100/table4.json" --title x >/dev/null
      { echo; echo "## Table 4: binary any-threat metrics on SIXray100"; echo
        [ -n "$gan_bin" ] || echo "(GANomaly / Skip-GANomaly: this build has no gbad-train-ganomaly; rows left out.)"
        echo; sed -n '/^## Binary/,/^## Curves/p' "$out/s100/table4.md" \
          | sed '/^## Curves/d;/^Per-class AP difference/,$d' | sed 's/^## /### /'; } >>"$md"
    fi
  fi
done
{
  echo
  echo "## Wall time per row (seconds, this machine)"
  echo
  echo "| subset | backbone | seed | row | seconds |"
  echo "|---|---|---:|---|---:|"
  tail -n +2 "$times" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
  echo
  echo "Total: $(( $(date +%s) - start )) s for this invocation (rows already done by an earlier invocation are not rerun)."
} >>"$md"
echo
echo "paper tables: $md"
