// Executor: carries out one SchedulerOutput on a back end and says how long it took.
//
// The simulator's executor prices the step with a cost model; the CPU and CUDA executors
// move real KV data (swap out, swap in, copy-on-write, in that order), run the model over the
// batch and sample (one draw per TokenDraw of core/sampling_rows.h). All of them receive the
// same plan and the manager's layouts, read-only: an Executor never mutates the manager, so
// no policy knows which back end runs it.
//
// Within one step the Engine calls execute(plan) once and then, when the scheduler's
// update_from_output forked samples whose KV the manager copies, copy_within(fork copies)
// once; the step's duration is the sum of the two.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/operator_profile.h"
#include "core/registry.h"
#include "core/scheduler.h"
#include "core/step_result.h"

namespace kvlab {

struct ExperimentConfig;

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  // True when steps take real time (cpu, cuda): the Engine then reports wall-clock timings.
  virtual bool is_real() const = 0;
  // True when the hardware catalog's peaks for hardware.name (fp16_tflops, hbm_gb_s) are those
  // of the device the steps run on, so each step's MFU and MBU are taken against them: the
  // simulator (it models that device) and the CUDA back end (on the GPU the experiment names).
  // The CPU back end's processor is not in the catalog: its MFU and MBU are NaN.
  virtual bool runs_on_catalog_hardware() const { return !is_real(); }
  // Runs `plan`: its memory movements, then its batch. Returns the step's time, its terms and
  // the sampled ids (core/step_result.h).
  virtual StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) = 0;
  // Carries out device-to-device copies inside the KV arena, in list order, before returning,
  // and returns the seconds they took: measured on the real back ends, the cost model's copy
  // term in the simulator. The Engine calls it with the fork copies of the step it just ran.
  // REQUIRES: each copy's ranges lie inside the arena; a copy's source and destination do not
  // overlap.
  virtual double copy_within(const std::vector<KvCopy>& copies) = 0;
};

// KV capacity measured on the device a back end runs on (vLLM's gpu_memory_utilization). When
// the capacity was derived (ExperimentConfig::kv_capacity_derived: neither
// hardware.kv_cache_gb nor memory.capacity_slots given), make_engine asks the back end's probe
// for memory.capacity_slots instead of keeping the hardware catalog's estimate, before it
// builds the manager. A probe returns a positive slot count or throws InputError.
using KvCapacityProbe = std::function<int64_t(const ExperimentConfig&)>;

// Refuses, with an InputError naming the key, a config the back end cannot run, from the
// config alone: no device is opened and nothing is allocated. validate_engine_config calls it,
// so a sweep fails before any point runs; the back end's factory refuses the same configs.
using ExecutorConfigCheck = std::function<void(const ExperimentConfig&)>;

// Measures the back end's operators over a grid for the experiment's model (`kvlab profile`,
// core/operator_profile.h). Throws InputError naming the key for a config it cannot profile.
using ExecutorProfiler = std::function<OperatorProfile(const ExperimentConfig&, const ProfileGrid&)>;

// What callers may ask of a back end without creating it.
struct ExecutorTraits {
  // Steps run real kernels on real token ids: requests get prompt token ids and the
  // backend.* sampling settings (app/experiment_runner.h), and timings are wall clock.
  bool real = false;
  // Each instance holds a whole device (a GPU's memory): sweep points run one at a time.
  bool exclusive_device = false;
  // model.tensor_parallel ranks are threads of this process (the cpu back end), not GPUs of
  // the node: hardware.gpus_per_node does not bound them.
  bool ranks_in_process = false;
  // Empty: the catalog's capacity estimate stands.
  KvCapacityProbe capacity_probe;
  // Empty: every config the keys accept is run.
  ExecutorConfigCheck check_config;
  // Empty: `kvlab profile` cannot profile this back end.
  ExecutorProfiler profile;
};

using ExecutorRegistry = Registry<Executor, ExperimentConfig, ExecutorTraits>;
// Back ends by `backend.kind` (sim, cpu, cuda); filled by app/builtins.cc.
ExecutorRegistry& executors();

}  // namespace kvlab
