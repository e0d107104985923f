#include "app/resolve_experiment.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace kvlab {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

int64_t positive_int(const Config& c, const std::string& key, int64_t min_value) {
  const int64_t v = c.get_int(key);
  if (v < min_value) c.fail(key, "must be at least " + std::to_string(min_value) + ", got " + std::to_string(v));
  return v;
}

double nonnegative(const Config& c, const std::string& key) {
  const double v = c.get_double(key);
  if (v < 0) c.fail(key, "must not be negative");
  return v;
}

std::string one_of(const Config& c, const std::string& key, std::initializer_list<const char*> options) {
  const std::string v = c.get_string(key);
  std::string known;
  for (const char* o : options) {
    if (v == o) return v;
    known += (known.empty() ? "" : ", ") + std::string(o);
  }
  c.fail(key, "'" + v + "' is not one of: " + known);
}

std::string join_path(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

}  // namespace

int64_t kv_capacity_slots(const ModelSpec& model, const HardwareSpec& hw, int32_t tensor_parallel,
                          double kv_cache_gb, double gpu_memory_utilization,
                          int64_t max_batched_tokens) {
  const double bytes_per_slot =
      static_cast<double>(model.kv_bytes_per_slot()) / std::max(1, tensor_parallel);
  double kv_bytes = 0;
  if (kv_cache_gb > 0) {
    kv_bytes = kv_cache_gb * kGiB;
  } else {
    // vLLM profiles a forward pass to size activations; we reserve the peak of one
    // max_batched_tokens step (hidden + ffn activations in fp32, x4 for temporaries) plus
    // 1 GiB for the CUDA context and workspaces.
    const double weights = static_cast<double>(model.weight_bytes()) / std::max(1, tensor_parallel);
    const double activations =
        4.0 * max_batched_tokens * (model.hidden_size + model.ffn_size) * 4.0 / std::max(1, tensor_parallel);
    kv_bytes = hw.memory_gib * kGiB * gpu_memory_utilization - weights - activations - kGiB;
  }
  if (kv_bytes <= 0) return 0;
  return static_cast<int64_t>(std::floor(kv_bytes / bytes_per_slot));
}

