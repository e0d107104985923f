#!/usr/bin/env python3
"""kvlab beside Vidur on the same requests: one replica, 4 replicas (round robin, least outstanding),
tensor parallel 2 and pipeline parallel 2 (and pp2m1: kvlab's PP 2 with one micro-batch a step) (docs/performance.md, docs/reproduction.md, issue 13).

    VENV/bin/python scripts/vidur_compare.py --peer ../shared/peers/vidur --kvlab build/default/bin/kvlab \
        --work WORK [--requests 2000] [--rate 50] [--configs base,rr4,lor4,tp2,pp2] [--markdown FILE]

VENV is a Python 3.11 virtual environment with the PyPI `vidur` wheel and pandas, WORK a folder where
the peer's make_inputs.py wrote traces/ (the peer's README.md says how to make both). Each
configuration runs the peer's own vidur_run.py (its offline patches, its trace, its predictor and its
TIMING line) with only the cluster changed, in a child process, then kvlab on the peer's
kvlab_vs_vidur.ini with the matching --set keys; each child's CPU time (user + sys) is read from
wait4. Vidur's metrics come from its request_metrics.csv and time series, kvlab's from
--summary-json. Prints a markdown table (and writes it to --markdown).

Vidur's attention profile beside the peer is synthetic and has tensor-parallel-1 rows only, so the
wheel refuses TP > 1 ("Tensor parallel size 2 not found in profile data"). For tp2 this script
derives TP-T rows from the TP-1 rows, every attention time divided by T (each GPU holds 1/T of the
heads: 1/T of the prefill FLOPs and of the decode KV reads), written to WORK/derived/; the MLP
profile (TP 1/2/4/8) and the all-reduce profile (2 and 4 GPUs) are Vidur's own.
"""
import argparse, json, os, runpy, subprocess, sys

# name: (replicas, router, tensor_parallel, pipeline_parallel, kvlab's extra --set keys); Vidur's
# "lor" is its least-outstanding router. pp2m1: Vidur's PP 2 against kvlab's with one micro-batch
# a step (kvlab's default is m = P), which is how Vidur's pipeline ends up running (docs/reproduction.md).
CONFIGS = {
    "base": (1, "round_robin", 1, 1, []),
    "rr4": (4, "round_robin", 1, 1, []),
    "lor4": (4, "least_outstanding", 1, 1, []),
    "tp2": (1, "round_robin", 2, 1, []),
    "pp2": (1, "round_robin", 1, 2, []),
    "pp2m1": (1, "round_robin", 1, 2, ["model.pipeline_microbatches=1"]),
}


def run_child(cmd, env=None):
    """Runs cmd and returns its CPU seconds (user + sys of it and its children)."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"vidur_compare: {' '.join(cmd)} failed (exit {p.returncode}):\n{out[-4000:]}")
    return ru.ru_utime + ru.ru_stime, out


def vidur_child(peer, work, name, n, rate, outdir):
    """In the child process: configure the cluster, then run the peer's vidur_run.py as is."""
    import pandas as pd
    import vidur.config as vc
    import vidur.execution_time_predictor.sklearn_execution_time_predictor as sk
    replicas, router, tp, pp, _ = CONFIGS[name]
    cluster_cls, replica_cls = vc.ClusterConfig, vc.ReplicaConfig
    gs = {"round_robin": vc.RoundRobinGlobalSchedulerConfig, "least_outstanding": vc.LORGlobalSchedulerConfig}[router]

    def cluster(**kw):
        kw.update(num_replicas=replicas, global_scheduler_config=gs())
        return cluster_cls(**kw)

    def replica(**kw):
        kw.update(tensor_parallel_size=tp, num_pipeline_stages=pp)
        return replica_cls(**kw)

    vc.ClusterConfig, vc.ReplicaConfig = cluster, replica
    if tp > 1:
        load_attention = sk.SklearnExecutionTimePredictor._load_attention_df

        def derived_attention(self, path):
            df = pd.read_csv(path)
            if tp not in df["num_tensor_parallel_workers"].unique():
                rows = df[df["num_tensor_parallel_workers"] == 1].copy()
                rows["num_tensor_parallel_workers"] = tp
                for col in [c for c in rows.columns if c.startswith("time_stats.")]:
                    rows[col] = rows[col] / tp
                os.makedirs(os.path.join(work, "derived"), exist_ok=True)
                path = os.path.join(work, "derived", f"attention_tp{tp}.csv")
                pd.concat([df, rows]).to_csv(path, index=False)
            return load_attention(self, path)

        sk.SklearnExecutionTimePredictor._load_attention_df = derived_attention
    os.environ["VIDUR_WORK"] = work
    sys.argv = ["vidur_run.py", str(n), str(rate), outdir]
    runpy.run_path(os.path.join(peer, "vidur_run.py"), run_name="__main__")


