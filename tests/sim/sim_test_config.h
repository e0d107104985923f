// Builds ExperimentConfig objects for the simulator's tests directly from the catalogs (no INI
// resolver): a model, a hardware entry, tensor parallelism, and the schema's defaults.
#pragma once

#include <string>

#include "core/experiment.h"
#include "core/model_spec.h"

namespace kvlab::testing {

inline ExperimentConfig sim_config(const std::string& model, const std::string& hardware,
                                   int32_t tensor_parallel = 1) {
  ExperimentConfig config;
  config.model = model_catalog().get(model);
  config.hardware = hardware_catalog().get(hardware);
  config.tensor_parallel = tensor_parallel;
  config.memory.policy = "paged";
  config.memory.settings.set("memory.block_size", std::to_string(16));
  config.backend.kind = "sim";
  config.backend.cost_model = "roofline";
  config.backend.step_overhead_ms = 2.0;
  config.backend.swap_overhead_us = 10.0;
  config.backend.compute_efficiency = 0.7;
  config.backend.bandwidth_efficiency = 0.8;
  return config;
}

}  // namespace kvlab::testing
