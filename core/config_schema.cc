// Every config key kvlab reads. Keep these names: experiments and scripts rely on them.
#include "core/config.h"

namespace kvlab {

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> schema = {
      // [workload]
      {"workload.trace", "", "trace file (relative to the config file); empty: synthetic"},
      {"workload.format", "auto", "trace format (kvlab list formats); auto detects it"},
      {"workload.arrival", "trace", "trace | poisson | gamma | burst"},
      {"workload.rate", "1.0", "requests per second for poisson / gamma arrivals"},
      {"workload.burstiness", "1.0", "gamma shape (1 = poisson, < 1 burstier)"},
      {"workload.time_scale", "1.0", "multiplies trace inter-arrival times"},
      {"workload.num_requests", "0", "requests to take from the trace (0: all)"},
      {"workload.seed", "0", "seed for arrivals, sampling and synthetic lengths"},
      {"workload.prompt_len", "512", "synthetic prompt length: N | uniform:A:B | lognormal:MU:SIGMA"},
      {"workload.output_len", "128", "synthetic output length: N | uniform:A:B | lognormal:MU:SIGMA"},
      {"workload.max_prompt_len", "0", "filter out requests with longer prompts (0: off)"},
      {"workload.max_total_len", "0", "filter out requests with longer prompt + output (0: off)"},
      {"workload.on_bad_row", "fail", "fail | skip (count and report malformed rows)"},
      {"workload.n", "1", "parallel samples per request (shared prompt)"},
      // [model]
      {"model.name", "llama-2-7b", "model shape (kvlab list models)"},
      {"model.max_seq_len", "0", "context window (0: the model's)"},
      {"model.tensor_parallel", "1", "GPUs the model is split across"},
      // [hardware]
      {"hardware.name", "a100-40gb", "GPU (kvlab list hardware)"},
      {"hardware.kv_cache_gb", "0", "KV cache size per GPU in GiB (0: derive from memory)"},
      {"hardware.gpu_memory_utilization", "0.9", "fraction of GPU memory kvlab may use"},
      {"hardware.gpus_per_node", "0", "GPUs in the node (0: the hardware entry's)"},
      {"hardware.topology", "", "nvswitch | pcie (empty: the hardware entry's)"},
      // [memory]
      {"memory.policy", "paged", "memory manager (kvlab list policies)"},
      {"memory.block_size", "16", "paged: slots per block, 1..256"},
      {"memory.reservation", "max", "contiguous: max | pow2 | oracle"},
      {"memory.placement", "first-fit", "contiguous: first-fit | best-fit | buddy"},
      {"memory.capacity_slots", "0", "KV capacity in token slots (0: from hardware)"},
      {"memory.swap_space_gb", "4", "host swap pool in GiB (per GPU)"},
      {"memory.watermark", "0.01", "paged: fraction of blocks kept free at admission"},
      // [scheduler]
      {"scheduler.batching", "continuous", "continuous | static"},
      {"scheduler.max_num_seqs", "256", "sequences in one batch"},
      {"scheduler.max_batched_tokens", "0", "tokens per step (0: max(max_seq_len, 2048))"},
      {"scheduler.chunk_size", "0", "chunked prefill chunk (0: prefill-first)"},
      {"scheduler.preemption", "recompute", "recompute | swap | auto"},
      {"scheduler.victim", "lifo", "preemption victim: lifo"},
      // [backend]
      {"backend.kind", "sim", "sim | cpu | cuda"},
      {"backend.cost_model", "roofline", "simulator cost model"},
      {"backend.step_overhead_ms", "2.0", "roofline: fixed CPU/launch overhead per step"},
      {"backend.swap_overhead_us", "10.0", "roofline: fixed cost per swapped contiguous range"},
      {"backend.compute_efficiency", "0.7", "roofline: fraction of peak FLOP/s reached"},
      {"backend.bandwidth_efficiency", "0.8", "roofline: fraction of peak HBM bandwidth reached"},
      {"backend.device", "0", "cuda: device index"},
      {"backend.dtype", "fp16", "cpu / cuda: fp32 | fp16 | bf16 storage"},
      {"backend.realtime", "false", "cpu / cuda: wait for trace arrival times on a wall clock"},
      {"backend.weights_seed", "0", "cpu / cuda: seed of the dummy weights"},
      {"backend.temperature", "0", "cpu / cuda: sampling temperature (0: greedy)"},
      {"backend.top_k", "0", "cpu / cuda: keep the k most likely tokens (0: all)"},
      {"backend.top_p", "1", "cpu / cuda: nucleus sampling mass in (0, 1]"},
      {"backend.repetition_penalty", "1", "cpu / cuda: > 1 discourages repeated tokens"},
      {"backend.max_host_memory_gb", "8", "cpu: refuse KV arenas + weights above this (GiB)"},
      // [output]
      {"output.path", "kvlab-results.h5", "HDF5 result file"},
      {"output.record_steps", "true", "write the per-step table"},
  };
  return schema;
}

const ConfigKey* find_config_key(const std::string& key) {
  for (const ConfigKey& k : config_schema()) {
    if (key == k.key) return &k;
  }
  return nullptr;
}

}  // namespace kvlab
