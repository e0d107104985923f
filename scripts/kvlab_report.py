#!/usr/bin/env python3
"""kvlab report: a markdown report with summary tables and PNG plots of kvlab result files.

    kvlab report RESULTS.h5 [MORE.h5 ...] [--out DIR] [--title TEXT] [--max-step-plots N] [--dpi N]
                 [--format png,pdf,svg]

(`kvlab report` runs this script with Debian's /usr/bin/python3, which has h5py, numpy and
matplotlib.) For each result file (the HDF5 layout of docs/results-format.md) it writes, into DIR:

  report.md                      one section per file: provenance, the workload accounting, a
                                 summary table (one row per sweep point, the DESIGN.md summary
                                 names) and the plots below
  STEM.summary.csv               the same table, machine-readable (plus the accounting columns)
  STEM.vs_rate.png               when the sweep varies workload.rate (or workload.time_scale):
                                 normalized latency, mean batch size, TTFT p50 and TPOT p50 against
                                 the request rate, one curve per value of the other swept keys
  STEM.memory_breakdown.png      the time-weighted KV memory breakdown of every point, stacked
  STEM.steps_pNNNN.png           per point (at most --max-step-plots of them, evenly spread):
                                 the memory breakdown over time and the batch over time, from the
                                 per-step table
  STEM.replicas_pNNNN.png        for those points that ran on a cluster of more than one replica:
                                 each replica's running requests and the share of its KV capacity
                                 in use over time (the steps' `replica` column)
  STEM.kv_transfer.png           when points ran disaggregated prefill and decode: the distribution
                                 of the requests' KV transfer times (requests' `kv_transfer_s`),
                                 one curve per such point

Plots are written in each format --format names (png by default; the report links the first).
Series and points are named by their display labels (the [sweep] labels, `paged:16 "vLLM"`, or
the values of the keys that apply to the point: docs/config.md). STEM is the result file's name
without `.h5`. Names depend only on the inputs, so the same results
give the same files. Errors (a missing file, a file that is not a kvlab result file) print one line
naming the file and exit with status 1; nothing is written for a file that cannot be read.

The files are read by the repository's Python package (python/kvlab: kvlab.ResultFile, its
h5py + numpy layer), imported from beside this script.
"""

import argparse
import csv
import math
import os
import sys
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "python"))
try:
    import matplotlib
    import numpy as np
    import kvlab  # python/kvlab (needs h5py)
except ImportError as missing:  # another interpreter than Debian's /usr/bin/python3
    sys.stderr.write(f"kvlab report: error: {missing} in {sys.executable} "
                     "(run scripts/bootstrap.sh, or use /usr/bin/python3)\n")
    sys.exit(1)

matplotlib.use("Agg")
plt = None  # matplotlib.pyplot, imported once the inputs have been read (it is slow to load)

FORMAT = kvlab.FORMAT

# The summary names DESIGN.md fixes, in its order: the columns of the summary table.
SUMMARY_NAMES = [
    "num_requests", "duration_s", "throughput_req_s", "throughput_tok_s",
    "normalized_latency_s_per_tok", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
    "mean_batch_size", "kv_capacity_slots", "kv_token_states_frac", "kv_reserved_frac",
    "kv_internal_frag_frac", "kv_external_frag_frac", "kv_free_frac", "num_preemptions",
    "num_rejected", "wall_s",
]
# Further summary values docs/results-format.md lists; the CSV carries them too.
EXTRA_NAMES = [
    "kv_token_states_of_used_frac", "num_finished", "num_unfinished", "num_filtered",
    "num_bad_rows_skipped", "generated_tokens", "num_steps",
    "kv_cached_frac", "prefix_hit_rate", "prefix_block_hit_rate", "prefix_hit_rate_bound",
    "prefill_tokens_saved", "num_evicted_blocks",
]
COUNT_NAMES = {
    "num_requests", "kv_capacity_slots", "num_preemptions", "num_rejected", "num_finished",
    "num_unfinished", "num_filtered", "num_bad_rows_skipped", "generated_tokens", "num_steps",
    "prefill_tokens_saved", "num_evicted_blocks",
}

