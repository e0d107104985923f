#include "core/experiment.h"

#include "core/pipeline_stages.h"

namespace kvlab {

int64_t ExperimentConfig::kv_bytes_per_slot_per_gpu() const {
  if (pipeline_parallel == 1) return model.kv_bytes_per_slot() / tensor_parallel;
  // kv_bytes_per_slot() is a multiple of num_layers (2 x layers x ...): exact per layer.
  const int64_t per_layer = model.kv_bytes_per_slot() / model.num_layers;
  return per_layer * max_stage_layers(model.num_layers, pipeline_parallel) / tensor_parallel;
}

}  // namespace kvlab
