#!/usr/bin/env python3
"""scripts/vidur_compare.py without Vidur: its readers on a hand-made Vidur output folder and a
kvlab summary whose answers are known (makespan from the first arrival, throughput, the
percentiles, the restarts), the table's differences, and clear errors for an unknown
configuration and a missing trace."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

root = sys.argv[1]
script = os.path.join(root, "scripts", "vidur_compare.py")
spec = importlib.util.spec_from_file_location("vidur_compare", script)
vc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vc)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(a, b, what):
    check(abs(a - b) <= 1e-9 * max(1.0, abs(b)), f"{what}: {a} != {b}")


with tempfile.TemporaryDirectory() as tmp:
    # A Vidur output folder: OUTDIR/<timestamp>/request_metrics.csv and plots/*_time_series.csv.
    # An older run beside it must be ignored (the newest timestamp is read).
    for stamp, scale in (("2026-01-01_00-00-00-000000", 100.0), ("2026-12-05_18-00-00-000000", 1.0)):
        d = os.path.join(tmp, "vidur", stamp)
        os.makedirs(os.path.join(d, "plots"))
        with open(os.path.join(d, "request_metrics.csv"), "w") as f:
            f.write("Request Id,prefill_e2e_time,decode_time_execution_plus_preemption_normalized,"
                    "request_e2e_time,request_num_decode_tokens,request_num_restarts\n")
            for i in range(5):  # TTFT 1..5, TPOT 0.01..0.05, E2E 10..50, 100 tokens each
                f.write(f"{i},{(i + 1) * scale},{(i + 1) / 100},{(i + 1) * 10},100,{i % 2}\n")
        with open(os.path.join(d, "plots", "request_arrival_time_series.csv"), "w") as f:
            f.write(",Time (sec),request_arrival\n0,2.0,1\n1,3.0,2\n")
        with open(os.path.join(d, "plots", "request_completion_time_series.csv"), "w") as f:
            f.write(",Time (sec),request_completion\n0,7.0,1\n1,12.0,2\n")
    v = vc.vidur_metrics(os.path.join(tmp, "vidur"))
    close(v["duration_s"], 10.0, "makespan: last completion - first arrival")
    close(v["req_s"], 0.5, "requests per second")
    close(v["tok_s"], 50.0, "decode tokens per second")
    check(v["preemptions"] == 2, f"restarts summed: {v['preemptions']}")
    close(v["ttft_mean"], 3.0, "TTFT mean (the newest run)")
    close(v["ttft_p50"], 3.0, "TTFT p50")
    close(v["ttft_p99"], 4.96, "TTFT p99 (linear interpolation)")
    close(v["tpot_mean"], 0.03, "TPOT mean")
    close(v["e2el_p99"], 49.6, "E2E p99")

    summary = {"duration_s": 8.0, "throughput_req_s": 0.625, "throughput_tok_s": 60.0, "num_preemptions": 3,
               "kv_capacity_slots": 1000}
    for key in ("ttft", "tpot", "e2el"):
        for stat, value in (("mean", 2.0), ("p50", 1.5), ("p99", 4.0)):
            summary[f"{key}_{stat}_s"] = value
    path = os.path.join(tmp, "kvlab.json")
    json.dump([summary], open(path, "w"))
    k = vc.kvlab_metrics(path)
    check(k["req_s"] == 0.625 and k["preemptions"] == 3 and k["ttft_p99"] == 4.0, f"kvlab summary read: {k}")

    v["kv_slots"] = 1000
    table = vc.markdown_table([("base", 10.0, {"run_cpu": 6.0}, v, 0.2, k)], 5, 50)
    row = [line for line in table.splitlines() if line.startswith("| base |")]
    check(len(row) == 1, f"one row: {table}")
    cells = [c.strip() for c in row[0].split("|")[1:-1]]
    check(cells[1] == "10.00 (6.00)" and cells[2] == "0.200" and cells[3] == "50x", f"CPU cells: {cells[:4]}")
    check(cells[4] == "10 / 8 (-20%)", f"makespan cell: {cells[4]}")
    check(cells[5] == "0.50 / 0.62 (+25%)", f"req/s cell: {cells[5]}")
    check(cells[8] == "2 / 3", f"preemptions cell: {cells[8]}")
    check(cells[9].split("<br>")[0] == "3 / 2 (-33%)", f"TTFT mean cell: {cells[9]}")
    check(cells[10].split("<br>")[2] == "49.6 / 4000 (+7965%)", f"TPOT p99 cell in ms: {cells[10]}")

    def run(*args):
        return subprocess.run([sys.executable, script, "--peer", tmp, "--kvlab", "kvlab", "--work", tmp, *args],
                              capture_output=True, text=True)

    r = run("--configs", "base,tp3")
    check(r.returncode != 0 and "unknown configuration 'tp3'" in r.stderr, f"unknown config: {r.stderr}")
    r = run("--configs", "base")
    check(r.returncode != 0 and "sharegpt_clip4096_vidur_order.csv is missing" in r.stderr,
          f"missing trace: {r.stderr}")

if failures:
    sys.exit(f"{len(failures)} checks failed")
print("vidur_compare: readers, table and errors as expected")
