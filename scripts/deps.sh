#!/usr/bin/env bash
# Installs the Debian packages gbad needs, only those that are missing. Safe to re-run.
# Usage: scripts/deps.sh [--fuzz] [--profile]   (--fuzz adds clang and its libFuzzer / OpenMP
# runtimes for scripts/fuzz.sh; .ci/run uses it. --profile adds gperftools' sampling profiler
# and google-pprof for tools/profile_step.py)
set -euo pipefail
pkgs=(build-essential cmake ninja-build git pkg-config libopenblas-dev libsvm-dev libstb-dev
      libgtest-dev libbenchmark-dev nlohmann-json3-dev ccache
      libopenmpi-dev openmpi-bin)
for arg in "$@"; do
  case "$arg" in
    --fuzz) pkgs+=(clang libclang-rt-dev libomp-dev) ;;
    --profile) pkgs+=(google-perftools) ;;
    *) echo "error: scripts/deps.sh: unknown option $arg (expected --fuzz or --profile)" >&2; exit 2 ;;
  esac
done
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
