// SimExecutor: the simulator's back end. It moves no data and computes no tokens: each step's
// duration and its named terms come from a CostModel (core/cost_model.h) applied to the plan.
// The Engine advances its virtual clock by that duration.
//
// Registered in executors() as "sim" (the cost model named by backend.cost_model), and, by
// register_cost_model(), as "sim:<cost model>" for each cost model (core/executor.h's naming).
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
  // Duration and terms of the cost model; no token ids. `kv` is not consulted: the plan's
  // KvCopy lists already say what memory moves.
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override;
  // Moves nothing: the cost model's copy_seconds for `copies`.
  double copy_within(const std::vector<KvCopy>& copies) override;

  const CostModel& cost_model() const { return *model_; }

 private:
  std::unique_ptr<CostModel> model_;
};

// Registers `factory` as cost model `name` in cost_models() and a back end "sim:<name>" that
// uses it in executors(). Call once per cost model, at namespace scope, from its .cc:
//   const bool kRegistered = register_cost_model("roofline", factory, "...");
bool register_cost_model(const std::string& name, CostModelRegistry::Factory factory,
                         const std::string& description);

}  // namespace kvlab
