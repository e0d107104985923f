#!/usr/bin/env python3
"""Compares a run's summary with a committed golden summary, number for number.

    compare_summaries.py GOLDEN RESULT

GOLDEN and RESULT are either `kvlab run --summary-json` files (one object per point) or
`kvlab report` summary CSVs (docs/results/STEM.summary.csv). Every summary number of every
point must be equal (as doubles, bit for bit), except wall_s (the host's time). When a point
ran on a real back end (backend.kind other than sim in its config, or an output_digest in the
summary), step times are measured, not modeled: then only the counts and the output digest
are compared. A refactor must change no result: this is how that is checked
(tests/reports/CMakeLists.txt runs it for every study at its CI size).
"""
import csv
import json
import math
import sys

# Summary numbers of a real back end that do not depend on measured time.
REAL_BACKEND_KEYS = {
    "num_requests", "num_finished", "num_unfinished", "num_rejected", "num_filtered",
    "num_bad_rows_skipped", "generated_tokens", "kv_capacity_slots", "output_digest",
}
IGNORED = {"wall_s", "config", "point"}


def load(path):
    if path.endswith(".json"):
        with open(path) as f:
            points = json.load(f)
        return {str(p["point"]).zfill(4): p for p in points}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for row in rows:
        point = {}
        for k, v in row.items():
            try:
                point[k] = float(v)
            except (TypeError, ValueError):
                point[k] = v
        out[str(row["point"]).zfill(4)] = point
    return out


def is_real(point):
    config = point.get("config", {})
    if isinstance(config, dict) and config.get("backend.kind", "sim") != "sim":
        return True
    return "output_digest" in point


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            return True
        return float(a) == float(b)
    return a == b


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    golden, result = load(sys.argv[1]), load(sys.argv[2])
    problems = []
    if sorted(golden) != sorted(result):
        problems.append(f"points differ: golden {sorted(golden)}, result {sorted(result)}")
    compared = 0
    for name in sorted(set(golden) & set(result)):
        g, r = golden[name], result[name]
        if g.get("label") != r.get("label"):
            problems.append(f"point {name}: label {r.get('label')!r}, golden {g.get('label')!r}")
        real = is_real(g)
        for key, want in g.items():
            if key in IGNORED or key == "label" or (real and key not in REAL_BACKEND_KEYS):
                continue
            if key not in r:
                problems.append(f"point {name}: {key} missing (golden {want})")
                continue
            compared += 1
            if not same(want, r[key]):
                problems.append(f"point {name} ({g.get('label')}): {key} = {r[key]!r}, golden {want!r}")
    if problems:
        print(f"{sys.argv[2]} differs from {sys.argv[1]}:")
        for p in problems[:40]:
            print("  " + p)
        if len(problems) > 40:
            print(f"  ... and {len(problems) - 40} more")
        sys.exit(1)
    print(f"{len(golden)} points, {compared} summary numbers equal to {sys.argv[1]}")


if __name__ == "__main__":
    main()
