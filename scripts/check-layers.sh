#!/usr/bin/env bash
# Fails when a source file includes a header from a layer above its own. The layers, bottom up:
#   core <- kernels <- nn <- {dist, models};  core <- io <- {models, data, eval} <- train
# bench/, tests/ and tools/ stand on top and may include anything.
# Usage: scripts/check-layers.sh [REPO_ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
declare -A allowed=(
  [core]="core"
  [kernels]="core kernels"
  [nn]="core kernels nn"
  [dist]="core kernels nn dist"
  [io]="core io"
  [models]="core kernels nn io models"
  [data]="core io data"
  [eval]="core io eval"
  [train]="core kernels nn dist io models data eval train"
)
layers="core kernels nn dist io models data eval train"
bad=0
for layer in $layers; do
  [ -d "$layer" ] || continue
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    inc=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$rest")
    case " $layers " in *" $inc "*) ;; *) continue ;; esac
    if [[ " ${allowed[$layer]} " != *" $inc "* ]]; then
      echo "$file:$line: $layer/ must not include $inc/ (layers: ${allowed[$layer]})"
      bad=1
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include "[a-z_]+/' "$layer" \
             --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' || true)
done
if [ $bad -ne 0 ]; then
  echo "check-layers: upward includes found"
  exit 1
fi
echo "check-layers: every include points down the layer graph"
