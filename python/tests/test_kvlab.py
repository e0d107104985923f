"""Tests of the kvlab Python package (python/kvlab), with unittest (no pytest needed):

    KVLAB_BIN=build/default/bin/kvlab PYTHONPATH=python python3 -m unittest discover -s python/tests -v

The tests that read real results run the kvlab binary $KVLAB_BIN on a small experiment written
here (a sweep of a float, an int and a bool key) and check the DataFrames against the file read
directly with h5py and against the run's --summary-json; without KVLAB_BIN they are skipped
(ctest always sets it: tests/reports/CMakeLists.txt, reports.python_package). The rest use small
hand-made files.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

import kvlab  # noqa: E402
from kvlab import keys  # noqa: E402

KVLAB_BIN = os.environ.get("KVLAB_BIN")

EXPERIMENT = """
[workload]
arrival = poisson
rate = 4
num_requests = {requests}
prompt_len = uniform:16:300
output_len = uniform:4:80
seed = 3

[model]
name = llama-2-7b

[hardware]
name = a100-40gb

[memory]
policy = paged

[sweep]
workload.rate = 2, 8.5
memory.prefix_caching = false, yes
memory.block_size = 8, 16
"""
SWEEP_POINTS = 8
SWEEP_REQUESTS = 30
SINGLE_REQUESTS = 12


def run_kvlab(*args):
    done = subprocess.run([KVLAB_BIN] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    if done.returncode != 0:
        raise AssertionError(f"kvlab {' '.join(args)} failed ({done.returncode}):\n{done.stdout}")


def is_nan(x):
    return isinstance(x, float) and math.isnan(x)


@unittest.skipUnless(KVLAB_BIN, "KVLAB_BIN (the kvlab binary) is not set")
class RealResults(unittest.TestCase):
    """Results the kvlab binary writes: an 8-point sweep and a single point without steps."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kvlab_python_test_")
        ini = os.path.join(cls.dir, "sweep.ini")
        with open(ini, "w") as f:
            f.write(EXPERIMENT.format(requests=SWEEP_REQUESTS))
        cls.sweep = os.path.join(cls.dir, "sweep.h5")
        cls.sweep_json = os.path.join(cls.dir, "sweep.json")
        run_kvlab("run", ini, "--out", cls.sweep, "--summary-json", cls.sweep_json)
        cls.single = os.path.join(cls.dir, "single.h5")
        run_kvlab("run", ini, "--set", "sweep.workload.rate=3", "--set", "sweep.memory.prefix_caching=false",
                  "--set", "sweep.memory.block_size=32", "--set", f"workload.num_requests={SINGLE_REQUESTS}",
                  "--set", "output.record_steps=false", "--out", cls.single)
        with open(cls.sweep_json) as f:
            cls.summaries = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_load_one_row_per_point(self):
        df = kvlab.load(self.sweep)
        self.assertEqual(len(df), SWEEP_POINTS)
        self.assertEqual(list(df["point"]), list(range(SWEEP_POINTS)))
        self.assertEqual(list(df.columns[:3]), ["file", "point", "label"])
        self.assertTrue((df["file"] == self.sweep).all())
        self.assertEqual(df.attrs["files"][self.sweep]["format"], kvlab.FORMAT)

    def test_config_columns_are_typed(self):
        df = kvlab.load(self.sweep)
        self.assertEqual(df["workload.rate"].dtype, np.float64)
        self.assertEqual(sorted(df["workload.rate"].unique()), [2.0, 8.5])
        self.assertEqual(df["memory.block_size"].dtype, np.int64)
        self.assertEqual(sorted(df["memory.block_size"].unique()), [8, 16])
        self.assertEqual(df["workload.num_requests"].dtype, np.int64)
        self.assertEqual(df["hardware.gpu_memory_utilization"].dtype, np.float64)
        # "yes" in the experiment: a bool
        self.assertEqual(df["memory.prefix_caching"].dtype, np.bool_)
        self.assertEqual(sorted(df["memory.prefix_caching"].unique()), [False, True])
        self.assertEqual(df["output.record_steps"].dtype, np.bool_)
        for key in ("memory.policy", "model.name", "hardware.name", "label", "workload.prompt_len"):
            self.assertEqual(df[key].dtype, object, key)
            self.assertTrue(all(type(v) is str for v in df[key]), key)
        self.assertEqual(set(df["memory.policy"]), {"paged"})
        self.assertEqual(set(df["workload.prompt_len"]), {"uniform:16:300"})
        # every key the file holds is a column, with the kind the schema gives it
        for key, kind in kvlab.KEY_TYPES.items():
            if key in df:
                want = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": object}[kind]
                self.assertEqual(df[key].dtype, want, key)

    def test_load_matches_summary_json(self):
        df = kvlab.load(self.sweep).set_index("point")
        self.assertEqual(len(self.summaries), SWEEP_POINTS)
        for s in self.summaries:
            row = df.loc[s["point"]]
            self.assertEqual(row["label"], s["label"])
            for name, value in s.items():
                if name in ("point", "label", "config", "output_digest"):
                    continue
                got = row[name]
                if value is None:
                    self.assertTrue(math.isnan(got), name)
                else:
                    self.assertEqual(got, value, name)
            for key, text in s["config"].items():
                kind = kvlab.KEY_TYPES.get(key, "str")
                want = {"int": int, "float": float, "str": str,
                        "bool": lambda t: t in keys.TRUE}[kind](text)
                self.assertEqual(row[key], want, key)

    def test_load_a_list_of_paths(self):
        df = kvlab.load([self.sweep, self.single])
        self.assertEqual(len(df), SWEEP_POINTS + 1)
        self.assertEqual(list(df["file"]), [self.sweep] * SWEEP_POINTS + [self.single])
        one = df[df["file"] == self.single].iloc[0]
        self.assertEqual(one["memory.block_size"], 32)
        self.assertEqual(one["workload.rate"], 3.0)
        self.assertEqual(one["num_requests"], SINGLE_REQUESTS)
        self.assertEqual(df["workload.rate"].dtype, np.float64)
        self.assertEqual(df["memory.prefix_caching"].dtype, np.bool_)

    def direct(self, path, point, table):
        with h5py.File(path, "r") as f:
            g = f["points"][f"{point:04d}"][table]
            return {k: g[k][()] for k in g}

    def test_requests_with_config_joined(self):
        points = kvlab.load(self.sweep)
        req = kvlab.requests(self.sweep)
        self.assertEqual(len(req), SWEEP_POINTS * SWEEP_REQUESTS)
        self.assertEqual(req["memory.block_size"].dtype, np.int64)
        self.assertEqual(req["workload.rate"].dtype, np.float64)
        self.assertEqual(req["memory.prefix_caching"].dtype, np.bool_)
        self.assertTrue(all(type(v) is str for v in req["reject_reason"]))
        self.assertNotIn("token_ids", req)  # not one entry per request
        for _, p in points.iterrows():
            rows = req[req["point"] == p["point"]]
            self.assertEqual(len(rows), p["num_requests"])
            for key in ("label", "memory.block_size", "workload.rate", "memory.prefix_caching"):
                self.assertTrue((rows[key] == p[key]).all(), key)
            raw = self.direct(self.sweep, p["point"], "requests")
            for name, values in raw.items():
                if name.startswith("token_") or name.startswith("itl_"):
                    self.assertNotIn(name, rows)  # not one entry per request
                    continue
                if values.dtype.kind in "OS":
                    values = [v.decode() if isinstance(v, bytes) else v for v in values]
                np.testing.assert_array_equal(rows[name].to_numpy(), values, err_msg=name)
            self.assertEqual(int((rows["outcome"] == 0).sum()), p["num_finished"])

    def test_itl_gaps_match_the_summary(self):
        points = kvlab.load(self.sweep)
        gaps = kvlab.itl(self.sweep, config="swept")
        self.assertEqual(list(gaps.columns)[:3], ["file", "point", "label"])
        self.assertEqual(gaps["itl_s"].dtype, np.float32)
        everything = kvlab.itl(self.sweep, finished_only=False, config=None)
        self.assertGreaterEqual(len(everything), len(gaps))
        for _, p in points.iterrows():
            mine = gaps[gaps["point"] == p["point"]]
            raw = self.direct(self.sweep, p["point"], "requests")
            offsets = raw["itl_offsets"]
            self.assertEqual(int((everything["point"] == p["point"]).sum()), offsets[-1])
            finished = raw["outcome"] == 0
            # a finished request's gaps: one fewer than its tokens, per sample
            want = int(np.diff(offsets)[finished].sum())
            self.assertEqual(len(mine), want)
            self.assertTrue(set(mine["request"]) <= set(np.flatnonzero(finished)))
            np.testing.assert_array_equal(mine["id"], raw["id"][mine["request"]])
            values = mine["itl_s"].to_numpy(dtype=np.float64)
            if len(values) == 0:
                self.assertTrue(math.isnan(p["itl_p99_s"]))
                continue
            self.assertAlmostEqual(np.quantile(values, 0.99), p["itl_p99_s"], places=6)
            self.assertAlmostEqual(np.quantile(values, 0.5), p["itl_p50_s"], places=6)
            self.assertAlmostEqual(values.mean(), p["itl_mean_s"], places=6)
        one = kvlab.itl(self.sweep, points=[2], config=["memory.block_size"])
        self.assertEqual(set(one["point"]), {2})
        self.assertIn("memory.block_size", one)

    def test_steps_selection(self):
        points = kvlab.load(self.sweep)
        steps = kvlab.steps(self.sweep)
        self.assertEqual(len(steps), int(points["num_steps"].sum()))
        paged8 = points[points["memory.block_size"] == 8]
        some = kvlab.steps(self.sweep, points=paged8, config="swept")
        self.assertEqual(sorted(some["point"].unique()), sorted(paged8["point"]))
        self.assertEqual(len(some), int(paged8["num_steps"].sum()))
        swept = [c for c in some.columns if "." in c]
        self.assertEqual(sorted(swept), ["memory.prefix_caching", "workload.rate"])
        by_index = kvlab.steps(self.sweep, points=[1, 3], config=["memory.block_size"],
                               columns=["time_s", "kv_free"])
        self.assertEqual(list(by_index.columns),
                         ["file", "point", "label", "memory.block_size", "time_s", "kv_free"])
        raw = self.direct(self.sweep, 3, "steps")
        np.testing.assert_array_equal(by_index[by_index["point"] == 3]["kv_free"], raw["kv_free"])
        none = kvlab.steps(self.sweep, points=[1], config=None)
        self.assertEqual(list(none.columns[:4]), ["file", "point", "label", "batch_size"])

    def test_without_steps(self):
        steps = kvlab.steps(self.single)
        self.assertEqual(len(steps), 0)
        self.assertIn("memory.block_size", steps)
        self.assertEqual(steps["memory.block_size"].dtype, np.int64)
        req = kvlab.requests([self.single, self.sweep], points=[0])
        self.assertEqual(len(req), SINGLE_REQUESTS + SWEEP_REQUESTS)

    def test_result_file_layer(self):
        rf = kvlab.ResultFile(self.sweep)
        self.assertEqual(rf.stem, "sweep")
        self.assertEqual(len(rf.points), SWEEP_POINTS)
        p = rf.point(5)
        self.assertIs(rf.point("0005"), p)
        self.assertEqual(p.name, "0005")
        # as stored: kvlab-results-2 types the config attributes
        self.assertIsInstance(p.config["workload.rate"], float)
        self.assertIsInstance(p.config["memory.block_size"], int)
        self.assertIsInstance(p.config["memory.prefix_caching"], bool)
        self.assertIsInstance(p.config["memory.policy"], str)
        with h5py.File(self.sweep, "r") as f:
            attrs = f["points"]["0005"].attrs
            self.assertEqual(attrs["memory.block_size"].dtype, np.int64)
            self.assertEqual(attrs["workload.rate"].dtype, np.float64)
            self.assertEqual(attrs["memory.prefix_caching"].dtype, np.bool_)
            self.assertEqual(attrs["memory.policy"], "paged")
        self.assertIsInstance(p.summary["num_requests"], float)
        self.assertTrue(p.has_steps)
        self.assertEqual(p.workload["source"], "synthetic")
        # the simulator writes no token columns; its only columns of another length are the
        # inter-token latencies and their offsets (one more than rows)
        self.assertEqual(set(p.columns("requests", rows_only=False)) - set(p.columns("requests")),
                         {"itl_s", "itl_offsets"})
        self.assertFalse(kvlab.ResultFile(self.single).points[0].has_steps)


