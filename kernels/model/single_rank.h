// The rule both real back ends (cpu, cuda) apply to model.tensor_parallel and
// model.pipeline_parallel while neither splits a model across ranks: the whole model runs on
// one rank, so a config asking for more is refused before anything is built, rather than
// silently run on one.
#pragma once

#include <string>

#include "core/experiment.h"

namespace kvlab {

// Throws InputError naming model.pipeline_parallel, then model.tensor_parallel, unless 1. `backend` is the back end's
// name (backend.kind) and `one_rank` what it runs the model on ("one GPU (backend.device)").
void require_single_rank(const ExperimentConfig& config, const std::string& backend,
                         const std::string& one_rank);

}  // namespace kvlab
