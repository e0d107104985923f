// The keys both real back ends (cpu, cuda) read, declared once and listed in each one's
// registry entry: storage dtype, device, wall-clock replay, the dummy weights' seed, the
// sampling settings every request gets (app/experiment_runner.h) and the host memory budget.
#pragma once

#include <vector>

#include "core/config_keys.h"

namespace kvlab {

std::vector<KeySpec> real_backend_keys();

}  // namespace kvlab
