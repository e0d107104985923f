#!/usr/bin/env python3
"""Checks that two kvlab results files hold the same results.

    compare_h5.py REFERENCE RESULT

Every group and dataset of REFERENCE must exist in RESULT and the other way round; every
dataset must be equal element for element (NaN equal to NaN), and every attribute equal,
except the ones that record the host's time (wall_s) and the root group's provenance (the
command line that wrote the file, and when).
Used by tests/cluster/slurm_test.sh: a sweep run as a Slurm job array and merged must be the
file one `kvlab run` of the whole sweep writes.
"""
import sys

import h5py
import numpy as np

# Attributes that record when or how fast the host ran, not what it computed: wall_s anywhere,
# and the file's provenance (the command line that wrote it and when) on the root group.
HOST_KEYS = {"wall_s"}
ROOT_PROVENANCE = {"command", "created"}


def walk(f):
    names = {}
    f.visititems(lambda name, obj: names.__setitem__(name, obj))
    names["/"] = f
    return names


def equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype.names:
        return all(equal(a[n], b[n]) for n in a.dtype.names)
    return bool(np.array_equal(a, b))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    problems = []
    with h5py.File(sys.argv[1], "r") as ref, h5py.File(sys.argv[2], "r") as res:
        a, b = walk(ref), walk(res)
        for name in sorted(set(a) ^ set(b)):
            problems.append(f"{name}: only in {sys.argv[1] if name in a else sys.argv[2]}")
        datasets = attributes = 0
        for name in sorted(set(a) & set(b)):
            x, y = a[name], b[name]
            if isinstance(x, h5py.Dataset) != isinstance(y, h5py.Dataset):
                problems.append(f"{name}: a dataset in one file only")
                continue
            if isinstance(x, h5py.Dataset):
                datasets += 1
                if not equal(x[()], y[()]):
                    problems.append(f"{name}: dataset differs")
            for key in sorted(set(x.attrs) | set(y.attrs)):
                if key in HOST_KEYS or (name == "/" and key in ROOT_PROVENANCE):
                    continue
                if key not in x.attrs or key not in y.attrs:
                    problems.append(f"{name}: attribute {key} in one file only")
                    continue
                attributes += 1
                if not equal(x.attrs[key], y.attrs[key]):
                    problems.append(f"{name}: attribute {key} = {y.attrs[key]!r}, "
                                    f"reference {x.attrs[key]!r}")
    if problems:
        print(f"{sys.argv[2]} differs from {sys.argv[1]}:")
        for p in problems[:40]:
            print("  " + p)
        if len(problems) > 40:
            print(f"  ... and {len(problems) - 40} more")
        sys.exit(1)
    print(f"{datasets} datasets and {attributes} attributes equal "
          f"(ignoring wall_s and the root's command and created)")


if __name__ == "__main__":
    main()