def vidur_metrics(outdir):
    import numpy as np, pandas as pd
    runs = sorted(d for d in os.listdir(outdir) if os.path.isdir(os.path.join(outdir, d)))
    d = os.path.join(outdir, runs[-1])
    m = pd.read_csv(os.path.join(d, "request_metrics.csv"))
    arr = pd.read_csv(os.path.join(d, "plots", "request_arrival_time_series.csv"))["Time (sec)"]
    fin = pd.read_csv(os.path.join(d, "plots", "request_completion_time_series.csv"))["Time (sec)"]
    dur = fin.max() - arr.min()
    r = {"duration_s": dur, "req_s": len(m) / dur, "tok_s": m["request_num_decode_tokens"].sum() / dur,
         "preemptions": int(m["request_num_restarts"].sum())}
    for key, col in (("ttft", "prefill_e2e_time"), ("tpot", "decode_time_execution_plus_preemption_normalized"),
                     ("e2el", "request_e2e_time")):
        v = m[col].to_numpy()
        r[f"{key}_mean"], r[f"{key}_p50"], r[f"{key}_p99"] = v.mean(), np.percentile(v, 50), np.percentile(v, 99)
    return r


def kvlab_metrics(summary):
    s = json.load(open(summary))[0]
    r = {"duration_s": s["duration_s"], "req_s": s["throughput_req_s"], "tok_s": s["throughput_tok_s"],
         "preemptions": s["num_preemptions"], "kv_slots": s["kv_capacity_slots"]}
    for key in ("ttft", "tpot", "e2el"):
        for stat in ("mean", "p50", "p99"):
            r[f"{key}_{stat}"] = s[f"{key}_{stat}_s"]
    return r