ExperimentConfig resolve_experiment(const Config& c) {
  ExperimentConfig e;
  e.raw = c;

  // [workload]
  WorkloadConfig& w = e.workload;
  w.trace = join_path(c.base_dir(), c.get_string("workload.trace"));
  w.format = c.get_string("workload.format");
  w.arrival = one_of(c, "workload.arrival", {"trace", "poisson", "gamma", "burst"});
  w.rate = c.get_double("workload.rate");
  if (w.rate <= 0) c.fail("workload.rate", "must be positive");
  w.burstiness = c.get_double("workload.burstiness");
  if (w.burstiness <= 0) c.fail("workload.burstiness", "must be positive");
  w.time_scale = c.get_double("workload.time_scale");
  if (w.time_scale <= 0) c.fail("workload.time_scale", "must be positive");
  w.num_requests = positive_int(c, "workload.num_requests", 0);
  w.seed = static_cast<uint64_t>(positive_int(c, "workload.seed", 0));
  w.prompt_len = c.get_string("workload.prompt_len");
  w.output_len = c.get_string("workload.output_len");
  w.max_prompt_len = positive_int(c, "workload.max_prompt_len", 0);
  w.max_total_len = positive_int(c, "workload.max_total_len", 0);
  w.skip_bad_rows = one_of(c, "workload.on_bad_row", {"fail", "skip"}) == "skip";
  w.n = static_cast<int32_t>(positive_int(c, "workload.n", 1));
  if (w.n > kMaxSamples) c.fail("workload.n", "at most " + std::to_string(kMaxSamples));

  // [model]
  try {
    e.model = model_catalog().get(c.get_string("model.name"));
  } catch (const InputError& err) {
    c.fail("model.name", err.what());
  }
  const int64_t max_seq_len = positive_int(c, "model.max_seq_len", 0);
  if (max_seq_len > 0) e.model.max_seq_len = static_cast<int32_t>(max_seq_len);
  e.tensor_parallel = static_cast<int32_t>(positive_int(c, "model.tensor_parallel", 1));
  if (e.model.num_kv_heads % e.tensor_parallel != 0 || e.model.num_heads % e.tensor_parallel != 0) {
    c.fail("model.tensor_parallel", "must divide the model's attention heads (" +
                                        std::to_string(e.model.num_heads) + ") and KV heads (" +
                                        std::to_string(e.model.num_kv_heads) + ")");
  }

  // [hardware]
  try {
    e.hardware = hardware_catalog().get(c.get_string("hardware.name"));
  } catch (const InputError& err) {
    c.fail("hardware.name", err.what());
  }
  const int64_t gpus = positive_int(c, "hardware.gpus_per_node", 0);
  if (gpus > 0) e.hardware.gpus_per_node = static_cast<int32_t>(gpus);
  const std::string topology = c.get_string("hardware.topology");
  if (!topology.empty()) e.hardware.topology = one_of(c, "hardware.topology", {"nvswitch", "pcie"});
  if (e.tensor_parallel > e.hardware.gpus_per_node) {
    c.fail("model.tensor_parallel", "exceeds the node's " + std::to_string(e.hardware.gpus_per_node) + " GPUs");
  }
  e.kv_cache_gb = nonnegative(c, "hardware.kv_cache_gb");
  e.gpu_memory_utilization = c.get_double("hardware.gpu_memory_utilization");
  if (e.gpu_memory_utilization <= 0 || e.gpu_memory_utilization > 1) {
    c.fail("hardware.gpu_memory_utilization", "must be in (0, 1]");
  }

  // [scheduler]
  SchedulerConfig& s = e.scheduler;
  s.batching = c.get_string("scheduler.batching");
  s.max_num_seqs = static_cast<int32_t>(positive_int(c, "scheduler.max_num_seqs", 1));
  s.max_batched_tokens = positive_int(c, "scheduler.max_batched_tokens", 0);
  if (s.max_batched_tokens == 0) s.max_batched_tokens = std::max<int64_t>(e.model.max_seq_len, 2048);
  s.chunk_size = static_cast<int32_t>(positive_int(c, "scheduler.chunk_size", 0));
  s.preemption = c.get_string("scheduler.preemption");
  s.victim = c.get_string("scheduler.victim");
  s.max_seq_len = e.model.max_seq_len;

  // [memory]
  MemoryConfig& m = e.memory;
  m.policy = c.get_string("memory.policy");
  m.block_size = static_cast<int32_t>(c.get_int("memory.block_size"));
  m.reservation = c.get_string("memory.reservation");
  m.placement = c.get_string("memory.placement");
  m.watermark = c.get_double("memory.watermark");
  if (m.watermark < 0 || m.watermark >= 1) c.fail("memory.watermark", "must be in [0, 1)");
  m.max_seq_len = e.model.max_seq_len;
  e.swap_space_gb = nonnegative(c, "memory.swap_space_gb");
  const int64_t capacity_override = positive_int(c, "memory.capacity_slots", 0);
  e.kv_capacity_derived = capacity_override == 0 && e.kv_cache_gb == 0;
  if (capacity_override > 0) {
    m.capacity_slots = capacity_override;
  } else {
    m.capacity_slots = kv_capacity_slots(e.model, e.hardware, e.tensor_parallel, e.kv_cache_gb,
                                         e.gpu_memory_utilization, s.max_batched_tokens);
    if (m.capacity_slots <= 0) {
      c.fail(e.kv_cache_gb > 0 ? "hardware.kv_cache_gb" : "hardware.name",
             "no room for a KV cache: " + e.model.name + " weights (" +
                 std::to_string(e.model.weight_bytes() / e.tensor_parallel / (1 << 20)) +
                 " MiB per GPU) do not leave memory on " + e.hardware.name +
                 " (try model.tensor_parallel or hardware.kv_cache_gb)");
    }
  }
  m.swap_capacity_slots = static_cast<int64_t>(
      std::floor(e.swap_space_gb * kGiB / static_cast<double>(e.kv_bytes_per_slot_per_gpu())));

  // [backend]
  BackendConfig& b = e.backend;
  b.kind = c.get_string("backend.kind");
  b.cost_model = c.get_string("backend.cost_model");
  b.step_overhead_ms = nonnegative(c, "backend.step_overhead_ms");
  b.swap_overhead_us = nonnegative(c, "backend.swap_overhead_us");
  b.compute_efficiency = c.get_double("backend.compute_efficiency");
  if (b.compute_efficiency <= 0 || b.compute_efficiency > 1) c.fail("backend.compute_efficiency", "must be in (0, 1]");
  b.bandwidth_efficiency = c.get_double("backend.bandwidth_efficiency");
  if (b.bandwidth_efficiency <= 0 || b.bandwidth_efficiency > 1) c.fail("backend.bandwidth_efficiency", "must be in (0, 1]");
  b.device = static_cast<int32_t>(positive_int(c, "backend.device", 0));
  b.dtype = one_of(c, "backend.dtype", {"fp32", "fp16", "bf16"});
  b.realtime = c.get_bool("backend.realtime");
  b.weights_seed = static_cast<uint64_t>(positive_int(c, "backend.weights_seed", 0));
  b.sampling.temperature = static_cast<float>(nonnegative(c, "backend.temperature"));
  b.sampling.top_k = static_cast<int32_t>(positive_int(c, "backend.top_k", 0));
  b.sampling.top_p = static_cast<float>(c.get_double("backend.top_p"));
  if (b.sampling.top_p <= 0 || b.sampling.top_p > 1) c.fail("backend.top_p", "must be in (0, 1]");
  b.sampling.repetition_penalty = static_cast<float>(c.get_double("backend.repetition_penalty"));
  if (b.sampling.repetition_penalty <= 0) c.fail("backend.repetition_penalty", "must be positive");
  b.sampling.seed = w.seed;
  b.max_host_memory_gb = c.get_double("backend.max_host_memory_gb");
  if (b.max_host_memory_gb <= 0) c.fail("backend.max_host_memory_gb", "must be positive");

  // [output]
  e.output_path = c.get_string("output.path");
  e.record_steps = c.get_bool("output.record_steps");
  return e;
}

}  // namespace kvlab
