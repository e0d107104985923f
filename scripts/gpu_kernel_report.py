#!/usr/bin/env python3
"""Tables from bench_gpu_kernels' Google Benchmark JSON (tests/gpu/bench_kernels.cc).

    python3 scripts/gpu_kernel_report.py gpu_kernels.json [--markdown OUT.md] [--csv OUT.csv]

Markdown (stdout when --markdown is not given):
  - the device and its peak memory bandwidth as the benchmark recorded them;
  - decode attention, a row per (batch, context): the contiguous kernel's time, GB/s and
    fraction of peak, then per paged block size its time and its overhead over contiguous;
  - the issue's two targets checked at large batch x context (batch >= 128, context >= 8192):
    paged decode attention at >= 70% of peak bandwidth, and within 10% of the contiguous
    kernel's time (per block size: the worst point);
  - GEMM TFLOP/s per llama-2-7b layer and token count.
CSV: one row per benchmark point (layout, batch, context, block, time_us, GB_per_s,
peak_fraction, TFLOP_per_s, label).

With --benchmark_repetitions the medians are used. Only the standard library: it runs with any
python3 (the GPU machines' included).
"""
import argparse
import csv
import io
import json
import re
import sys

DECODE = re.compile(r"^BM_DecodeAttention/(paged|contiguous)/batch:(\d+)/context:(\d+)/block:(\d+)")
GEMM = re.compile(r"^BM_Gemm/([A-Za-z_]+)/tokens:(\d+)")
TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}

LARGE_BATCH, LARGE_CONTEXT = 128, 8192
PEAK_TARGET, OVERHEAD_TARGET = 0.70, 0.10


