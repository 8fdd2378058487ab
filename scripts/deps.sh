#!/usr/bin/env bash
# Installs the Debian packages gbad needs, only those that are missing. Safe to re-run.
# Usage: scripts/deps.sh [--fuzz]   (--fuzz adds clang and its libFuzzer / OpenMP runtimes for
# scripts/fuzz.sh; .ci/run uses it)
set -euo pipefail
pkgs=(build-essential cmake ninja-build git pkg-config libopenblas-dev libsvm-dev libstb-dev
      libgtest-dev libbenchmark-dev nlohmann-json3-dev ccache
      libopenmpi-dev openmpi-bin)
if [ "${1:-}" = "--fuzz" ]; then
  pkgs+=(clang libclang-rt-dev libomp-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
else
  echo "deps: all Debian packages present"
fi
if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
  echo "deps: nvcc found, the CUDA backend will be compiled"
else
  echo "deps: no nvcc, building the CPU backend only"
fi
