"""The study notebooks' helpers: where their result files are, and the paper's system names.
Reading the files is the kvlab package's (python/kvlab, docs/results-format.md "In Python"):
load_points is kvlab.load, load_table one point's table of kvlab.requests / kvlab.steps.

Every notebook here finds its result files in one folder: $KVLAB_RESULTS if set, else
out/studies/ at the repository root (where docs/reproduction.md's commands write them). CI sets
KVLAB_RESULTS to the small results its reduced runs produce.

    from kvlab_results import results_path, load_points, load_table, with_system, with_axis_labels
    pts = with_system(load_points(results_path("memory_waste")))
    steps = load_table(results_path("memory_waste"), pts.point[0], "steps")
    # the [sweep] labels, one column per axis
    mp = with_axis_labels(load_points(results_path("memory_paradigms")), ["setup", "system"])
"""

import os
import sys

import numpy as np

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import kvlab
except ImportError:  # not installed (pip install -e python/): the repository's copy
    sys.path.insert(0, os.path.join(_REPO, "python"))
    import kvlab

load = kvlab.load
requests = kvlab.requests
steps = kvlab.steps
use_style = kvlab.use_style  # the report's matplotlib style (python/kvlab/_style.py)


def results_dir():
    """$KVLAB_RESULTS, else out/studies/ of the repository this file sits in."""
    env = os.environ.get("KVLAB_RESULTS")
    if env:
        return env
    return os.path.join(_REPO, "out", "studies")


def results_path(study):
    """The result file of one study: RESULTS_DIR/<study>.h5 (the INI's name without .ini)."""
    path = os.path.join(results_dir(), study + ".h5")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} does not exist: run experiments/{study}.ini first (docs/reproduction.md), "
            "or point KVLAB_RESULTS at the folder holding it")
    return path


def load_points(path):
    """One row per sweep point (kvlab.load): `file`, `point` (the sweep index), `label`, every
    config key typed (`memory.block_size` int, `workload.rate` float, `memory.prefix_caching`
    bool, `memory.policy` str) and every summary value (float)."""
    return kvlab.load(path)


def load_table(path, point, table):
    """The per-request (`requests`) or per-step (`steps`) table of one point (its sweep index,
    or its group name "0003") as a DataFrame, without the config columns."""
    rows = kvlab.table(path, table, points=[int(point)], config=None)
    return rows.drop(columns=["file", "point", "label"])


def system_name(row):
    """The paper's name for a memory configuration: 'Orca (Max)', ..., 'vLLM (paged, 16)'."""
    if row["memory.policy"] == "contiguous":
        reservation = {"max": "Max", "pow2": "Pow2", "oracle": "Oracle"}[row["memory.reservation"]]
        return f"Orca ({reservation})"
    if row["memory.policy"] == "paged":
        return f"vLLM (paged, {row['memory.block_size']})"
    return row["memory.policy"]


SYSTEM_ORDER = ["Orca (Max)", "Orca (Pow2)", "Orca (Oracle)"]


def with_system(points, keys=()):
    """Adds a `system` column and drops points that repeat a system at the same values of
    `keys` (paged memory ignores memory.reservation, so a policy x reservation sweep runs it
    three times with identical results)."""
    out = points.copy()
    out["system"] = out.apply(system_name, axis=1)
    out = out.drop_duplicates(subset=list(keys) + ["system"], keep="first")
    order = {s: i for i, s in enumerate(SYSTEM_ORDER)}
    out["_order"] = out["system"].map(lambda s: order.get(s, len(order)))
    return out.sort_values(list(keys) + ["_order"], kind="stable").drop(columns="_order")


def with_axis_labels(points, names):
    """Adds one column per [sweep] axis, `names` in the INI's axis order, holding each point's
    label on that axis ("OPT-13B/A100, ShareGPT", "Orca (Max)"): `display_label` joins them with
    ", ", which cannot be split back when a label holds a comma. ValueError when a point has
    another number of axes than `names`."""
    out = points.copy()
    files = {path: kvlab.ResultFile(path) for path in out["file"].unique()}
    labels = [files[path].point(int(index)).axis_labels
              for path, index in zip(out["file"], out["point"])]
    for (path, index), got in zip(zip(out["file"], out["point"]), labels):
        if len(got) != len(names):
            raise ValueError(f"{path}: point {int(index)} has {len(got)} sweep axes "
                             f"({got}), expected {len(names)} ({', '.join(names)})")
    for j, name in enumerate(names):
        out[name] = [got[j] for got in labels]
    return out


def nearest(points, key, value):
    """The rows whose `key` (a numeric config value) is closest to `value`: reduced CI runs may
    not hold the exact value a figure is drawn at."""
    numeric = points[key].astype(float)
    best = numeric.iloc[(numeric - value).abs().argsort(kind="stable").iloc[0]]
    return points[numeric == best], best


def offered_rate(path, point):
    """Requests per second offered, measured from the arrival times (trace replays)."""
    arrivals = np.sort(load_table(path, point, "requests")["arrival_s"].to_numpy())
    if arrivals.size < 2 or arrivals[-1] <= arrivals[0]:
        return float("nan")
    return (arrivals.size - 1) / (arrivals[-1] - arrivals[0])


def time_binned(steps, bins=400):
    """Time-weighted means of every per-step column over `bins` equal spans of time (steps are
    weighted by their duration): a readable curve from tens of thousands of steps, where the
    raw batch size alternates between prefill steps and decode steps."""
    t0 = steps["time_s"].min()
    t1 = (steps["time_s"] + steps["duration_s"]).max()
    width = max((t1 - t0) / bins, 1e-12)
    span = ((steps["time_s"] - t0) // width).astype(int).clip(upper=bins - 1)
    weight = steps["duration_s"]
    values = steps.drop(columns=["time_s"]).astype(float)
    means = values.mul(weight, axis=0).groupby(span).sum().div(weight.groupby(span).sum(), axis=0)
    means.insert(0, "time_s", t0 + means.index.to_numpy() * width)
    return means.reset_index(drop=True)
