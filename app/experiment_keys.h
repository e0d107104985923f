// The application's own config keys: those that belong to no single policy (the workload,
// the model and hardware, the output) and those that choose a policy (memory.policy,
// scheduler.batching, backend.kind, backend.cost_model, workload.format), whose allowed values
// are their registries' names. Each policy's own keys are declared by its registry entry.
#pragma once

#include <vector>

#include "core/config_keys.h"

namespace kvlab {

std::vector<KeySpec> experiment_keys();

}  // namespace kvlab