# The memory breakdown, bottom to top, as the vLLM paper's Fig. 2 stacks it.
BREAKDOWN = [
    ("token_states", "token states", "#2ca02c"),
    ("reserved", "reserved", "#ffbf00"),
    ("internal_frag", "internal frag.", "#d62728"),
    ("external_frag", "external frag.", "#7f7f7f"),
    # Prefix caching: blocks no request holds whose KV stays findable until evicted. Results
    # written before it have no such segment (0).
    ("cached", "cached, evictable", "#9ecae1"),
    ("free", "free", "#dcdcdc"),
]

# Sweep keys that set the request rate, and how the x axis is drawn for each.
RATE_KEYS = ("workload.rate", "workload.time_scale")

MAX_PLOTTED_STEPS = 1200  # longer per-step series are averaged into half as many bins


class ReportError(Exception):
    """A problem with an input or the output folder: reported in one line, exit status 1."""


def as_text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return as_text(value[()])
    return str(value)


def config_text(value):
    """A config value as an INI file would write it: kvlab-results-2 stores them typed
    (16, 2.5, True), -1 as text."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.15g}"
    return as_text(value)


def as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class Point:
    """One sweep point of a result file: its config (as text, as the file stores it), summary,
    and lazily its tables (a kvlab.Point underneath)."""

    def __init__(self, point):
        self.point = point
        self.path = point.path
        self.name = point.name  # "0003": the point's global sweep index
        self.label = point.label
        self.display_label = point.display_label
        self.axes = point.axes
        self.axis_labels = point.axis_labels
        self.config = {k: config_text(v) for k, v in point.config.items()}
        self.summary = dict(point.summary)
        self.has_steps = point.has_steps  # output.record_steps = false leaves them empty

    def steps(self):
        return self.point.columns("steps")

    def requests(self):
        return {k: v for k, v in self.point.columns("requests").items() if v.dtype.kind in "fiub"}

    def replicas(self):
        """The replicas table ({column: array}); one replica for files written before clusters."""
        if "replicas" not in self.point.tables:
            return None
        return self.point.columns("replicas")

    def num_replicas(self):
        table = self.replicas()
        return 1 if table is None else len(table["replica"])

    def disaggregated(self):
        table = self.replicas()
        return table is not None and any(r in ("prefill", "decode") for r in table["role"])


class ResultFile:
    """A kvlab result file, read (attributes only) up front so errors surface early."""

    def __init__(self, path):
        try:
            rf = kvlab.ResultFile(path)
        except (FileNotFoundError, kvlab.ResultError) as e:  # "PATH: what is wrong"
            raise ReportError(str(e)) from None
        self.path = path
        self.stem = rf.stem
        self.attrs = {k: as_text(v) for k, v in rf.attrs.items()}
        self.points = [Point(p) for p in rf.points]
        self.workload = {k: as_text(v) for k, v in rf.points[0].workload.items()}
        for p in self.points:
            missing = [n for n in SUMMARY_NAMES if n not in p.summary]
            if missing:
                raise ReportError(f"{path}: point {p.name} lacks summary values {', '.join(missing)}")
        self.swept = swept_keys(self.points)

    def rate_key(self):
        for key in RATE_KEYS:
            if key in self.swept:
                return key
        return None


def swept_keys(points):
    """The config keys whose values differ between points: the label's keys in sweep order,
    then any other differing key (a merged or hand-assembled file), sorted."""
    keys = []
    for p in points:
        for part in p.label.split(", ") if p.label else []:
            key = part.split("=", 1)[0]
            if key not in keys:
                keys.append(key)
    differing = sorted(k for k in points[0].config
                       if len({p.config.get(k) for p in points}) > 1 and k != "output.path")
    keys = [k for k in keys if k in differing] + [k for k in differing if k not in keys]
    return keys


def short_key(key):
    return key.split(".", 1)[1] if "." in key else key


def axis_names(rf, point, skip=()):
    """The point's display name on each sweep axis whose keys are not all in `skip` (the rate
    key of a rate plot): the [sweep] label or the values that apply (kvlab writes them);
    for files written before display labels, key=value of the swept keys."""
    if point.axes:
        return [label for axis, label in zip(point.axes, point.axis_labels)
                if not set(axis.split("+")) <= set(skip)]
    return [f"{short_key(k)}={point.config.get(k, '?')}" for k in rf.swept if k not in skip]


def point_name(rf, point, skip=()):
    """'Orca (Max), rate=2' style name of a point (its axes but those in `skip`)."""
    names = axis_names(rf, point, skip)
    if names:
        return ", ".join(names)
    return "all" if skip else f"point {point.name}"


def format_value(name, value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name in COUNT_NAMES and float(value).is_integer():
        return f"{int(value)}"
    if name.endswith("_frac"):
        return f"{value:.4f}"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def offered_rate(point):
    """Requests per second the workload offered: configured for generated arrivals, measured
    from the arrival times otherwise (a trace replayed with workload.time_scale)."""
    if point.config.get("workload.arrival") in ("poisson", "gamma"):
        return as_float(point.config.get("workload.rate"))
    arrivals = np.sort(point.requests()["arrival_s"])
    if arrivals.size < 2 or arrivals[-1] <= arrivals[0]:
        return float("nan")
    return (arrivals.size - 1) / (arrivals[-1] - arrivals[0])


# ---- plots -------------------------------------------------------------------------------------

DPI = 90  # --dpi
FORMATS = ["png"]  # --format

def save(fig, out_dir, stem):
    """Writes the figure in every --format; returns the first file's name (the report's link)."""
    names = []
    for fmt in FORMATS:
        name = f"{stem}.{fmt}"
        # No timestamps or software names: the same results give the same files.
        metadata = {"Software": None} if fmt == "png" else \
            {"Creator": None, "Producer": None, "CreationDate": None} if fmt == "pdf" else \
            {"Creator": None, "Date": None} if fmt == "svg" else None
        fig.savefig(os.path.join(out_dir, name), dpi=DPI, metadata=metadata, format=fmt)
        names.append(name)
    plt.close(fig)
    return names[0]


def wrap(text, fig_width_in, fontsize=12):
    """A title wrapped to the figure's width (about 0.55 em per character)."""
    per_line = max(20, int(fig_width_in * 72 / (fontsize * 0.55)))
    return textwrap.fill(text, per_line)


