// Executor: carries out one SchedulerOutput on a back end and says how long it took.
//
// The simulator's executor prices the step with a cost model; the CPU and CUDA executors
// move real KV data (fork copies, swap out, swap in, copy-on-write, in that order), run the
// model over the batch and sample. All of them receive the same plan and the manager's
// layouts, so no policy knows which back end runs it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/registry.h"
#include "core/scheduler.h"

namespace kvlab {

struct ExperimentConfig;

// A named part of a step's modeled time (gemm, attention, swap, ...), for the per-step table.
struct CostTerm {
  const char* name;  // static string
  double seconds;
};

struct StepResult {
  double duration_s = 0.0;
  // Sampled token ids, flattened in plan order: for each prefill chunk with samples == true,
  // one id (or spec.n ids when it completes the prompt of a group that has not forked yet:
  // the first token of each sample); then one id per decode. Empty for back ends that do not
  // produce ids (the simulator).
  std::vector<int32_t> token_ids;
  std::vector<CostTerm> terms;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  // True when steps take real time (cpu, cuda): the Engine then reports wall-clock timings.
  virtual bool is_real() const = 0;
  virtual StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) = 0;
};

// KV capacity measured on the device a back end runs on (vLLM's gpu_memory_utilization). When
// the capacity was derived (ExperimentConfig::kv_capacity_derived: neither
// hardware.kv_cache_gb nor memory.capacity_slots given), make_engine asks the back end's probe
// for memory.capacity_slots instead of keeping the hardware catalog's estimate, before it
// builds the manager. A probe returns a positive slot count or throws InputError.
using KvCapacityProbe = std::function<int64_t(const ExperimentConfig&)>;

// What callers may ask of a back end without creating it.
struct ExecutorTraits {
  // Steps run real kernels on real token ids: requests get prompt token ids and the
  // backend.* sampling settings (app/experiment_runner.h), and timings are wall clock.
  bool real = false;
  // Each instance holds a whole device (a GPU's memory): sweep points run one at a time.
  bool exclusive_device = false;
  // Empty: the catalog's capacity estimate stands.
  KvCapacityProbe capacity_probe;
};

using ExecutorRegistry = Registry<Executor, ExperimentConfig, ExecutorTraits>;
// Back ends by `backend.kind` (sim, cpu, cuda); filled by app/builtins.cc.
ExecutorRegistry& executors();

}  // namespace kvlab
