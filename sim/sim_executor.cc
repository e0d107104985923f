#include "sim/sim_executor.h"

#include <utility>

#include "core/errors.h"
#include "core/experiment.h"
#include "sim/field_error.h"

namespace kvlab {

SimExecutor::SimExecutor(std::unique_ptr<CostModel> model) : model_(std::move(model)) {
  check_invariant(model_ != nullptr, "SimExecutor needs a cost model");
}

std::unique_ptr<SimExecutor> SimExecutor::from_config(const ExperimentConfig& config) {
  const std::string& name = config.backend.cost_model;
  if (!cost_models().contains(name)) {
    fail_field(config.raw, "backend.cost_model", cost_models().unknown_message(name));
  }
  return std::make_unique<SimExecutor>(cost_models().create(name, config));
}

StepResult SimExecutor::execute(const SchedulerOutput& plan, const KvCacheManager& kv) {
  StepShape shape = describe_step(plan);
  const VirtualMemoryStats vmm = kv.virtual_memory_stats();
  shape.vmm_pages_mapped = vmm.pages_mapped - last_vmm_.pages_mapped;
  shape.vmm_pages_unmapped = vmm.pages_unmapped - last_vmm_.pages_unmapped;
  last_vmm_ = vmm;
  StepCost cost = model_->cost(shape);
  StepResult result;
  result.duration_s = cost.seconds;
  result.terms = std::move(cost.terms);
  result.outside_profile = cost.outside_profile;
  return result;
}

double SimExecutor::copy_within(const std::vector<KvCopy>& copies) {
  return model_->copy_seconds(copies);
}

void register_sim_executor(ExecutorRegistry& registry) {
  registry.add({.name = "sim",
                .factory = [](const ExperimentConfig& config) -> std::unique_ptr<Executor> {
                  return SimExecutor::from_config(config);
                },
                .description = "simulator: virtual clock, step time from the cost model named by "
                               "backend.cost_model",
                .traits = {.real = false, .exclusive_device = false, .capacity_probe = {}}});
}

}  // namespace kvlab
