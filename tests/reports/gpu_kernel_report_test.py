#!/usr/bin/env python3
"""scripts/gpu_kernel_report.py on hand-made benchmark JSON whose answers are known: the
paged-vs-contiguous overheads, the target verdicts, the median of repetitions, the CSV, and a
clear error for a file with a failed benchmark."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

root = sys.argv[1]
script = os.path.join(root, "scripts", "gpu_kernel_report.py")
spec = importlib.util.spec_from_file_location("gpu_kernel_report", script)
gkr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gkr)


def point(name, time_us, **counters):
    return dict(name=name, run_name=name, run_type="iteration", real_time=time_us, time_unit="us",
                iterations=100, **counters)


def decode(layout, batch, context, block, time_us, peak_fraction, label="one-pass"):
    return point(f"BM_DecodeAttention/{layout}/batch:{batch}/context:{context}/block:{block}/manual_time",
                 time_us, GB_per_s=peak_fraction * 3350, peak_fraction=peak_fraction, label=label)


doc = {
    "context": {"device": "NVIDIA H100 80GB HBM3", "catalog_entry": "h100-sxm-80gb",
                "peak_memory_gb_s": "3352.3", "date": "2026-11-23T00:00:00", "host_name": "gpu",
                "skipped_points": "2"},
    "benchmarks": [
        decode("contiguous", 1, 128, 0, 10.0, 0.05),
        decode("paged", 1, 128, 16, 12.5, 0.04),
        decode("contiguous", 128, 8192, 0, 1000.0, 0.80, "split-k"),
        decode("paged", 128, 8192, 16, 1050.0, 0.76, "split-k"),
        decode("paged", 128, 8192, 32, 1200.0, 0.66, "split-k"),
        decode("contiguous", 256, 32768, 0, 8000.0, 0.82, "split-k"),
        decode("paged", 256, 32768, 16, 8080.0, 0.81, "split-k"),
        point("BM_Gemm/qkv_proj/tokens:1/manual_time", 50.0, TFLOP_per_s=2.0, peak_fraction=0.002,
              label="qkv_proj"),
        point("BM_Gemm/qkv_proj/tokens:4096/manual_time", 700.0, TFLOP_per_s=600.0,
              peak_fraction=0.61, label="qkv_proj"),
    ],
}
text, points, verdicts = gkr.report(doc)
assert len(points) == 9, len(points)
assert "NVIDIA H100 80GB HBM3" in text and "3352 GB/s" in text and "2 point(s) skipped" in text, text
# Overheads: 12.5 / 10 = +25.0%, 1050 / 1000 = +5.0%, 1200 / 1000 = +20.0%, 8080 / 8000 = +1.0%.
assert "| 1 | 128 | 10.0 | 168 | 5% | 12.5 | +25.0% | – | – |" in text, text
assert "| 128 | 8192 | 1000.0 | 2680 | 80% | 1050.0 | +5.0% | 1200.0 | +20.0% |" in text, text
assert "| 256 | 32768 | 8000.0 | 2747 | 82% | 8080.0 | +1.0% | – | – |" in text, text
# Targets at batch >= 128, context >= 8192: block 16 worst 76% and +5.0% (both met); block 32
# 66% and +20.0% (both missed). The batch-1 point's +25% does not count.
assert "paged block 16: worst 76% of peak (met: >= 70%), worst overhead +5.0% over contiguous (met: <= 10%), 2 points" in text, text
assert "paged block 32: worst 66% of peak (MISSED: >= 70%), worst overhead +20.0% over contiguous (MISSED: <= 10%), 1 points" in text, text
assert verdicts == [(16, True, True), (32, False, False)], verdicts
assert "| qkv_proj | 2.0 (0%) | 600.0 (61%) |" in text, text

# Repetitions: the medians are used, not the individual runs.
rep = {"context": {}, "benchmarks": [
    dict(point("BM_DecodeAttention/contiguous/batch:8/context:512/block:0/manual_time", t,
               GB_per_s=1.0, peak_fraction=0.1), run_name="BM_DecodeAttention/contiguous/batch:8/context:512/block:0/manual_time")
    for t in (30.0, 10.0, 20.0)] + [
    dict(point("BM_DecodeAttention/contiguous/batch:8/context:512/block:0/manual_time_median", 20.0,
               GB_per_s=1.0, peak_fraction=0.1), run_type="aggregate", aggregate_name="median",
         run_name="BM_DecodeAttention/contiguous/batch:8/context:512/block:0/manual_time")]}
rep_points = gkr.load_points(rep)
assert len(rep_points) == 1 and rep_points[0]["time_us"] == 20.0, rep_points

with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "bench.json")
    json.dump(doc, open(src, "w"))
    md, csv_path = os.path.join(tmp, "out.md"), os.path.join(tmp, "out.csv")
    subprocess.run([sys.executable, script, src, "--markdown", md, "--csv", csv_path], check=True)
    assert open(md).read() == text
    rows = open(csv_path).read().strip().splitlines()
    assert len(rows) == 10 and rows[0].startswith("name,kind,layout,batch,context,block"), rows
    # A failed benchmark is an error naming it, not a table with a hole.
    bad = dict(doc, benchmarks=doc["benchmarks"] + [dict(point("BM_Gemm/o_proj/tokens:1/manual_time", 0.0),
                                                     error_occurred=True, error_message="out of memory")])
    json.dump(bad, open(src, "w"))
    r = subprocess.run([sys.executable, script, src], capture_output=True, text=True)
    assert r.returncode != 0 and "BM_Gemm/o_proj/tokens:1" in r.stderr and "out of memory" in r.stderr, r
    open(src, "w").write("{not json")
    r = subprocess.run([sys.executable, script, src], capture_output=True, text=True)
    assert r.returncode != 0 and "bench.json" in r.stderr, r
print("gpu_kernel_report: tables, targets, medians, CSV and errors as expected")
