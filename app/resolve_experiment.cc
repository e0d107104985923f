#include "app/resolve_experiment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/executor.h"
#include "core/kv_cache_manager.h"
#include "core/pipeline_stages.h"
#include "core/scheduler.h"
#include "sim/topology.h"

namespace kvlab {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// output.percentiles: "50,90,99.9" -> {50, 90, 99.9}; each a number in [0, 100].
std::vector<double> parse_percentiles(const Config& c) {
  const std::string key = "output.percentiles";
  const std::string text = c.get_string(key);
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t b = item.find_first_not_of(" \t");
    const size_t e = item.find_last_not_of(" \t");
    const std::string trimmed = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    size_t used = 0;
    double p = std::numeric_limits<double>::quiet_NaN();
    try {
      p = std::stod(trimmed, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (trimmed.empty() || used != trimmed.size() || !(p >= 0 && p <= 100)) {
      c.fail(key, "'" + trimmed + "' is not a percentile in [0, 100] (write e.g. 50,90,99.9)");
    }
    out.push_back(p);
    start = comma + 1;
  }
  return out;
}

}  // namespace

int64_t kv_capacity_slots(const ModelSpec& model, const HardwareSpec& hw, int32_t tensor_parallel,
                          double kv_cache_gb, double gpu_memory_utilization,
                          int64_t max_batched_tokens, int32_t pipeline_parallel) {
  const std::vector<int32_t> stages = pipeline_stage_layers(model.num_layers, pipeline_parallel);
  // Parameters outside the layers: the LM head on the last stage, the rest (embeddings,
  // position table, final norm) on the first; with one stage, exactly num_params().
  const int64_t lm_head_params = static_cast<int64_t>(model.hidden_size) * model.vocab_size;
  const int64_t first_params =
      model.num_params() - model.num_layers * model.params_per_layer() - lm_head_params;
  int64_t capacity = std::numeric_limits<int64_t>::max();
  for (size_t s = 0; s < stages.size(); ++s) {
    // kv_bytes_per_slot() is a multiple of num_layers (2 x layers x ...): exact per layer.
    const double bytes_per_slot =
        static_cast<double>(model.kv_bytes_per_slot() / model.num_layers * stages[s]) /
        std::max(1, tensor_parallel);
    double kv_bytes = 0;
    if (kv_cache_gb > 0) {
      kv_bytes = kv_cache_gb * kGiB;
    } else {
      // vLLM profiles a forward pass to size activations; we reserve the peak of one
      // max_batched_tokens step (hidden + ffn activations in fp32, x4 for temporaries) plus
      // 1 GiB for the CUDA context and workspaces.
      const int64_t stage_params = stages[s] * model.params_per_layer() +
                                   (s == 0 ? first_params : 0) +
                                   (s + 1 == stages.size() ? lm_head_params : 0);
      const double weights =
          static_cast<double>(stage_params * model.dtype_bytes) / std::max(1, tensor_parallel);
      const double activations = 4.0 * max_batched_tokens * (model.hidden_size + model.ffn_size) *
                                 4.0 / std::max(1, tensor_parallel);
      kv_bytes = hw.memory_gib * kGiB * gpu_memory_utilization - weights - activations - kGiB;
    }
    if (kv_bytes <= 0) return 0;
    capacity = std::min(capacity, static_cast<int64_t>(std::floor(kv_bytes / bytes_per_slot)));
  }
  return capacity;
}

// Every key's type, range and choices are its declaration's (core/config_keys.h), checked once
// by c.validate() and by the typed getters; what is checked here relates keys to each other
// and to the catalogs.
ExperimentConfig resolve_experiment(const Config& c) {
  c.validate();
  ExperimentConfig e;
  e.raw = c;

  // [workload]
  WorkloadConfig& w = e.workload;
  w.trace = join_path(c.base_dir(), c.get_string("workload.trace"));
  w.format = c.get_choice("workload.format");
  w.arrival = c.get_choice("workload.arrival");
  w.rate = c.get_double("workload.rate");
  w.burstiness = c.get_double("workload.burstiness");
  w.time_scale = c.get_double("workload.time_scale");
  w.num_requests = c.get_int("workload.num_requests");
  w.seed = static_cast<uint64_t>(c.get_int("workload.seed"));
  w.prompt_len = c.get_string("workload.prompt_len");
  w.output_len = c.get_string("workload.output_len");
  w.max_prompt_len = c.get_int("workload.max_prompt_len");
  w.max_total_len = c.get_int("workload.max_total_len");
  w.skip_bad_rows = c.get_choice("workload.on_bad_row") == "skip";
  w.columns = c.get_string("workload.columns");
  w.arrival_unit = c.get_choice("workload.arrival_unit");
  w.n = static_cast<int32_t>(c.get_int("workload.n"));
  w.shared_prefix_len = static_cast<int32_t>(c.get_int("workload.shared_prefix_len"));
  w.shared_prefix_groups = static_cast<int32_t>(c.get_int("workload.shared_prefix_groups"));
  w.multi_turn = c.get_bool("workload.multi_turn");
  w.think_time_s = c.get_double("workload.think_time_s");

  // [model]
  e.model = model_catalog().get(c.get_choice("model.name"));
  const int64_t max_seq_len = c.get_int("model.max_seq_len");
  if (max_seq_len > 0) e.model.max_seq_len = static_cast<int32_t>(max_seq_len);
  e.model.kv_dtype = parse_kv_dtype(c.get_choice("memory.kv_dtype"));
  e.tensor_parallel = static_cast<int32_t>(c.get_int("model.tensor_parallel"));
  if (e.model.num_kv_heads % e.tensor_parallel != 0 || e.model.num_heads % e.tensor_parallel != 0) {
    c.fail("model.tensor_parallel", "must divide the model's attention heads (" +
                                        std::to_string(e.model.num_heads) + ") and KV heads (" +
                                        std::to_string(e.model.num_kv_heads) + ")");
  }
  e.pipeline_parallel = static_cast<int32_t>(c.get_int("model.pipeline_parallel"));

  // [hardware]
  e.hardware = hardware_catalog().get(c.get_choice("hardware.name"));
  const int64_t gpus = c.get_int("hardware.gpus_per_node");
  if (gpus > 0) e.hardware.gpus_per_node = static_cast<int32_t>(gpus);
  const std::string topology = c.get_choice("hardware.topology");
  if (!topology.empty()) e.hardware.topology = topology;
  const double network_gb_s = c.get_double("hardware.network_gb_s");
  if (network_gb_s > 0) e.hardware.network_gb_s = network_gb_s;
  const double network_latency_us = c.get_double("hardware.network_latency_us");
  if (network_latency_us >= 0) {
    e.hardware.network_latency_us = network_latency_us;
  } else if (network_latency_us != -1) {
    c.fail("hardware.network_latency_us", "must be >= 0, or -1 for the hardware entry's; got " +
                                              c.get_string("hardware.network_latency_us"));
  }
  // A back end whose ranks are threads of one process (cpu) is not bound by the node's GPUs.
  const std::string kind = c.get_choice("backend.kind");
  const bool ranks_in_process =
      executors().contains(kind) && executors().entry(kind).traits.ranks_in_process;
  if (e.tensor_parallel > e.hardware.gpus_per_node && !ranks_in_process) {
    c.fail("model.tensor_parallel",
           "exceeds the node's " + std::to_string(e.hardware.gpus_per_node) + " GPUs");
  }
  // (Its ranks all live in the one process: the node, for them, holds every rank.)
  validate_pipeline_parallel(e.model, e.tensor_parallel, e.pipeline_parallel,
                             ranks_in_process
                                 ? std::max(e.hardware.gpus_per_node, e.tensor_parallel)
                                 : e.hardware.gpus_per_node,
                             &c);
  e.kv_cache_gb = c.get_double("hardware.kv_cache_gb");
  e.gpu_memory_utilization = c.get_double("hardware.gpu_memory_utilization");

  // [scheduler]: the limits every scheduler and back end shares; a scheduler reads its own
  // keys from its settings.
  SchedulerConfig& s = e.scheduler;
  s.batching = c.get_choice("scheduler.batching");
  s.max_num_seqs = static_cast<int32_t>(c.get_int("scheduler.max_num_seqs"));
  s.max_batched_tokens = c.get_int("scheduler.max_batched_tokens");
  if (s.max_batched_tokens == 0)
    s.max_batched_tokens = std::max<int64_t>(e.model.max_seq_len, 2048);
  s.max_seq_len = e.model.max_seq_len;
  s.settings = c;

  // [memory]: capacity and pool sizes; a policy reads its own keys from its settings.
  MemoryConfig& m = e.memory;
  m.policy = c.get_choice("memory.policy");
  if (c.get_bool("memory.prefix_caching") &&
      !memory_policies().entry(m.policy).traits.prefix_caching) {
    c.fail("memory.prefix_caching",
           "memory policy '" + m.policy +
               "' cannot share KV between requests, so it cannot cache prefixes (policies that "
               "can: paged); set memory.prefix_caching = false or choose such a policy");
  }
  m.max_seq_len = e.model.max_seq_len;
  // One layer's K (or V) of one token on one GPU: the slot's bytes (2 x layers x kv_heads x
  // head_dim x element bytes, as the KV cache stores them) over 2 x layers and the TP GPUs.
  m.kv_tensor_bytes_per_token =
      e.model.kv_bytes_per_slot() / (2LL * e.model.num_layers) / e.tensor_parallel;
  // The layers one GPU holds: the stage with the most (core/pipeline_stages.h).
  m.kv_layers = max_stage_layers(e.model.num_layers, e.pipeline_parallel);
  m.settings = c;
  e.swap_space_gb = c.get_double("memory.swap_space_gb");
  const int64_t capacity_override = c.get_int("memory.capacity_slots");
  e.kv_capacity_derived = capacity_override == 0 && e.kv_cache_gb == 0;
  if (capacity_override > 0) {
    m.capacity_slots = capacity_override;
  } else {
    m.capacity_slots =
        kv_capacity_slots(e.model, e.hardware, e.tensor_parallel, e.kv_cache_gb,
                          e.gpu_memory_utilization, s.max_batched_tokens, e.pipeline_parallel);
    if (m.capacity_slots <= 0) {
      c.fail(e.kv_cache_gb > 0 ? "hardware.kv_cache_gb" : "hardware.name",
             "no room for a KV cache: " + e.model.name + " weights (" +
                 std::to_string(e.model.weight_bytes() / e.tensor_parallel / e.pipeline_parallel /
                                (1 << 20)) +
                 " MiB per GPU) do not leave memory on " + e.hardware.name +
                 " (try model.tensor_parallel, model.pipeline_parallel or hardware.kv_cache_gb)");
    }
  }
  m.swap_capacity_slots = static_cast<int64_t>(
      std::floor(e.swap_space_gb * kGiB / static_cast<double>(e.kv_bytes_per_slot_per_gpu())));

  // [backend]
  BackendConfig& b = e.backend;
  b.kind = c.get_choice("backend.kind");
  b.cost_model = c.get_choice("backend.cost_model");
  b.device = static_cast<int32_t>(c.get_int("backend.device"));
  b.dtype = c.get_choice("backend.dtype");
  b.realtime = c.get_bool("backend.realtime");
  b.weights_seed = static_cast<uint64_t>(c.get_int("backend.weights_seed"));
  b.sampling.temperature = static_cast<float>(c.get_double("backend.temperature"));
  b.sampling.top_k = static_cast<int32_t>(c.get_int("backend.top_k"));
  b.sampling.top_p = static_cast<float>(c.get_double("backend.top_p"));
  b.sampling.repetition_penalty = static_cast<float>(c.get_double("backend.repetition_penalty"));
  b.sampling.seed = w.seed;

  // [output]
  e.output_path = c.get_string("output.path");
  e.record_steps = c.get_bool("output.record_steps");
  e.stream_results = c.get_bool("output.stream");
  e.metrics.percentiles = parse_percentiles(c);
  e.metrics.slo_ttft_s = c.get_double("output.slo_ttft_ms") / 1000.0;
  e.metrics.slo_tpot_s = c.get_double("output.slo_tpot_ms") / 1000.0;
  e.metrics.slo_e2el_s = c.get_double("output.slo_e2el_ms") / 1000.0;
  return e;
}

}  // namespace kvlab
