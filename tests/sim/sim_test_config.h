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
  // The roofline's own keys at their declared defaults (2 ms, 10 us, 0.7, 0.8): config.raw.
  return config;
}

}  // namespace kvlab::testing