CLUSTER = """
[workload]
arrival = poisson
rate = 30
num_requests = {requests}
prompt_len = uniform:64:1024
output_len = uniform:2:120
seed = 5

[model]
name = llama-2-7b

[hardware]
name = a100-80gb

[memory]
policy = paged
capacity_slots = 20000

{cluster}

[sweep]
workload.rate = 20, 60
"""
MIXED = "[cluster]\nreplicas = 3\nrouter = power_of_two"
DISAGGREGATED = ("[cluster]\ndecode_router = least_kv\n[replica.p]\nrole = prefill\ncount = 1\n"
                 "[replica.d]\nrole = decode\ncount = 2\nmemory.capacity_slots = 30000")
CLUSTER_REQUESTS = 40


@unittest.skipUnless(KVLAB_BIN, "KVLAB_BIN (the kvlab binary) is not set")
class ClusterResults(unittest.TestCase):
    """Two 2-point sweeps of clusters: three mixed replicas, and one prefill replica with two
    decode replicas of another capacity; the replicas table and the replica columns of the
    requests and steps tables."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kvlab_python_cluster_")
        cls.files = {}
        for name, cluster in (("mixed", MIXED), ("disaggregated", DISAGGREGATED)):
            ini = os.path.join(cls.dir, name + ".ini")
            with open(ini, "w") as f:
                f.write(CLUSTER.format(requests=CLUSTER_REQUESTS, cluster=cluster))
            cls.files[name] = os.path.join(cls.dir, name + ".h5")
            run_kvlab("run", ini, "--out", cls.files[name])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def direct(self, path, point, table):
        with h5py.File(path, "r") as f:
            g = f["points"][f"{point:04d}"][table]
            return {k: g[k][()] for k in g}

    def test_one_row_per_point_and_replica(self):
        path = self.files["mixed"]
        points = kvlab.load(path)
        reps = kvlab.replicas(path)
        self.assertEqual(len(reps), 2 * 3)
        self.assertEqual(list(reps.columns[:3]), ["file", "point", "label"])
        self.assertEqual(reps["workload.rate"].dtype, np.float64)
        self.assertEqual(reps["replica"].dtype, np.int32)
        self.assertEqual(reps["capacity_slots"].dtype, np.int64)
        self.assertEqual(reps["throughput_tok_s"].dtype, np.float64)
        for column in ("name", "role", "hardware", "memory_policy"):
            self.assertTrue(all(type(v) is str for v in reps[column]), column)
        self.assertEqual(set(reps["role"]), {"mixed"})
        self.assertEqual(set(reps["name"]), {""})
        self.assertEqual(set(reps["hardware"]), {"a100-80gb"})
        self.assertEqual(set(reps["capacity_slots"]), {20000})
        req = kvlab.requests(path, config=None)
        steps = kvlab.steps(path, config=None)
        for _, p in points.iterrows():
            mine = reps[reps["point"] == p["point"]]
            self.assertEqual(list(mine["replica"]), [0, 1, 2])
            self.assertTrue((mine["workload.rate"] == p["workload.rate"]).all())
            self.assertTrue((mine["label"] == p["label"]).all())
            # every request is routed once, and each replica's summary is its own rows'
            self.assertEqual(int(mine["requests"].sum()), p["num_requests"])
            self.assertTrue((mine["requests"] > 0).all())
            r = req[req["point"] == p["point"]]
            s = steps[steps["point"] == p["point"]]
            for _, one in mine.iterrows():
                self.assertEqual(int((r["replica"] == one["replica"]).sum()), one["requests"])
                self.assertEqual(one["num_requests"], one["requests"])
                self.assertEqual(int((s["replica"] == one["replica"]).sum()), one["num_steps"])
            self.assertEqual(mine["num_finished"].sum(), p["num_finished"])
            self.assertEqual(mine["generated_tokens"].sum(), p["generated_tokens"])
            self.assertEqual(mine["kv_capacity_slots"].sum(), p["kv_capacity_slots"])
            self.assertTrue((r["prefill_replica"] == -1).all())
            self.assertTrue((r["kv_transfer_s"] == 0).all())
            # as stored
            raw = self.direct(path, p["point"], "replicas")
            for name, values in raw.items():
                if values.dtype.kind in "OS":
                    values = [v.decode() if isinstance(v, bytes) else v for v in values]
                np.testing.assert_array_equal(mine[name].to_numpy(), values, err_msg=name)
        self.assertNotIn("wall_s", reps)

    def test_disaggregated_replicas_and_transfers(self):
        path = self.files["disaggregated"]
        every = kvlab.replicas(path, config="swept")
        self.assertEqual(list(every.columns[:12]),
                         ["file", "point", "label", "workload.rate", "replica", "name", "role",
                          "hardware", "memory_policy", "tensor_parallel", "capacity_slots",
                          "requests"])
        self.assertEqual(list(every.columns[12:15]),
                         ["num_requests", "duration_s", "throughput_req_s"])
        reps = kvlab.replicas(path, points=[1], config=None)
        self.assertEqual(list(reps["role"]), ["prefill", "decode", "decode"])
        self.assertEqual(list(reps["name"]), ["p", "d", "d"])
        self.assertEqual(list(reps["capacity_slots"]), [20000, 30000, 30000])
        import pandas.testing
        pandas.testing.assert_frame_equal(
            reps.reset_index(drop=True),
            every[every["point"] == 1].drop(columns="workload.rate").reset_index(drop=True))
        req = kvlab.requests(path, points=[1], columns=["id", "output_len", "replica",
                                                        "prefill_replica", "kv_transfer_s"])
        self.assertEqual(len(req), CLUSTER_REQUESTS)
        self.assertEqual(req["kv_transfer_s"].dtype, np.float64)
        self.assertTrue((req["prefill_replica"] == 0).all())
        decoded = req[req["output_len"] > 1]
        self.assertTrue(len(decoded) > 0)
        self.assertTrue(set(decoded["replica"]) <= {1, 2})
        self.assertTrue((decoded["kv_transfer_s"] > 0).all())
        # the prefill replica takes every request; each decode replica those it decodes
        self.assertEqual(int(reps["requests"][0]), CLUSTER_REQUESTS)
        for i in (1, 2):
            self.assertEqual(int(reps["requests"][i]), int((decoded["replica"] == i).sum()))
        self.assertEqual(reps["generated_tokens"][0], CLUSTER_REQUESTS)
        steps = kvlab.steps(path, points=[1], config=None, columns=["replica", "prefill_tokens",
                                                                   "decode_tokens"])
        self.assertEqual(set(steps["replica"]), {0, 1, 2})
        # the prefill replica computes every prompt and no decode; a decode replica computes no
        # prompt, only the one token each request arrives with (its first output token's KV)
        prefill = steps[steps["replica"] == 0]
        self.assertEqual(int(prefill["decode_tokens"].sum()), 0)
        self.assertEqual(int(steps[steps["replica"] > 0]["prefill_tokens"].sum()), len(decoded))
        both = kvlab.replicas([self.files["mixed"], path], config=None)
        self.assertEqual(len(both), 2 * 3 + 2 * 3)
        self.assertEqual(set(both["file"]), {self.files["mixed"], path})


def write_result(path, points, fmt=kvlab.FORMAT):
    """A hand-made result file: points is a list of {attribute: value}; each gets a small
    requests table (with a token column of another length) and a steps table."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = fmt
        f.attrs["num_points"] = len(points)
        g = f.create_group("points")
        for i, attrs in enumerate(points):
            p = g.create_group(f"{i:04d}")
            p.attrs["point_index"] = np.int64(i)
            p.attrs["label"] = f"point {i}"
            for k, v in attrs.items():
                p.attrs[k] = v
            r = p.create_group("requests")
            r["id"] = np.arange(3, dtype=np.int64)
            r["arrival_s"] = np.array([0.0, 0.5, 1.0])
            r.create_dataset("reject_reason", data=["", "too long", ""],
                             dtype=h5py.string_dtype())
            r["token_ids"] = np.arange(7, dtype=np.int32)
            s = p.create_group("steps")
            s["time_s"] = np.array([0.0, 0.1]) + i
            s["batch_size"] = np.array([1, 2], dtype=np.int32)


class HandMadeFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kvlab_python_test_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_reads_the_older_format(self):
        # kvlab-results-1 stored config attributes as text; typed the same way on loading
        path = self.path("v1.h5")
        write_result(path, [{"workload.rate": "2.5", "memory.block_size": "16",
                             "memory.prefix_caching": "true", "num_requests": 3.0}],
                     fmt="kvlab-results-1")
        df = kvlab.load(path)
        self.assertEqual(df["workload.rate"].dtype, np.float64)
        self.assertEqual(df["memory.block_size"].dtype, np.int64)
        self.assertEqual(list(df["memory.prefix_caching"]), [True])
        self.assertEqual(kvlab.FORMATS, ("kvlab-results-1", kvlab.FORMAT))

    def test_typing(self):
        path = self.path("typed.h5")
        write_result(path, [
            {"workload.rate": "1", "memory.block_size": "16", "memory.prefix_caching": "on",
             "memory.policy": np.bytes_(b"paged"), "custom.ratio": "0.5", "custom.count": "3",
             "custom.flag": "true", "custom.name": "a", "custom.mixed": "12",
             "num_requests": 3.0},
            # as a writer that types its attributes would store them
            {"workload.rate": np.float64(2.5), "memory.block_size": np.int64(32),
             "memory.prefix_caching": np.bool_(False), "memory.policy": "contiguous",
             "custom.ratio": "2", "custom.count": "-4", "custom.flag": "false",
             "custom.name": "7", "custom.mixed": "x", "num_requests": 3.0},
        ])
        df = kvlab.load(path)
        self.assertEqual(list(df["workload.rate"]), [1.0, 2.5])
        self.assertEqual(df["workload.rate"].dtype, np.float64)
        self.assertEqual(list(df["memory.block_size"]), [16, 32])
        self.assertEqual(df["memory.block_size"].dtype, np.int64)
        self.assertEqual(list(df["memory.prefix_caching"]), [True, False])
        self.assertEqual(list(df["memory.policy"]), ["paged", "contiguous"])
        self.assertIs(type(df["memory.policy"][0]), str)
        # keys the schema does not list: inferred from every point's value
        self.assertEqual(df["custom.ratio"].dtype, np.float64)
        self.assertEqual(df["custom.count"].dtype, np.int64)
        self.assertEqual(list(df["custom.count"]), [3, -4])
        self.assertEqual(df["custom.flag"].dtype, np.bool_)
        self.assertEqual(list(df["custom.name"]), ["a", "7"])
        self.assertEqual(list(df["custom.mixed"]), ["12", "x"])
        self.assertEqual(list(df["point"]), [0, 1])
        self.assertNotIn("output_digest", df)  # not in these files

    def test_files_of_different_keys(self):
        a, b = self.path("a.h5"), self.path("b.h5")
        write_result(a, [{"memory.block_size": "16", "memory.policy": "paged", "new.key": "1"}])
        write_result(b, [{"memory.block_size": "8", "memory.policy": "paged"}])
        df = kvlab.load([a, b])
        self.assertEqual(list(df["memory.block_size"]), [16, 8])
        self.assertEqual(df["new.key"].dtype, np.float64)  # a missing int: NaN
        self.assertTrue(math.isnan(df["new.key"][1]))
        req = kvlab.requests([a, b])
        self.assertEqual(len(req), 6)
        self.assertEqual(list(req["reject_reason"][:3]), ["", "too long", ""])
        self.assertNotIn("token_ids", req)
        point = kvlab.ResultFile(a).point(0)
        self.assertEqual(len(point.columns("requests", rows_only=False)["token_ids"]), 7)
        steps = kvlab.steps([a, b], points=df[df["file"] == b])
        self.assertEqual(list(steps["file"]), [b, b])
        # the same file by another name
        other = os.path.join(self.dir, ".", "b.h5")
        self.assertEqual(len(kvlab.steps(other, points=df[df["file"] == b])), 2)
        with self.assertRaisesRegex(ValueError, "rows of other files"):
            kvlab.steps(a, points=df[df["file"] == b])
        self.assertEqual(list(kvlab.steps(a, points=df[df["file"] == b]["point"])["point"]), [0, 0])
        self.assertEqual(list(steps["memory.block_size"]), [8, 8])
        with self.assertRaises(KeyError):
            kvlab.steps(a, config=["memory.no_such_key"])
        with self.assertRaises(KeyError):
            kvlab.steps(a, columns=["no_such_column"])
        # written before clusters: no replicas table, said with the file and point
        with self.assertRaisesRegex(KeyError, "point 0000 has no table 'replicas'"):
            kvlab.replicas(a)

    def test_errors(self):
        with self.assertRaises(FileNotFoundError) as e:
            kvlab.load(self.path("missing.h5"))
        self.assertEqual(str(e.exception), self.path("missing.h5") + ": no such file")
        text = self.path("text.h5")
        with open(text, "w") as f:
            f.write("not hdf5\n")
        with self.assertRaisesRegex(kvlab.ResultError, "^" + text + ": not a readable HDF5 file"):
            kvlab.load(text)
        other = self.path("other.h5")
        write_result(other, [{"memory.policy": "paged"}], fmt="something-else")
        with self.assertRaisesRegex(kvlab.ResultError, "not a kvlab result file"):
            kvlab.requests(other)
        empty = self.path("empty.h5")
        with h5py.File(empty, "w") as f:
            f.attrs["format"] = kvlab.FORMAT
        with self.assertRaisesRegex(kvlab.ResultError, "holds no points"):
            kvlab.load(empty)
        with self.assertRaisesRegex(kvlab.ResultError, "not a file"):
            kvlab.load(self.dir)
        with self.assertRaises(ValueError):
            kvlab.load([])


