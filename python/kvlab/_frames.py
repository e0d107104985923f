"""Result files as pandas DataFrames: load (one row per point), requests and steps (one row
per request or step, every point's rows concatenated, the point's config joined)."""

import os

import numpy as np

from ._results import ResultFile
from .keys import type_column

# docs/results-format.md's order of the summary names (DESIGN.md's nineteen first): the order
# of load()'s summary columns. Names not listed here (a newer writer's) follow, sorted.
SUMMARY_NAMES = [
    "num_requests", "duration_s", "throughput_req_s", "throughput_tok_s",
    "normalized_latency_s_per_tok", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
    "mean_batch_size", "kv_capacity_slots", "kv_token_states_frac", "kv_reserved_frac",
    "kv_internal_frag_frac", "kv_external_frag_frac", "kv_free_frac", "num_preemptions",
    "num_rejected", "wall_s", "num_finished", "num_unfinished", "num_filtered",
    "num_bad_rows_skipped", "num_dropped_by_format", "generated_tokens", "num_steps",
    "kv_token_states_of_used_frac", "mean_running_requests", "kv_cached_frac", "prefix_hit_rate",
    "prefix_block_hit_rate", "prefix_hit_rate_bound", "prefill_tokens_saved",
    "num_evicted_blocks", "ttft_mean_s", "ttft_p90_s", "tpot_mean_s", "tpot_p90_s",
    "e2el_mean_s", "e2el_p50_s", "e2el_p90_s", "e2el_p99_s", "sched_delay_mean_s",
    "sched_delay_p50_s", "sched_delay_p90_s", "sched_delay_p99_s", "batch_size_p50",
    "batch_size_p90", "batch_size_p99", "throughput_total_tok_s", "goodput_req_s",
    "slo_attainment", "itl_mean_s", "itl_p50_s", "itl_p90_s", "itl_p99_s", "mfu_mean",
    "mbu_mean",
]

# The replicas table's leading columns (docs/results-format.md, `replicas/`).
REPLICA_COLUMNS = ["replica", "name", "role", "hardware", "memory_policy", "tensor_parallel",
                   "capacity_slots", "requests"]

_DTYPES = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": object}


def _pd():
    import pandas
    return pandas


def _paths(paths):
    if isinstance(paths, (str, bytes, os.PathLike)):
        return [os.fspath(paths)]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise ValueError("no result files given")
    return out


def _files(paths):
    return [p if isinstance(p, ResultFile) else ResultFile(p) for p in
            ([paths] if isinstance(paths, ResultFile) else _paths(paths))]


def _ordered(names_in_order, preferred=()):
    rank = {n: i for i, n in enumerate(preferred)}
    seen = list(dict.fromkeys(names_in_order))
    return sorted(seen, key=lambda n: (rank.get(n, len(rank)), n))


class _Config:
    """The typed config of a list of (file, point): one kind per key over all of them."""

    def __init__(self, rows):
        self.keys = sorted({k for _, p in rows for k in p.config})
        self.kinds = {}
        self.values = {}  # key -> [value per row]
        for key in self.keys:
            kind, values = type_column(key, [p.config.get(key) for _, p in rows])
            self.kinds[key] = kind
            self.values[key] = values

    def column(self, key, values):
        """A column of `values` of `key` with its kind's dtype (float64 / object when missing)."""
        kind = self.kinds[key]
        if any(v is None for v in values):
            if kind in ("int", "float"):
                return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            return np.array(values, dtype=object)
        return np.array(values, dtype=_DTYPES[kind])

    def select(self, which):
        """The keys `which` names: "all", "swept" (values differ between the rows), a list."""
        if which is None or which is False:
            return []
        if isinstance(which, str):
            if which == "all":
                return list(self.keys)
            if which == "swept":
                return [k for k in self.keys if len({repr(v) for v in self.values[k]}) > 1]
            which = [which]
        missing = [k for k in which if k not in self.kinds]
        if missing:
            raise KeyError(f"no config key {', '.join(missing)} in these results")
        return list(which)


