#include "kernels/model/single_rank.h"

namespace kvlab {

void require_single_stage(const ExperimentConfig& config, const std::string& backend,
                          const std::string& one_stage) {
  if (config.pipeline_parallel == 1) return;
  config.raw.fail("model.pipeline_parallel", "the " + backend + " back end runs every layer on " +
                                                 one_stage +
                                                 " and does not split them into stages; got " +
                                                 std::to_string(config.pipeline_parallel) +
                                                 " (set model.pipeline_parallel = 1)");
}

void require_single_rank(const ExperimentConfig& config, const std::string& backend,
                         const std::string& one_rank) {
  require_single_stage(config, backend, one_rank);
  if (config.tensor_parallel == 1) return;
  config.raw.fail("model.tensor_parallel",
                  "the " + backend + " back end runs the whole model on " + one_rank +
                      " and does not split it across ranks; got " +
                      std::to_string(config.tensor_parallel) + " (set model.tensor_parallel = 1)");
}

}  // namespace kvlab