def markdown_table(rows, requests, rate):
    """rows: (name, Vidur CPU s, Vidur's timing.json, vidur_metrics, kvlab CPU s, kvlab_metrics)."""
    lines = [
        f"{requests} requests at {rate:g} req/s. CPU s: user + sys of the whole process (Vidur's event loop "
        "alone in brackets). Each cell: Vidur / kvlab (kvlab's difference from Vidur). "
        "Latencies in s, TPOT in ms.", "",
        "| config | CPU s Vidur (loop) | CPU s kvlab | CPU ratio | makespan s | req/s | tok/s | KV slots (all replicas) | "
        "preemptions | TTFT mean / p50 / p99 | TPOT ms mean / p50 / p99 | E2E mean / p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(v, k, key, scale=1.0, fmt="{:.1f}"):
        return f"{fmt.format(v[key] * scale)} / {fmt.format(k[key] * scale)} ({(k[key] / v[key] - 1) * 100:+.0f}%)"

    def lat(v, k, key, scale=1.0, fmt="{:.4g}"):
        return "<br>".join(cell(v, k, f"{key}_{s}", scale, fmt) for s in ("mean", "p50", "p99"))

    for name, v_cpu, timing, v, k_cpu, k in rows:
        lines.append(f"| {name} | {v_cpu:.2f} ({timing['run_cpu']:.2f}) | {k_cpu:.3f} | {v_cpu / k_cpu:.0f}x | "
                     f"{cell(v, k, 'duration_s', fmt='{:.0f}')} | {cell(v, k, 'req_s', fmt='{:.2f}')} | "
                     f"{cell(v, k, 'tok_s', fmt='{:.0f}')} | {cell(v, k, 'kv_slots', fmt='{:.0f}')} | "
                     f"{v['preemptions']} / {k['preemptions']} | {lat(v, k, 'ttft')} | "
                     f"{lat(v, k, 'tpot', 1000)} | {lat(v, k, 'e2el')} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", required=True, help="the folder holding vidur_run.py and kvlab_vs_vidur.ini")
    ap.add_argument("--kvlab", required=True, help="the kvlab binary")
    ap.add_argument("--work", required=True, help="the folder holding traces/ (make_inputs.py)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--configs", default="base,rr4,lor4,tp2,pp2")
    ap.add_argument("--markdown", help="also write the table here")
    ap.add_argument("--vidur-child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    peer, work = os.path.abspath(a.peer), os.path.abspath(a.work)
    if a.vidur_child:
        return vidur_child(peer, work, a.vidur_child, a.requests, a.rate,
                           os.path.join(work, "out", f"vidur_{a.vidur_child}_{a.requests}_{a.rate:g}"))
    names = a.configs.split(",")
    for name in names:
        if name not in CONFIGS:
            sys.exit(f"vidur_compare: --configs: unknown configuration '{name}' (known: {', '.join(CONFIGS)})")
    trace = os.path.join(work, "traces", "sharegpt_clip4096_vidur_order.csv")
    if not os.path.exists(trace):
        sys.exit(f"vidur_compare: {trace} is missing: run {peer}/make_inputs.py in {work} first")
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    rows = []
    for name in names:
        replicas, router, tp, pp, extra = CONFIGS[name]
        outdir = os.path.join(work, "out", f"vidur_{name}_{a.requests}_{a.rate:g}")
        v_cpu, _ = run_child([sys.executable, os.path.abspath(__file__), "--peer", peer, "--kvlab", a.kvlab,
                              "--work", work, "--requests", str(a.requests), "--rate", str(a.rate),
                              "--vidur-child", name])
        timing = json.load(open(os.path.join(outdir, "timing.json")))
        v = vidur_metrics(outdir)
        v["kv_slots"] = int(timing["num_blocks"]) * 16 * replicas  # Vidur: per replica; kvlab: the fleet
        summary = os.path.join(work, "out", f"kvlab_{name}_{a.requests}_{a.rate:g}.json")
        k_cpu, _ = run_child([a.kvlab, "run", os.path.join(peer, "kvlab_vs_vidur.ini"), "--quiet",
                              "--set", f"workload.trace={trace}", "--set", f"workload.num_requests={a.requests}",
                              "--set", f"workload.rate={a.rate:g}", "--set", f"cluster.replicas={replicas}",
                              "--set", f"cluster.router={router}", "--set", f"model.tensor_parallel={tp}",
                              "--set", f"model.pipeline_parallel={pp}",
                              *[arg for kv in extra for arg in ("--set", kv)], "--out",
                              os.path.join(work, "out", f"kvlab_{name}_{a.requests}_{a.rate:g}.h5"), "--summary-json", summary])
        k = kvlab_metrics(summary)
        rows.append((name, v_cpu, timing, v, k_cpu, k))
        print(f"[vidur_compare] {name}: Vidur {v_cpu:.2f} CPU s (event loop {timing['run_cpu']:.2f}), "
              f"kvlab {k_cpu:.3f} CPU s", file=sys.stderr, flush=True)
    text = markdown_table(rows, a.requests, a.rate)
    print(text)
    if a.markdown:
        open(a.markdown, "w").write(text)


if __name__ == "__main__":
    main()