def time_unit(values):
    """("ms", 1000) when the values are mostly below a second, else ("s", 1)."""
    finite = np.asarray([v for v in values if math.isfinite(v) and v > 0])
    if finite.size and np.percentile(finite, 90) < 1.0:
        return "ms", 1000.0
    return "s", 1.0


def log_ticks(ax, values):
    """Log y axis with labelled ticks at every 1..9 step when the data span about a decade, at
    1-2-5 steps under three decades (a plain number on each), decades otherwise: never an axis
    with one or two labelled ticks."""
    from matplotlib import ticker
    finite = [v for v in values if math.isfinite(v) and v > 0]
    ax.set_yscale("log")
    if not finite:
        return
    decades = math.log10(max(finite)) - math.log10(min(finite))
    subs = tuple(np.arange(1, 10) * 1.0) if decades < 1.2 else \
        (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.yaxis.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(2, 10) * 1.0))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def plot_vs_rate(rf, out_dir):
    key = rf.rate_key()
    series = {}
    for p in rf.points:
        series.setdefault(point_name(rf, p, skip=(key,)), []).append(p)
    # (summary name, axis label, is a time, log axis)
    panels = [
        ("normalized_latency_s_per_tok", "normalized latency ({u}/token)", True, True),
        ("mean_batch_size", "mean batch size (sequences)", False, False),
        ("ttft_p50_s", "TTFT p50 ({u})", True, True),
        ("tpot_p50_s", "TPOT p50 ({u})", True, True),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    xlabel = "request rate (req/s)" if key == "workload.rate" else \
        "offered request rate (req/s, trace arrivals × 1/time_scale)"
    for ax, (name, ylabel, is_time, log) in zip(axes.flat, panels):
        every = [p.summary[name] for p in rf.points]
        unit, scale = time_unit(every) if is_time else ("", 1.0)
        for label, pts in series.items():
            xs = np.array([offered_rate(p) for p in pts])
            ys = np.array([p.summary[name] for p in pts]) * scale
            order = np.argsort(xs, kind="stable")
            ax.plot(xs[order], ys[order], marker="o", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel.format(u=unit))
        if log:
            log_ticks(ax, [v * scale for v in every])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    ncol = len(labels) if len(labels) <= 5 else 4
    fig.suptitle(wrap(f"{rf.stem}: metrics against the request rate", 11))
    fig.tight_layout(rect=(0, 0.03 + 0.035 * math.ceil(len(labels) / ncol), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol)
    return save(fig, out_dir, f"{rf.stem}.vs_rate")


def plot_memory_breakdown(rf, out_dir):
    n = len(rf.points)
    names = [point_name(rf, p) for p in rf.points]
    longest = max(len(x) for x in names)
    # Short names stand upright under their bar; longer ones lean at 30 degrees, and the
    # figure grows to hold them.
    upright = longest * n <= 90
    width = min(24, max(7, (0.45 if upright else 0.55) * n + 3.5))
    height = 5 + (0 if upright else min(4, 0.06 * longest))
    fig, ax = plt.subplots(figsize=(width, height))
    x = np.arange(n)
    bottom = np.zeros(n)
    for part, legend, color in BREAKDOWN:
        default = 0.0 if part == "cached" else float("nan")
        share = np.array([p.summary.get(f"kv_{part}_frac", default) for p in rf.points])
        ax.bar(x, share * 100, bottom=bottom * 100, color=color, label=legend, width=0.8)
        bottom += share
    ax.set_xticks(x)
    if upright:
        ax.set_xticklabels(names)
    else:
        ax.set_xticklabels(names, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylabel("share of KV capacity (%), time-weighted")
    ax.set_ylim(0, 100)
    ax.grid(axis="x", visible=False)
    ax.set_title(wrap(f"{rf.stem}: KV memory breakdown per point", width))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return save(fig, out_dir, f"{rf.stem}.memory_breakdown")


def binned(time_s, columns, bins):
    """Means of each column over `bins` runs of consecutive steps (and the runs' start times):
    enough resolution for a plot, whatever the number of steps."""
    edges = np.linspace(0, time_s.size, bins + 1).astype(int)
    starts = edges[:-1]
    counts = np.diff(edges)
    keep = counts > 0
    out = {name: np.add.reduceat(col.astype(float), starts[keep]) / counts[keep]
           for name, col in columns.items()}
    return time_s[starts[keep]], out


def plot_steps(rf, point, out_dir):
    steps = point.steps()
    time_s = steps["time_s"]
    capacity = point.summary["kv_capacity_slots"]
    columns = {part: steps[f"kv_{part}"] if f"kv_{part}" in steps else np.zeros(time_s.size)
               for part, _, _ in BREAKDOWN}
    columns["batch_size"] = steps["batch_size"]
    columns["num_waiting"] = steps["num_waiting"]
    if time_s.size > MAX_PLOTTED_STEPS:
        t, cols = binned(time_s, columns, MAX_PLOTTED_STEPS // 2)
    else:
        t, cols = time_s, {k: v.astype(float) for k, v in columns.items()}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    top.stackplot(t, *[cols[part] / capacity * 100 for part, _, _ in BREAKDOWN],
                  labels=[legend for _, legend, _ in BREAKDOWN],
                  colors=[color for _, _, color in BREAKDOWN])
    top.set_ylabel("share of KV capacity (%)")
    top.set_ylim(0, 100)
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    batch, = bottom.plot(t, cols["batch_size"], color="#1f77b4", linewidth=0.9,
                         label="batch size (left axis)")
    bottom.set_ylabel("sequences in the step", color="#1f77b4")
    waiting = bottom.twinx()
    waiting.spines["right"].set_visible(True)
    waiting.grid(False)
    queued, = waiting.plot(t, cols["num_waiting"], color="#ff7f0e", linewidth=0.9,
                           label="requests waiting (right axis)")
    waiting.set_ylabel("requests waiting", color="#ff7f0e")
    bottom.legend([batch, queued], [batch.get_label(), queued.get_label()],
                  loc="upper left", bbox_to_anchor=(1.08, 1.0))
    bottom.set_xlabel("time (s)")
    if time_s.size > MAX_PLOTTED_STEPS:
        bottom.set_title(f"{time_s.size} steps, averaged over runs of consecutive steps",
                         fontsize=9)
    fig.suptitle(wrap(f"{rf.stem}, point {point.name}: {point_name(rf, point)}", 10))
    fig.tight_layout()
    return save(fig, out_dir, f"{rf.stem}.steps_p{point.name}")


def replica_names(table):
    """'replica 3 (decode)' style legend names of a replicas table's rows."""
    names = []
    for i, role, name in zip(table["replica"], table["role"], table["name"]):
        name, role = as_text(name), as_text(role)
        detail = ", ".join(dict.fromkeys(x for x in (name, role) if x and x != "mixed"))
        names.append(f"replica {int(i)}" + (f" ({detail})" if detail else ""))
    return names


def plot_replicas(rf, point, out_dir):
    """Each replica's running requests and KV in use (share of its own capacity) over time."""
    table = point.replicas()
    steps = point.steps()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for index, capacity, name in zip(table["replica"], table["capacity_slots"],
                                     replica_names(table)):
        mine = steps["replica"] == index
        time_s = steps["time_s"][mine]
        if time_s.size == 0:
            continue
        columns = {"num_running": steps["num_running"][mine],
                   "kv_used": capacity - steps["kv_free"][mine]}
        # a replica's per-step series, averaged into bins past MAX_PLOTTED_STEPS like plot_steps
        if time_s.size > MAX_PLOTTED_STEPS:
            t, cols = binned(time_s, columns, MAX_PLOTTED_STEPS // 2)
        else:
            t, cols = time_s, {k: v.astype(float) for k, v in columns.items()}
        line, = top.plot(t, cols["num_running"], linewidth=0.9, label=name)
        bottom.plot(t, cols["kv_used"] / capacity * 100, linewidth=0.9, color=line.get_color())
    top.set_ylabel("running requests")
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    bottom.set_ylabel("KV in use (% of the replica's capacity)")
    bottom.set_ylim(0, 100)
    bottom.set_xlabel("time (s)")
    fig.suptitle(wrap(f"{rf.stem}, point {point.name}: {point_name(rf, point)}: load and KV "
                      "memory per replica", 10))
    fig.tight_layout()
    return save(fig, out_dir, f"{rf.stem}.replicas_p{point.name}")


def plot_kv_transfer(rf, points, out_dir):
    """The distribution (CDF) of the KV transfer time of every request that moved from a
    prefill replica to a decode replica, one curve per point."""
    series = []
    for p in points:
        req = p.point.columns("requests", ["prefill_replica", "replica", "kv_transfer_s"])
        moved = (req["prefill_replica"] >= 0) & (req["replica"] != req["prefill_replica"])
        series.append((point_name(rf, p), np.sort(req["kv_transfer_s"][moved])))
    unit, scale = time_unit(np.concatenate([v for _, v in series]) if series else [])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in series:
        if values.size:
            ax.plot(values * scale, np.arange(1, values.size + 1) / values.size, label=label)
    ax.set_xlabel(f"KV transfer time, prefill to decode replica ({unit}; link waits included)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.02)
    ax.set_title(wrap(f"{rf.stem}: KV transfer time per request", 8))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save(fig, out_dir, f"{rf.stem}.kv_transfer")


def step_plot_points(points, limit):
    with_steps = [p for p in points if p.has_steps]
    if limit <= 0 or not with_steps:
        return []
    if len(with_steps) <= limit:
        return with_steps
    picks = sorted({int(round(i)) for i in np.linspace(0, len(with_steps) - 1, limit)})
    return [with_steps[i] for i in picks]


# ---- report ------------------------------------------------------------------------------------

def csv_value(name, value):
    """Counts as integers, everything else with full precision (repr round-trips)."""
    if name in COUNT_NAMES and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return repr(value)


def write_csv(rf, out_dir):
    name = f"{rf.stem}.summary.csv"
    with open(os.path.join(out_dir, name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["point", "label", "display_label"] + rf.swept + SUMMARY_NAMES + EXTRA_NAMES)
        for p in rf.points:
            w.writerow([p.name, p.label, point_name(rf, p)] + [p.config.get(k, "") for k in rf.swept]
                       + [csv_value(n, p.summary.get(n, float("nan")))
                          for n in SUMMARY_NAMES + EXTRA_NAMES])
    return name


def md_escape(text):
    return text.replace("|", "\\|")


def file_section(rf, out_dir, max_step_plots):
    lines = [f"## {rf.stem}", ""]
    lines.append(f"- file: `{rf.path}` ({rf.attrs.get('format')}, kvlab "
                 f"{rf.attrs.get('kvlab_version', '?')}, created {rf.attrs.get('created', '?')})")
    lines.append(f"- command: `{rf.attrs.get('command', '?')}`")
    total = rf.attrs.get("sweep_size", rf.attrs.get("num_points", "?"))
    lines.append(f"- points: {len(rf.points)} of {total}"
                 + (f"; swept: {', '.join(f'`{k}`' for k in rf.swept)}" if rf.swept else ""))
    first = rf.points[0].config
    lines.append(f"- model `{first.get('model.name')}` on `{first.get('hardware.name')}`"
                 f" (tensor parallel {first.get('model.tensor_parallel')}), back end "
                 f"`{first.get('backend.kind')}`")
    if rf.workload:
        w = rf.workload
        lines.append(f"- workload: {w.get('source', '?')} ({w.get('format', '?')}): "
                     f"{w.get('rows_read', '?')} rows read, {w.get('bad_rows_skipped', '0')} bad rows "
                     f"skipped, {w.get('filtered_prompt_len', '0')} over max_prompt_len, "
                     f"{w.get('filtered_total_len', '0')} over max_total_len, "
                     f"{w.get('beyond_num_requests', '0')} beyond num_requests"
                     + (f", {w.get('filtered_after_turn')} conversation turns after a turn left out"
                        if str(w.get('filtered_after_turn', '0')) not in ('0', '') else ""))
    lines += ["", "### Summary", "",
              "One row per point. Times in seconds; `kv_*_frac` are time-weighted shares of the KV "
              "capacity; `wall_s` is this machine's time to simulate the point.", ""]
    header = ["point", "label"] + SUMMARY_NAMES
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for p in rf.points:
        cells = [p.name, md_escape(point_name(rf, p) if rf.swept or p.axes else "–")]
        cells += [format_value(n, p.summary.get(n)) for n in SUMMARY_NAMES]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Machine-readable: [{write_csv(rf, out_dir)}]({rf.stem}.summary.csv)", ""]

    lines += ["### Plots", ""]
    if rf.rate_key():
        name = plot_vs_rate(rf, out_dir)
        lines += [f"![metrics against the request rate]({name})", ""]
    name = plot_memory_breakdown(rf, out_dir)
    lines += [f"![memory breakdown per point]({name})", ""]
    disaggregated = [p for p in rf.points if p.disaggregated()]
    if disaggregated:
        name = plot_kv_transfer(rf, disaggregated, out_dir)
        lines += [f"![KV transfer time per request]({name})", ""]
    chosen = step_plot_points(rf.points, max_step_plots)
    if chosen:
        lines += ["### Over time", ""]
        with_steps = sum(1 for p in rf.points if p.has_steps)
        if len(chosen) < with_steps:
            lines += [f"{len(chosen)} of {with_steps} points, evenly spread "
                      f"(`--max-step-plots` raises the limit).", ""]
        for p in chosen:
            name = plot_steps(rf, p, out_dir)
            lines += [f"Point {p.name}: {md_escape(point_name(rf, p) if p.axes or rf.swept else 'single point')}", "",
                      f"![memory and batch over time, point {p.name}]({name})", ""]
            if p.num_replicas() > 1:
                name = plot_replicas(rf, p, out_dir)
                lines += [f"![load and KV memory per replica, point {p.name}]({name})", ""]
    elif max_step_plots > 0:
        lines += ["No per-step tables in this file (`output.record_steps = false`).", ""]
    return lines


def read_result_file(path):
    try:
        return ResultFile(path)
    except (KeyError, ValueError, OSError) as e:  # a damaged or hand-made file
        raise ReportError(f"{path}: unreadable kvlab result file ({e})") from None


def default_out_dir(path):
    stem = path[: -len(".h5")] if path.endswith(".h5") else path
    return stem + "-report"


def main(argv):
    global DPI, plt
    parser = argparse.ArgumentParser(
        prog="kvlab report",
        description="Markdown report with summary tables and PNG plots of kvlab result files.")
    parser.add_argument("results", nargs="+", metavar="RESULTS.h5", help="kvlab result file(s)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: RESULTS-report beside the first file)")
    parser.add_argument("--title", default="kvlab report", help="the report's heading")
    parser.add_argument("--max-step-plots", type=int, default=12, metavar="N",
                        help="per-step plots per file, evenly spread over the points (default 12)")
    parser.add_argument("--dpi", type=int, default=DPI, metavar="N",
                        help=f"resolution of the PNGs (default {DPI})")
    parser.add_argument("--format", default="png", metavar="LIST",
                        help="plot formats, comma-separated: png, pdf, svg (default png; the "
                             "report links the first)")
    args = parser.parse_args(argv)
    DPI = args.dpi
    FORMATS[:] = [f.strip().lower() for f in args.format.split(",")]
    bad = [f for f in FORMATS if f not in ("png", "pdf", "svg")]
    if bad or not FORMATS:
        sys.stderr.write(f"kvlab report: error: --format: unknown plot format "
                         f"'{(bad or [''])[0]}' (known: png, pdf, svg)\n")
        return 1
    try:
        files = [read_result_file(path) for path in args.results]
        stems = [rf.stem for rf in files]
        if len(set(stems)) != len(stems):
            raise ReportError("two result files share the name " +
                              next(s for s in stems if stems.count(s) > 1) +
                              "; their output files would collide")
        out_dir = args.out or default_out_dir(args.results[0])
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            raise ReportError(f"{out_dir}: cannot create the output folder ({e.strerror})") from None
        import matplotlib.pyplot as plt
        kvlab.use_style()  # python/kvlab/_style.py: the notebooks' style too
        lines = [f"# {args.title}", "",
                 "Written by `kvlab report` (scripts/kvlab_report.py) from "
                 + ", ".join(f"`{rf.path}`" for rf in files) + ".", ""]
        for rf in files:
            lines += file_section(rf, out_dir, args.max_step_plots)
        report = os.path.join(out_dir, "report.md")
        with open(report, "w", encoding="utf-8") as f:
            f.write("\n".join(lines).rstrip("\n") + "\n")
    except ReportError as e:
        sys.stderr.write(f"kvlab report: error: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"kvlab report: error: {e}\n")
        return 1
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
