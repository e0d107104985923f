#include "core/pipeline_stages.h"

#include "core/errors.h"

namespace kvlab {

std::vector<int32_t> pipeline_stage_layers(int32_t num_layers, int32_t pipeline_parallel) {
  check_invariant(pipeline_parallel >= 1 && pipeline_parallel <= num_layers,
                  "pipeline stages must be between 1 and the model's layers");
  std::vector<int32_t> layers(static_cast<size_t>(pipeline_parallel),
                              num_layers / pipeline_parallel);
  for (int32_t s = 0; s < num_layers % pipeline_parallel; ++s) ++layers[static_cast<size_t>(s)];
  return layers;
}

int32_t max_stage_layers(int32_t num_layers, int32_t pipeline_parallel) {
  return pipeline_stage_layers(num_layers, pipeline_parallel).front();
}

}  // namespace kvlab
