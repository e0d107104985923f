// SimExecutor: the simulator's back end. It moves no data and computes no tokens: each step's
// duration and its named terms come from a CostModel (core/cost_model.h) applied to the plan.
// The Engine advances its virtual clock by that duration.
//
// Registered as back end "sim" (register_sim_executor); it creates the cost model named by
// backend.cost_model from cost_models().
#pragma once

#include <memory>
#include <string>

#include "core/cost_model.h"
#include "core/executor.h"

namespace kvlab {

class SimExecutor : public Executor {
 public:
  // REQUIRES: model != nullptr.
  explicit SimExecutor(std::unique_ptr<CostModel> model);
  // The cost model `config.backend.cost_model` names; InputError naming backend.cost_model
  // when no cost model has that name.
  static std::unique_ptr<SimExecutor> from_config(const ExperimentConfig& config);

  std::string name() const override { return "sim(" + model_->name() + ")"; }
  bool is_real() const override { return false; }
  // Duration and terms of the cost model; no token ids. The plan's KvCopy lists say what
  // memory moves; of `kv` only the mapping counters are read (virtual_memory_stats): the
  // pages mapped and unmapped since the previous call go into the step's shape.
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override;
  // Moves nothing: the cost model's copy_seconds for `copies`.
  double copy_within(const std::vector<KvCopy>& copies) override;

  const CostModel& cost_model() const { return *model_; }

 private:
  std::unique_ptr<CostModel> model_;
  VirtualMemoryStats last_vmm_;  // the counters the previous execute() read
};

// Registers the "sim" back end in `registry`.
void register_sim_executor(ExecutorRegistry& registry);

}  // namespace kvlab
