#!/usr/bin/env bash
# The README's first command: install what kvlab needs, build it (Release, CPU only) and run
# the quickstart experiment (paged vs contiguous KV cache on the Azure conversation trace).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"
build/default/bin/kvlab run experiments/quickstart.ini --out quickstart.h5 --summary-json quickstart.json
