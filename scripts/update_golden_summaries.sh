#!/usr/bin/env bash
# Regenerates tests/reports/golden/*.json: every study at the reduced size CI runs it at (the
# reports_studies list of tests/reports/CMakeLists.txt), and the quickstart. Only for a change
# that means to change results: say in the commit which numbers moved and why.
#   scripts/update_golden_summaries.sh [path/to/kvlab]
set -euo pipefail
cd "$(dirname "$0")/.."
kvlab=${1:-build/default/bin/kvlab}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # STUDY [kvlab run options...]
  local study=$1
  shift
  "$kvlab" run "experiments/$study.ini" "$@" --out "$tmp/$study.h5" \
    --summary-json "$tmp/$study.json" --jobs 2 > /dev/null
  python3 - "$tmp/$study.json" "tests/reports/golden/$study.json" <<'PY'
import json, sys
points = json.load(open(sys.argv[1]))
for p in points:  # the summary, not the resolved config (a refactor may rename keys)
    p["config"] = {"backend.kind": p["config"].get("backend.kind", "sim")}
    p.pop("wall_s", None)  # the host's time, never compared
json.dump(points, open(sys.argv[2], "w"), indent=1)
PY
  echo "golden: $study"
}
sizes=$(sed -n 's/^    "\([a-z_0-9]*\) \([0-9]*\) [0-9]*")\{0,1\}$/\1 \2/p' tests/reports/CMakeLists.txt)
while read -r study requests; do
  [ -n "$study" ] && run "$study" --set "workload.num_requests=$requests"
done <<< "$sizes"
run quickstart
