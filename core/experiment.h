// ExperimentConfig: a Config resolved into typed, validated settings for one run (one sweep
// point), with the model and hardware looked up in their catalogs and the KV capacity
// computed: what the Engine, the back ends and the cost models are created from. The
// application resolves it (app/resolve_experiment.h); validation errors name the key and
// where its value came from.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/kv_cache_manager.h"
#include "core/metric_options.h"
#include "core/model_spec.h"
#include "core/scheduler.h"

namespace kvlab {

struct WorkloadConfig {
  std::string trace;  // path, already joined with the config's directory
  std::string format = "auto";
  std::string arrival = "trace";
  double rate = 1.0;
  double burstiness = 1.0;
  double time_scale = 1.0;
  int64_t num_requests = 0;
  uint64_t seed = 0;
  std::string prompt_len = "512";
  std::string output_len = "128";
  int64_t max_prompt_len = 0;
  int64_t max_total_len = 0;
  bool skip_bad_rows = false;
  std::string columns;              // workload.columns (formats csv, jsonl)
  std::string arrival_unit = "s";   // workload.arrival_unit
  int32_t n = 1;
  int32_t shared_prefix_len = 0;     // tokens of a shared system prompt (0: none)
  int32_t shared_prefix_groups = 1;  // distinct system prompts
  bool multi_turn = false;           // ShareGPT conversations turn by turn
  double think_time_s = 5.0;         // mean pause before a conversation's next turn
};

// The settings every real back end shares, typed (the Engine reads `realtime`, the runner the
// sampling settings). Their keys are declared by kernels/model/real_backend_keys.cc;
// app/resolve_experiment.cc reads them here after checking them against those declarations. A
// cost model or back end reads its own keys from ExperimentConfig::raw (RooflineOptions,
// the real back ends' backend.max_host_memory_gb).
struct BackendConfig {
  std::string kind = "sim";
  std::string cost_model = "roofline";
  int32_t device = 0;
  std::string dtype = "fp16";
  bool realtime = false;
  uint64_t weights_seed = 0;
  SamplingParams sampling;  // applied to every request (seed: workload.seed)
};

struct ExperimentConfig {
  Config raw;
  WorkloadConfig workload;
  ModelSpec model;        // with max_seq_len overridden by model.max_seq_len
  HardwareSpec hardware;  // with gpus_per_node / topology overridden
  int32_t tensor_parallel = 1;
  int32_t pipeline_parallel = 1;  // stages (core/pipeline_stages.h); TP x PP GPUs in all
  double kv_cache_gb = 0;  // per GPU, as given (0: derived)
  double gpu_memory_utilization = 0.9;
  double swap_space_gb = 4;
  MemoryConfig memory;  // capacity_slots and swap_capacity_slots resolved
  // capacity_slots came from the hardware catalog (neither hardware.kv_cache_gb nor
  // memory.capacity_slots given); a back end with a capacity probe (core/executor.h)
  // replaces it with what fits on its device when the engine is made.
  bool kv_capacity_derived = false;
  SchedulerConfig scheduler;  // max_seq_len and max_batched_tokens resolved
  BackendConfig backend;
  std::string output_path;
  bool record_steps = true;
  bool stream_results = false;  // output.stream (app/experiment_runner.h)
  MetricOptions metrics;  // output.percentiles, output.slo_*_ms

  // Bytes one token slot occupies on one GPU: KV heads are split by tensor parallelism, layers
  // by pipeline parallelism (the stage with the most layers: core/pipeline_stages.h).
  int64_t kv_bytes_per_slot_per_gpu() const;
};

}  // namespace kvlab
