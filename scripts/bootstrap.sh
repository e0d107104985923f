#!/usr/bin/env bash
# Installs everything kvlab needs to build, test and report, from Debian packages.
# Idempotent: packages already present are left alone. Needs root (or sudo).
# Usage: scripts/bootstrap.sh            # C++ toolchain, libraries, Python report tools
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev                      # CPU reference kernels
  libboost-graph-dev libboost-program-options-dev  # node topology, INI config + CLI
  libhdf5-dev                        # results files
  libgtest-dev libgmock-dev          # tests
  libbenchmark-dev                   # benchmarks
  clang libclang-rt-dev              # fuzzing (tests/fuzz, the fuzz preset): clang, libFuzzer
  nlohmann-json3-dev                 # JSON traces (Mooncake, ShareGPT) and --summary-json
  libcsv-dev                         # CSV traces (RFC 4180, strict)
  python3 python3-h5py python3-numpy python3-pandas python3-matplotlib  # reports
  python3-nbformat python3-nbconvert python3-ipykernel jupyter-nbconvert # notebooks in CI
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "bootstrap: done"