class KeyTypes(unittest.TestCase):
    def test_parse_markdown(self):
        table = ("| key | values | default | meaning | declared by |\n|---|---|---|---|---|\n"
                 "| `a.int` | an integer >= 0 | `0` | x | y |\n"
                 "| `a.num` | a number in (0, 1] | `1.0` | x \\| y | z |\n"
                 "| `a.flag` | true \\| false | `false` | x | y |\n"
                 "| `a.pick` | `one` \\| `two` | `one` | x | y |\n"
                 "| `a.text` | text | \"\" | x | y |\n")
        self.assertEqual(keys.key_types_from_markdown(table),
                         {"a.int": "int", "a.num": "float", "a.flag": "bool", "a.pick": "str",
                          "a.text": "str"})

    def test_generated_table_is_docs_config(self):
        """kvlab/_key_types.py is what docs/config.md's key tables (checked against the binary
        by e2e_config_keys_doc_test) say; regenerate it with scripts/update_generated_docs.sh."""
        doc = os.path.join(ROOT, "docs", "config.md")
        if not os.path.exists(doc):
            self.skipTest("not run from the repository")
        with open(doc, encoding="utf-8") as f:
            from_doc = keys.key_types_from_markdown(f.read())
        self.assertTrue(from_doc)
        self.assertEqual(kvlab.KEY_TYPES, from_doc,
                         "python/kvlab/_key_types.py is stale: run "
                         "`python3 python/kvlab/keys.py docs/config.md > "
                         "python/kvlab/_key_types.py` (scripts/update_generated_docs.sh does)")

    def test_bool_values_kvlab_accepts(self):
        self.assertEqual(keys.type_column("workload.multi_turn", ["1", "off", "yes"]),
                         ("bool", [True, False, True]))
        self.assertEqual(keys.type_column("x.y", ["nan", "1"]), ("str", ["nan", "1"]))
        self.assertEqual(keys.type_column("x.y", ["1e3", "2"]), ("float", [1000.0, 2.0]))
        self.assertEqual(keys.type_column("x.y", [None, "2"]), ("int", [None, 2]))


if __name__ == "__main__":
    unittest.main()
