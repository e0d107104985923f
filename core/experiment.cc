#include "core/experiment.h"

namespace kvlab {

int64_t ExperimentConfig::kv_bytes_per_slot_per_gpu() const {
  return model.kv_bytes_per_slot() / tensor_parallel;
}

}  // namespace kvlab
