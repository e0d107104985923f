// Helpers of the simulator's tests: ExperimentConfig objects built directly from the catalogs
// (no INI resolver), catalog hardware, the kinds of a topology path's vertices, and the message
// of an InputError.
#pragma once

#include <string>
#include <vector>

#include "core/errors.h"
#include "core/experiment.h"
#include "core/model_spec.h"
#include "sim/topology.h"

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

inline const HardwareSpec& hw(const std::string& name) { return hardware_catalog().get(name); }

// The kinds of the vertices `path` visits, in order.
inline std::vector<NodeVertexKind> kinds(const NodeTopology& node, const NodePath& path) {
  std::vector<NodeVertexKind> out;
  for (NodeVertexId v : path.vertices) out.push_back(node.graph()[v].kind);
  return out;
}

// The message of the InputError `fn` throws ("" if none).
template <typename Fn>
std::string input_error(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace kvlab::testing
