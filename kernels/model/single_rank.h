// The rules the real back ends apply to model.tensor_parallel and model.pipeline_parallel
// while they cannot split a model that way: a config asking for more is refused before
// anything is built, rather than silently run on one rank. Neither back end splits layers
// into pipeline stages (require_single_stage); the cuda back end runs the whole model on one
// GPU (require_single_rank), the cpu back end splits it over tensor-parallel ranks
// (kernels/cpu_executor.h).
#pragma once

#include <string>

#include "core/experiment.h"

namespace kvlab {

// Throws InputError naming model.pipeline_parallel unless 1. `backend` is the back end's name
// (backend.kind) and `one_stage` what it runs every layer on ("one GPU (backend.device)").
void require_single_stage(const ExperimentConfig& config, const std::string& backend,
                          const std::string& one_stage);

// Throws InputError naming model.pipeline_parallel, then model.tensor_parallel, unless 1.
// `one_rank` is what the back end runs the model on.
void require_single_rank(const ExperimentConfig& config, const std::string& backend,
                         const std::string& one_rank);

}  // namespace kvlab
