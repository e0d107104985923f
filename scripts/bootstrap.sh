#!/usr/bin/env bash
# Installs everything kvlab needs to build, test and report, from Debian packages.
# Idempotent: packages already present are left alone. Needs root (or sudo).
# Usage: scripts/bootstrap.sh            # C++ toolchain, libraries, Python report tools
#        scripts/bootstrap.sh --cluster  # also munge and Slurm, for the `cluster` test label
#                                        # (tests/cluster: a single-node Slurm in a temp dir;
#                                        # CI passes it, .ci/run). KVLAB_BOOTSTRAP_CLUSTER=1 too.
set -euo pipefail

cluster=${KVLAB_BOOTSTRAP_CLUSTER:-0}
for arg in "$@"; do
  case "$arg" in
    --cluster) cluster=1 ;;
    *) echo "bootstrap: unknown option '$arg' (known: --cluster)" >&2; exit 2 ;;
  esac
done

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
if [ "$cluster" = 1 ]; then
  # docs/cluster.md's Slurm example, run by tests/cluster/slurm_test.sh (none of the daemons is
  # configured or started here: the test runs its own in a temporary directory).
  packages+=(munge slurmctld slurmd slurm-client)
fi

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