def load(paths):
    """One DataFrame of summaries, one row per sweep point of every file given (a path or a
    list of paths, concatenated in order).

    Columns: `file` (the path), `point` (the sweep index, int), `label` (str, the swept
    key=value pairs), `display_label` (str, the point's name for plots), every config
    key ("memory.block_size": int64, "workload.rate": float64, "memory.prefix_caching": bool,
    "memory.policy": str; kvlab/keys.py), every summary value (float64, docs/results-format.md's
    order) and `output_digest` (uint64). df.attrs["files"] holds each file's root attributes."""
    pd = _pd()
    files = _files(paths)
    rows = [(rf, p) for rf in files for p in rf.points]
    config = _Config(rows)
    summary = _ordered([n for _, p in rows for n in p.summary], SUMMARY_NAMES)
    data = {
        "file": np.array([rf.path for rf, _ in rows], dtype=object),
        "point": np.array([p.index for _, p in rows], dtype=np.int64),
        "label": np.array([p.label for _, p in rows], dtype=object),
        "display_label": np.array([p.display_label for _, p in rows], dtype=object),
    }
    for key in config.keys:
        data[key] = config.column(key, config.values[key])
    for name in summary:
        data[name] = np.array([p.summary.get(name, np.nan) for _, p in rows], dtype=np.float64)
    if all(p.output_digest is not None for _, p in rows):
        data["output_digest"] = np.array([p.output_digest for _, p in rows], dtype=np.uint64)
    df = pd.DataFrame(data)
    df.attrs["files"] = {rf.path: dict(rf.attrs) for rf in files}
    return df


def _wanted(files, points):
    """[(file, point)] that `points` selects: None (all), a sweep index, a list of them, or a
    DataFrame with a `point` column (and `file`, as load() returns)."""
    rows = [(rf, p) for rf in files for p in rf.points]
    if points is None:
        return rows
    if hasattr(points, "columns") and "point" in getattr(points, "columns", ()):
        if "file" in points.columns:
            where = os.path.abspath
            pairs = {(where(f), int(i)) for f, i in zip(points["file"], points["point"])}
            if pairs and not {f for f, _ in pairs} & {where(rf.path) for rf in files}:
                raise ValueError("points: rows of other files than those given "
                                 f"({', '.join(sorted({f for f, _ in pairs}))}); pass their "
                                 "`point` column, or a list of sweep indices, for these files")
            return [(rf, p) for rf, p in rows if (where(rf.path), p.index) in pairs]
        points = points["point"]
    if isinstance(points, (int, np.integer, str)):
        points = [points]
    wanted = {int(x) for x in points}
    return [(rf, p) for rf, p in rows if p.index in wanted]


def _point_columns(rows, typed, keys, counts):
    """`file`, `point`, `label` and the config `keys` of each (file, point) of `rows`, each
    repeated over that point's `counts` rows: the leading columns of a per-row frame."""
    data = {
        "file": np.repeat(np.array([rf.path for rf, _ in rows], dtype=object), counts),
        "point": np.repeat(np.array([p.index for _, p in rows], dtype=np.int64), counts),
        "label": np.repeat(np.array([p.label for _, p in rows], dtype=object), counts),
    }
    for key in keys:
        data[key] = np.repeat(typed.column(key, typed.values[key]), counts)
    return data