def load_points(doc):
    """One dict per benchmark point; medians when the file has repetitions."""
    runs = doc.get("benchmarks", [])
    medians = [b for b in runs if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"]
    chosen = medians if medians else [b for b in runs if b.get("run_type", "iteration") == "iteration"]
    points = []
    for b in chosen:
        name = b.get("run_name") or b["name"]
        if b.get("error_occurred"):
            raise SystemExit(f"gpu_kernel_report: {name}: the benchmark reported an error: "
                             f"{b.get('error_message', '?')}")
        time_us = float(b["real_time"]) * TO_US[b.get("time_unit", "ns")]
        p = {"name": name, "time_us": time_us, "label": b.get("label", ""),
             "GB_per_s": b.get("GB_per_s"), "peak_fraction": b.get("peak_fraction"),
             "TFLOP_per_s": b.get("TFLOP_per_s")}
        m = DECODE.match(name)
        g = GEMM.match(name)
        if m:
            p.update(kind="decode", layout=m[1], batch=int(m[2]), context=int(m[3]), block=int(m[4]))
        elif g:
            p.update(kind="gemm", layer=g[1], tokens=int(g[2]))
        else:
            p.update(kind="other")
        points.append(p)
    return points


def pct(x):
    return "–" if x is None else f"{100.0 * x:.0f}%"


def decode_section(points, out):
    decode = [p for p in points if p["kind"] == "decode"]
    if not decode:
        return []
    contiguous = {(p["batch"], p["context"]): p for p in decode if p["layout"] == "contiguous"}
    paged = {(p["batch"], p["context"], p["block"]): p for p in decode if p["layout"] == "paged"}
    blocks = sorted({p["block"] for p in decode if p["layout"] == "paged"})
    shapes = sorted({(p["batch"], p["context"]) for p in decode})
    out.write("## Decode attention (32 heads x 128, fp16, one layer; K and V read once)\n\n")
    header = ["batch", "context", "contiguous µs", "GB/s", "of peak"]
    for b in blocks:
        header += [f"paged/{b} µs", "vs contig."]
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|" + "---|" * len(header) + "\n")
    for shape in shapes:
        c = contiguous.get(shape)
        row = [str(shape[0]), str(shape[1])]
        row += [f"{c['time_us']:.1f}", f"{c['GB_per_s']:.0f}", pct(c["peak_fraction"])] if c else ["–"] * 3
        for b in blocks:
            p = paged.get((shape[0], shape[1], b))
            if p is None:
                row += ["–", "–"]
                continue
            row.append(f"{p['time_us']:.1f}")
            row.append(f"{100.0 * (p['time_us'] / c['time_us'] - 1.0):+.1f}%" if c else "–")
        out.write("| " + " | ".join(row) + " |\n")

    # The targets, at large batch x context.
    verdicts = []
    out.write(f"\nTargets at batch >= {LARGE_BATCH} and context >= {LARGE_CONTEXT}:\n\n")
    for b in blocks:
        large = [p for (bt, ctx, blk), p in paged.items()
                 if blk == b and bt >= LARGE_BATCH and ctx >= LARGE_CONTEXT]
        if not large:
            out.write(f"- paged block {b}: no point measured at that size\n")
            continue
        worst_peak = min(p["peak_fraction"] for p in large)
        overheads = [p["time_us"] / contiguous[(p["batch"], p["context"])]["time_us"] - 1.0
                     for p in large if (p["batch"], p["context"]) in contiguous]
        worst_overhead = max(overheads) if overheads else None
        peak_ok = worst_peak >= PEAK_TARGET
        over_ok = worst_overhead is not None and worst_overhead <= OVERHEAD_TARGET
        verdicts.append((b, peak_ok, over_ok))
        over_text = "–" if worst_overhead is None else f"{100.0 * worst_overhead:+.1f}%"
        out.write(f"- paged block {b}: worst {pct(worst_peak)} of peak "
                  f"({'met' if peak_ok else 'MISSED'}: >= {PEAK_TARGET:.0%}), worst overhead {over_text} "
                  f"over contiguous ({'met' if over_ok else 'MISSED'}: <= {OVERHEAD_TARGET:.0%}), "
                  f"{len(large)} points\n")
    return verdicts


def gemm_section(points, out):
    gemm = [p for p in points if p["kind"] == "gemm"]
    if not gemm:
        return
    layers = list(dict.fromkeys(p["layer"] for p in gemm))
    tokens = sorted({p["tokens"] for p in gemm})
    by = {(p["layer"], p["tokens"]): p for p in gemm}
    out.write("\n## GEMM (llama-2-7b layers, fp16 in, fp32 accumulate): TFLOP/s (of peak)\n\n")
    out.write("| layer | " + " | ".join(f"{t} tok" for t in tokens) + " |\n")
    out.write("|---|" + "---|" * len(tokens) + "\n")
    for layer in layers:
        cells = []
        for t in tokens:
            p = by.get((layer, t))
            cells.append("–" if p is None else f"{p['TFLOP_per_s']:.1f} ({pct(p['peak_fraction'])})")
        out.write(f"| {layer} | " + " | ".join(cells) + " |\n")


def report(doc):
    points = load_points(doc)
    ctx = doc.get("context", {})
    out = io.StringIO()
    out.write("# GPU kernel benchmarks\n\n")
    out.write(f"Device: {ctx.get('device', '?')} (catalog entry {ctx.get('catalog_entry', '?')}); "
              f"peak memory bandwidth used: {float(ctx.get('peak_memory_gb_s', 0) or 0):.0f} GB/s; "
              f"run {ctx.get('date', '?')} on {ctx.get('host_name', '?')}; "
              f"{ctx.get('skipped_points', '0')} point(s) skipped for memory.\n\n")
    verdicts = decode_section(points, out)
    gemm_section(points, out)
    return out.getvalue(), points, verdicts


def write_csv(points, path):
    fields = ["name", "kind", "layout", "batch", "context", "block", "layer", "tokens", "time_us",
              "GB_per_s", "peak_fraction", "TFLOP_per_s", "label"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for p in points:
            w.writerow(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="bench_gpu_kernels --benchmark_out=FILE --benchmark_out_format=json")
    ap.add_argument("--markdown", help="write the tables here (default: stdout)")
    ap.add_argument("--csv", help="also write one row per point here")
    args = ap.parse_args()
    try:
        with open(args.json) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"gpu_kernel_report: {args.json}: {e}")
    text, points, _ = report(doc)
    if not points:
        raise SystemExit(f"gpu_kernel_report: {args.json}: no benchmark points")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.csv:
        write_csv(points, args.csv)


if __name__ == "__main__":
    main()
