// CostModel: prices one engine step for the simulator. It sees the step as plain numbers (a
// StepShape: prompt chunks, decode context lengths, the KV copies the memory manager asked
// for) and answers how long the step takes on the configured model, hardware and tensor
// parallelism, split into named terms (gemm, attention, swap, ...) for the per-step table.
//
// Contract: cost() is a pure function of the shape and the configuration the model was
// created from: the same shape gives the same StepCost, bit for bit, on every run. Every
// term is >= 0 and `seconds` is their sum. A model lists the same term names, in the same
// order, for every step (zero where a term does not apply), so the per-step columns line up.
//
// Cost models are registered by name in cost_models() (created from an ExperimentConfig) and
// chosen by `backend.cost_model`; the simulator's Executor (sim/sim_executor.h) runs them.
//
// Thread safety: cost() is const and keeps no mutable state; concurrent calls are safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/executor.h"
#include "core/kv_cache_manager.h"
#include "core/registry.h"
#include "core/scheduler.h"

namespace kvlab {

struct ExperimentConfig;

// The work of one step, as a cost model needs it. describe_step() derives it from a plan;
// tests and profilers may fill one directly.
struct StepShape {
  // Prompt tokens [start, start + num_tokens) of one sequence; `samples`: a token is sampled
  // after the chunk (it reaches the end of the prompt), so the LM head runs for it.
  struct PrefillChunk {
    int64_t start = 0;
    int64_t num_tokens = 0;
    bool samples = false;
  };
  std::vector<PrefillChunk> prefills;
  // One entry per decoding sequence: the positions its new token attends to, itself
  // included (num_computed + 1).
  std::vector<int64_t> decode_context_lens;
  std::vector<KvCopy> swap_out;       // device -> host
  std::vector<KvCopy> swap_in;        // host -> device
  std::vector<KvCopy> device_copies;  // copy-on-write (and fork copies), device -> device
  // Virtual memory: physical pages (one per layer and K/V tensor, per GPU) the manager mapped
  // and unmapped for this step (since the previous step's plan). describe_step() leaves them 0:
  // the simulator's executor reads them from the manager (KvCacheManager::virtual_memory_stats).
  int64_t vmm_pages_mapped = 0;
  int64_t vmm_pages_unmapped = 0;

  int64_t num_prefill_tokens() const {
    int64_t n = 0;
    for (const PrefillChunk& c : prefills) n += c.num_tokens;
    return n;
  }
  int64_t num_decode_tokens() const { return static_cast<int64_t>(decode_context_lens.size()); }
  int64_t num_tokens() const { return num_prefill_tokens() + num_decode_tokens(); }
  // Rows the LM head computes: one per sampling chunk and one per decode (the n samples of a
  // group that just finished its prompt are drawn from one row of logits).
  int64_t num_sampled() const {
    int64_t n = num_decode_tokens();
    for (const PrefillChunk& c : prefills) n += c.samples ? 1 : 0;
    return n;
  }
};

// The shape of `plan`: read before the step is applied (num_computed not advanced). Its
// device_copies are the plan's copy-on-write copies; the fork copies of the step are known
// only after it ran (Scheduler::update_from_output), and a caller that prices or records them
// with the step appends them (sim/calibration.cc does).
inline StepShape describe_step(const SchedulerOutput& plan) {
  StepShape shape;
  shape.prefills.reserve(plan.prefills.size());
  for (const PrefillChunk& c : plan.prefills) {
    shape.prefills.push_back({c.start, c.num_tokens, c.samples});
  }
  shape.decode_context_lens.reserve(plan.decodes.size());
  for (const Sequence* seq : plan.decodes) {
    shape.decode_context_lens.push_back(static_cast<int64_t>(seq->num_computed) + 1);
  }
  shape.swap_out = plan.swap_out;
  shape.swap_in = plan.swap_in;
  shape.device_copies = plan.copies;
  return shape;
}

struct StepCost {
  double seconds = 0.0;         // sum of the terms
  std::vector<CostTerm> terms;  // fixed names and order per model
  // A size of the step lay off the model's measured range (the profiled model's grid): its
  // time was extrapolated. Counted in the summary (profile_out_of_range_steps).
  bool outside_profile = false;
  // The term called `name`, or 0 when the model has none by that name.
  double term(const std::string& name) const {
    for (const CostTerm& t : terms) {
      if (name == t.name) return t.seconds;
    }
    return 0.0;
  }
};

class CostModel {
 public:
  virtual ~CostModel() = default;
  virtual std::string name() const = 0;  // e.g. "roofline"
  virtual StepCost cost(const StepShape& step) const = 0;
  // Seconds the device-to-device `device_copies` take on their own: the model's copy term for
  // them, no per-step overhead. The simulator prices a step's fork copies with it
  // (Executor::copy_within). Pure and bit-reproducible like cost().
  virtual double copy_seconds(const std::vector<KvCopy>& device_copies) const = 0;
};

using CostModelRegistry = Registry<CostModel, ExperimentConfig>;
// Cost models by `backend.cost_model`; filled by app/builtins.cc.
CostModelRegistry& cost_models();

}  // namespace kvlab
