#!/usr/bin/env python3
"""Draws `kvlab trace stats --plot OUT.png`: the prompt and output length histograms of a trace.

Called by `kvlab trace stats` (app/cli/trace_command.cc) with a JSON file of the statistics it
computed (traces/trace_stats.h: power-of-two bins [lo, hi) with their counts, and mean / p50 /
p90 / p99 / max) and the PNG to write. The bins are the text histogram's, so the picture and
the table agree; the x axis is logarithmic (the bins are equal widths on it), the percentiles
are dashed lines. Uses matplotlib only (Debian's python3-matplotlib, as `kvlab report`).

usage: kvlab_trace_plot.py STATS.json OUT.png
"""
import json
import os
import sys

try:
    import matplotlib
except ImportError as missing:
    sys.stderr.write(f"kvlab trace stats: error: {missing} in {sys.executable} "
                     "(run scripts/bootstrap.sh, or use /usr/bin/python3)\n")
    sys.exit(1)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the back end)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402


def draw(ax, name, stats):
    bins = stats["bins"]
    lefts = [b[0] for b in bins]
    widths = [b[1] - b[0] for b in bins]
    counts = [b[2] for b in bins]
    ax.bar(lefts, counts, width=widths, align="edge", color="#4C72B0", edgecolor="white")
    ax.set_xscale("log", base=2)
    # Bin edges as plain token counts (1, 4, 16, ... 4,096), every other octave when there are
    # many, so the labels never crowd.
    edges = [b[0] for b in bins] + [bins[-1][1]]
    step = 1 if len(edges) <= 8 else 2
    ax.xaxis.set_major_locator(FixedLocator(edges[::step]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(round(v)):,}"))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(f"{name} length (tokens)")
    ax.set_ylabel("requests")
    styles = {"p50": ("#DD8452", "--"), "p90": ("#55A868", "--"), "p99": ("#C44E52", "--")}
    for key, (colour, line) in styles.items():
        ax.axvline(stats[key], color=colour, linestyle=line, linewidth=1.2,
                   label=f"{key} {stats[key]:,}")
    ax.axvline(stats["mean"], color="black", linestyle=":", linewidth=1.2,
               label=f"mean {stats['mean']:,.1f}")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(f"{name}: min {stats['min']:,}, max {stats['max']:,}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.strip().splitlines()[-1] + "\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        stats = json.load(f)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    draw(axes[0], "prompt", stats["prompt"])
    draw(axes[1], "output", stats["output"])
    fig.suptitle(f"{os.path.basename(stats['path'])} ({stats['format']}): "
                 f"{stats['count']:,} requests", fontsize=11)
    try:
        fig.savefig(argv[2], dpi=150)
    except OSError as error:
        sys.stderr.write(f"kvlab trace stats: error: {argv[2]}: cannot write: {error.strerror}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
