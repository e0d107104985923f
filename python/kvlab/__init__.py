"""kvlab result files (docs/results-format.md) in pandas.

    import kvlab
    df = kvlab.load("out.h5")            # one row per sweep point: config (typed) + summary
    req = kvlab.requests("out.h5")       # per-request rows of every point, config joined
    st = kvlab.steps(["a.h5", "b.h5"], points=df[df["memory.policy"] == "paged"])
    gaps = kvlab.itl("out.h5")           # every inter-token latency, one row per gap
    reps = kvlab.replicas("out.h5")      # one row per (point, cluster replica): role, load, summary

Every function takes one path or a list of paths (their rows concatenated, told apart by the
`file` column). Config keys are typed columns (kvlab/keys.py: numbers as int64 / float64,
booleans as bool, names as str). The HDF5 layer underneath (ResultFile, Point: attributes as
Python values, tables as NumPy arrays) needs only h5py and numpy; load, requests, steps, replicas and
table need pandas too.

Importable from the repository with PYTHONPATH=python, or installed with
`pip install -e python/`.
"""

from ._results import FORMAT, FORMATS, Point, ResultError, ResultFile
from ._frames import SUMMARY_NAMES, itl, load, replicas, requests, steps, table
from .keys import KEY_TYPES
from ._style import STYLE, use_style

__version__ = "0.1.0"

__all__ = ["load", "requests", "steps", "replicas", "itl", "table", "ResultFile", "Point", "ResultError",
           "FORMAT", "FORMATS", "KEY_TYPES", "SUMMARY_NAMES", "STYLE", "use_style"]