def table(paths, name, points=None, config="all", columns=None):
    """Table `name` ("requests", "steps" or "replicas") of every selected point of every file, one
    DataFrame: `file`, `point`, `label`, the point's config (typed as load() types it), then
    the table's columns as stored (strings as str).

    points: None (all), a sweep index or a list of them, or a DataFrame from load() (its
    rows' points). config: "all" keys, "swept" (those whose values differ between the
    selected points), a list of keys, or None. columns: the table columns to read (default
    all with one entry per row)."""
    pd = _pd()
    files = _files(paths)
    rows = _wanted(files, points)
    typed = _Config(rows)
    keys = typed.select(config)
    tables = [p.columns(name, columns) for _, p in rows]
    counts = np.array([len(next(iter(t.values()))) if t else 0 for t in tables], dtype=np.int64)
    # Each column built once (the point's values repeated over its rows, the tables'
    # columns concatenated): no per-point frames to concatenate.
    data = _point_columns(rows, typed, keys, counts)
    for column in dict.fromkeys(c for t in tables for c in t):
        parts = []
        for t, n in zip(tables, counts):
            if column in t:
                parts.append(t[column])
            elif n:  # a point whose table lacks the column (another version's file)
                parts.append(np.full(n, np.nan))
        data[column] = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return pd.DataFrame(data)


def requests(paths, points=None, config="all", columns=None):
    """Every selected point's per-request table (docs/results-format.md, `requests/`), its
    config joined: see table()."""
    return table(paths, "requests", points=points, config=config, columns=columns)


def steps(paths, points=None, config="all", columns=None):
    """Every selected point's per-step table (docs/results-format.md, `steps/`), its config
    joined: see table(). Empty for files written with output.record_steps = false."""
    return table(paths, "steps", points=points, config=config, columns=columns)


def replicas(paths, points=None, config="all", columns=None):
    """Every selected point's cluster replicas (docs/results-format.md, `replicas/`), one row
    per (point, replica), its config joined: see table(). Columns after the config: `replica`
    (its index), `name` (its [replica.NAME] group, "" when the replicas are alike), `role`
    (mixed, prefill or decode), `hardware`, `memory_policy`, `tensor_parallel`,
    `capacity_slots`, `requests` (routed to it), then every summary value of its own requests
    and steps (float64). A lone engine is one replica. Files written before clusters existed
    have no such table: KeyError naming the file and point."""
    df = table(paths, "replicas", points=points, config=config, columns=columns)
    if columns is not None:
        return df
    # docs/results-format.md's order: who the replica is, then its summary values in load()'s
    # order (HDF5 lists a group's datasets by name)
    lead = [c for c in df.columns if c in ("file", "point", "label") or "." in c]
    who = [c for c in REPLICA_COLUMNS if c in df.columns]
    rest = _ordered([c for c in df.columns if c not in lead and c not in who], SUMMARY_NAMES)
    return df[lead + who + rest]


def itl(paths, points=None, config="all", finished_only=True):
    """Every inter-token latency (requests/itl_s, docs/results-format.md) of every selected
    point, one row per gap: `file`, `point`, `label`, the point's config (see table()),
    `request` (the row of the requests table the gap belongs to), `id` (that request's id)
    and `itl_s`. With finished_only (the default, as the summary's itl_* values), only the
    gaps of requests that finished (outcome 0). Files without ITL columns (written before
    they existed) give no rows."""
    pd = _pd()
    files = _files(paths)
    rows = _wanted(files, points)
    typed = _Config(rows)
    keys = typed.select(config)
    gaps, owners, ids, counts = [], [], [], []
    for _, p in rows:
        have = p.columns("requests", rows_only=False)
        if "itl_s" not in have or "itl_offsets" not in have:
            counts.append(0)
            continue
        values = have["itl_s"]
        offsets = have["itl_offsets"].astype(np.int64)
        per_request = np.diff(offsets)
        owner = np.repeat(np.arange(len(per_request), dtype=np.int64), per_request)
        if finished_only and "outcome" in have:
            keep = have["outcome"][owner] == 0
            values, owner = values[keep], owner[keep]
        gaps.append(values)
        owners.append(owner)
        ids.append(have["id"][owner] if "id" in have else owner)
        counts.append(len(values))
    counts = np.array(counts, dtype=np.int64)
    data = _point_columns(rows, typed, keys, counts)
    data["request"] = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    data["id"] = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    data["itl_s"] = np.concatenate(gaps) if gaps else np.zeros(0, dtype=np.float32)
    return pd.DataFrame(data)
