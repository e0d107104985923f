#include "app/experiment_keys.h"

#include "core/cost_model.h"
#include "core/executor.h"
#include "core/kv_cache_manager.h"
#include "core/router.h"
#include "core/model_spec.h"
#include "core/request.h"
#include "core/scheduler.h"
#include "core/workload.h"

namespace kvlab {

std::vector<KeySpec> experiment_keys() {
  return {
      // [workload]
      string_key("workload.trace", "",
                 "trace file (relative to the config file); empty: synthetic"),
      choice_key(
          "workload.format", "auto", [] { return trace_readers().names(); }, "trace format",
          "trace format (kvlab list formats); auto detects it"),
      string_key("workload.columns", "",
                 "formats csv and jsonl (any CSV or JSONL trace): which columns (keys) hold the "
                 "arrival time, prompt and output lengths, as 'arrival:NAME, prompt:NAME, "
                 "output:NAME' (names may hold spaces; arrival optional: without it, arrivals "
                 "come from workload.arrival); set, format auto picks csv or jsonl"),
      choice_key("workload.arrival_unit", "s", {"s", "ms", "us"},
                 "unit of the arrival column of workload.columns: seconds, milliseconds or "
                 "microseconds"),
      choice_key("workload.arrival", "trace", {"trace", "poisson", "gamma", "burst"},
                 "arrival process: the trace's timestamps, or generated"),
      // Upper bounds keep every derived time and size finite (1e300 would overflow them).
      float_key("workload.rate", "1.0", 0.0, 1e9,
                "requests per second for poisson / gamma arrivals", true),
      float_key("workload.burstiness", "1.0", 0.0, 1e6, "gamma shape (1 = poisson, < 1 burstier)",
                true),
      float_key("workload.time_scale", "1.0", 0.0, 1e6, "multiplies trace inter-arrival times",
                true),
      int_key("workload.num_requests", 0, 0, kUnbounded,
              "requests to take from the trace (0: all)"),
      int_key("workload.seed", 0, 0, kUnbounded,
              "seed for arrivals, sampling and synthetic lengths"),
      string_key("workload.prompt_len", "512",
                 "synthetic prompt length: N | uniform:A:B | lognormal:MU:SIGMA"),
      string_key("workload.output_len", "128",
                 "synthetic output length: N | uniform:A:B | lognormal:MU:SIGMA"),
      int_key("workload.max_prompt_len", 0, 0, kUnbounded,
              "filter out requests with longer prompts (0: off)"),
      int_key("workload.max_total_len", 0, 0, kUnbounded,
              "filter out requests with longer prompt + output (0: off)"),
      choice_key("workload.on_bad_row", "fail", {"fail", "skip"},
                 "malformed trace rows: fail, or skip (counted and reported)"),
      int_key("workload.n", 1, 1, kMaxSamples, "parallel samples per request (shared prompt)"),
      int_key("workload.shared_prefix_len", 0, 0, kInt32Max,
              "tokens of a system prompt every prompt starts with (its first min(this, "
              "prompt_len) tokens), shared for prefix caching within a group (0: none; not "
              "with a trace's own hash_ids)"),
      int_key("workload.shared_prefix_groups", 1, 1, kInt32Max,
              "distinct system prompts: the i-th request (conversation) in arrival order uses "
              "prompt i % groups"),
      bool_key("workload.multi_turn", false,
               "ShareGPT JSON (sharegpt-json): every turn of a conversation is a request whose "
               "prompt is the conversation so far; it arrives after the previous turn ends"),
      float_key("workload.think_time_s", "5.0", 0.0, 1e6,
                "multi_turn: mean of the exponential pause between a turn's end and the next "
                "turn's arrival (seeded by workload.seed; 0: at once)"),
      // [model]
      choice_key(
          "model.name", "llama-2-7b", [] { return model_catalog().names(); }, "model",
          "model shape (kvlab list models)"),
      int_key("model.max_seq_len", 0, 0, kInt32Max, "context window (0: the model's)"),
      int_key("model.tensor_parallel", 1, 1, kInt32Max,
              "GPUs each layer is split across (tensor parallelism, within a node); on the cpu "
              "back end, rank threads (docs/parallelism.md)"),
      int_key("model.pipeline_parallel", 1, 1, kInt32Max,
              "pipeline stages the layers are split across, each on model.tensor_parallel GPUs "
              "(the first layers % stages stages take one more layer; docs/parallelism.md)"),
      int_key("model.pipeline_microbatches", 0, 0, kInt32Max,
              "micro-batches a step's batch is split into under pipeline parallelism, at most one "
              "per sequence (0: one per stage, as vLLM's virtual engines; docs/parallelism.md)"),
      // [hardware]
      choice_key(
          "hardware.name", "a100-40gb", [] { return hardware_catalog().names(); }, "hardware",
          "GPU (kvlab list hardware)"),
      float_key("hardware.kv_cache_gb", "0", 0.0, 1e6,
                "KV cache size per GPU in GiB (0: derive from memory)"),
      float_key("hardware.gpu_memory_utilization", "0.9", 0.0, 1.0,
                "fraction of GPU memory kvlab may use", true),
      int_key("hardware.gpus_per_node", 0, 0, kInt32Max,
              "GPUs in the node (0: the hardware entry's)"),
      choice_key("hardware.topology", "", {"", "nvswitch", "pcie"},
                 "node topology (empty: the hardware entry's)"),
      float_key("hardware.network_gb_s", "0", 0.0, 1e6,
                "inter-node network: GB/s per direction of each GPU's NIC (0: the hardware "
                "entry's; kvlab list hardware)"),
      float_key("hardware.network_latency_us", "-1", -1.0, 1e6,
                "inter-node network: one-way NIC-to-NIC latency in microseconds (-1: the "
                "hardware entry's)"),
      // [memory]
      choice_key(
          "memory.policy", "paged", [] { return memory_policies().names(); }, "memory policy",
          "memory manager (kvlab list policies)"),
      int_key("memory.capacity_slots", 0, 0, kUnbounded,
              "KV capacity in token slots (0: from hardware)"),
      float_key("memory.swap_space_gb", "4", 0.0, 1e6, "host swap pool in GiB (per GPU)"),
      choice_key("memory.kv_dtype", "auto", kv_dtype_names(),
                 "how the KV cache stores K and V: auto (the back end's compute dtype), fp32, "
                 "fp16, bf16, fp8_e4m3 or int8 (both with an fp32 scale per token, KV head, K/V "
                 "and layer); sets bytes per slot everywhere (capacity, bandwidth, swaps)"),
      // [scheduler]
      choice_key(
          "scheduler.batching", "continuous", [] { return schedulers().names(); },
          "scheduler (batching)", "batching policy (kvlab list schedulers)"),
      // [backend]
      choice_key(
          "backend.kind", "sim", [] { return executors().names(); }, "back end",
          "back end (kvlab list backends)"),
      choice_key(
          "backend.cost_model", "roofline", [] { return cost_models().names(); }, "cost model",
          "simulator cost model (kvlab list backends)"),
      // [cluster] (core/cluster.h; [replica.NAME] sections make a fleet of unlike replicas)
      int_key("cluster.replicas", 1, 1, 4096,
              "replicas, each an engine of its own (with [replica.NAME] sections: their total, "
              "or unset)"),
      choice_key(
          "cluster.router", "round_robin", [] { return routers().names(); }, "router",
          "which replica a request goes to (kvlab list routers)"),
      choice_key(
          "cluster.decode_router", "least_kv", [] { return routers().names(); }, "router",
          "disaggregated (replica roles prefill and decode): which decode replica takes a "
          "request's KV"),
      // [output]
      string_key("output.path", "kvlab-results.h5", "HDF5 result file"),
      bool_key("output.record_steps", true, "write the per-step table"),
      bool_key("output.stream", false,
               "kvlab run: write each request and step to the results file as the run goes, "
               "holding none of them in memory (long runs: millions of requests); a single "
               "replica, without workload.multi_turn"),
      string_key("output.percentiles", "50,90,99",
                 "latency percentiles in the summary, comma-separated, each in [0, 100] (p50, "
                 "p90, p99 always; others add <dist>_p<P>_s values)"),
      float_key("output.slo_ttft_ms", "0", 0.0, 1e12,
                "goodput SLO on the time to first token, ms (0: unset)"),
      float_key("output.slo_tpot_ms", "0", 0.0, 1e12,
                "goodput SLO on the time per output token after the first, ms (0: unset)"),
      float_key("output.slo_e2el_ms", "0", 0.0, 1e12,
                "goodput SLO on the end-to-end latency, ms (0: unset)"),
  };
}

}  // namespace kvlab
