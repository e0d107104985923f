"""The HDF5 layer: a result file's attributes and tables as Python values and NumPy arrays
(h5py and numpy only, no pandas: scripts/kvlab_report.py uses it as is)."""

import os

import h5py
import numpy as np

FORMAT = "kvlab-results-2"
# The formats this package reads: -2 types the config attributes, -1 stored them as strings
# (the package types both alike).
FORMATS = ("kvlab-results-1", "kvlab-results-2")

# Attributes of a point group that are neither config (a key with a dot) nor summary.
POINT_ATTRIBUTES = ("label", "display_label", "axes", "axis_labels", "point_index",
                    "output_digest")

# The column every row of a table has, whose length is the table's row count. Other datasets
# of another length (requests/token_ids, ...; workload/bad_row_messages) are not rows.
ROW_COLUMNS = {"requests": "id", "steps": "time_s", "replicas": "replica"}


class ResultError(ValueError):
    """A file that is not a readable kvlab result file; the message starts with its path."""


def text(value):
    """An attribute or dataset element as str (h5py gives bytes for some strings)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return str(value)


def scalar(value):
    """An attribute as a plain Python value: str, int, float or bool."""
    if isinstance(value, (bytes, np.bytes_, str)):
        return text(value)
    if isinstance(value, np.ndarray) and value.shape == ():
        return scalar(value[()])
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_column(dataset):
    """A 1-D dataset as a NumPy array; strings as an object array of str."""
    if h5py.check_string_dtype(dataset.dtype) is not None:
        return np.array(dataset.asstr()[()], dtype=object).reshape(-1)
    data = dataset[()]
    if data.dtype.kind in "OS":
        return np.array([text(v) for v in np.ravel(data)], dtype=object)
    return data


class Point:
    """One sweep point (a /points/NNNN group): label, config, summary, and its tables on demand.

    name: the group's name ("0003"); index: its sweep index (point_index, 3); label: its sweep
    values as key=value; display_label, axes, axis_labels: its name for plots ("Orca (Max),
    rate=2"), the [sweep] axes and its name on each; config: every
    config key as stored (typed in kvlab-results-2: int, float, bool or str; str in
    kvlab-results-1; kvlab.load types both alike); summary: every summary value (float);
    workload: the workload group's attributes; tables: the names of its table groups."""

    def __init__(self, path, name, group):
        self.path = path
        self.name = name
        attrs = {k: scalar(v) for k, v in group.attrs.items()}
        self.label = text(attrs.get("label", ""))
        # The sweep axes and this point's display name on each (files before they existed:
        # none, and the display label is the label).
        self.axes = [text(a) for a in np.ravel(attrs.get("axes", np.array([], dtype=object)))]
        self.axis_labels = [text(a) for a in
                            np.ravel(attrs.get("axis_labels", np.array([], dtype=object)))]
        self.display_label = text(attrs.get("display_label", self.label))
        self.index = int(attrs["point_index"]) if "point_index" in attrs else int(name)
        self.output_digest = attrs.get("output_digest")
        self.config = {}
        self.summary = {}
        for key, value in attrs.items():
            if key in POINT_ATTRIBUTES:
                continue
            if "." in key:
                self.config[key] = value
            else:
                try:
                    self.summary[key] = float(value)
                except (TypeError, ValueError):
                    self.summary[key] = float("nan")
        self.tables = [k for k in group if isinstance(group[k], h5py.Group)]
        self.workload = {}
        if "workload" in group:
            self.workload = {k: scalar(v) for k, v in group["workload"].attrs.items()}
        # output.record_steps = false leaves the step columns empty
        self.has_steps = ("steps" in group and "time_s" in group["steps"]
                          and group["steps"]["time_s"].shape[0] > 0)

    def __repr__(self):
        return f"Point({self.path!r}, {self.name!r}, label={self.label!r})"

    def columns(self, table, names=None, rows_only=True):
        """The datasets of `table` ("requests", "steps", "replicas") as {name: array}. With rows_only,
        only the columns with one entry per row (not requests/token_ids and the like); `names`
        picks columns (KeyError for one the table lacks)."""
        with h5py.File(self.path, "r") as f:
            group = f["points"][self.name]
            if table not in group:
                raise KeyError(f"{self.path}: point {self.name} has no table '{table}'")
            g = group[table]
            datasets = [k for k in g if isinstance(g[k], h5py.Dataset) and g[k].ndim == 1]
            if rows_only and datasets:
                first = ROW_COLUMNS.get(table, datasets[0])
                length = g[first].shape[0] if first in g else g[datasets[0]].shape[0]
                rows = [k for k in datasets if g[k].shape[0] == length]
            else:
                rows = datasets
            if names is not None:
                missing = [n for n in names if n not in rows]
                if missing:
                    raise KeyError(f"{self.path}: {table} of point {self.name} has no column "
                                   f"{', '.join(missing)} (columns: {', '.join(rows)})")
                rows = list(names)
            return {k: read_column(g[k]) for k in rows}


class ResultFile:
    """A kvlab result file, its attributes read up front (the tables are read on demand).

    attrs: the root attributes (format, kvlab_version, created, command, config_path,
    num_points, sweep_size); points: its Point objects in sweep order.

    FileNotFoundError for a missing path; ResultError (a ValueError) for anything that is not
    a kvlab result file, each with a one-line message that starts with the path."""

    def __init__(self, path):
        path = os.fspath(path)
        self.path = path
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        if not os.path.isfile(path):
            raise ResultError(f"{path}: not a file")
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise ResultError(f"{path}: not a readable HDF5 file ({e})") from None
        try:
            with f:
                fmt = text(f.attrs.get("format", ""))
                if fmt not in FORMATS:
                    raise ResultError(f"{path}: not a kvlab result file (format attribute "
                                      f"'{fmt}', expected one of {', '.join(FORMATS)})")
                self.attrs = {k: scalar(v) for k, v in f.attrs.items()}
                if "points" not in f or len(f["points"]) == 0:
                    raise ResultError(f"{path}: the file holds no points")
                self.points = [Point(path, name, f["points"][name]) for name in sorted(f["points"])]
        except (KeyError, OSError, TypeError) as e:  # a damaged or hand-made file
            raise ResultError(f"{path}: unreadable kvlab result file ({e})") from None

    def __repr__(self):
        return f"ResultFile({self.path!r}, {len(self.points)} points)"

    @property
    def stem(self):
        """The file's name without .h5."""
        name = os.path.basename(self.path)
        return name[: -len(".h5")] if name.endswith(".h5") else name

    def point(self, which):
        """A point by its sweep index (3) or group name ("0003")."""
        for p in self.points:
            if p.name == which or (not isinstance(which, str) and p.index == which):
                return p
        if isinstance(which, str) and which.isdigit():
            return self.point(int(which))
        raise KeyError(f"{self.path}: no point {which!r}")
