// Resolving an experiment: a Config (one sweep point) turned into an ExperimentConfig, every
// key validated, the model and hardware looked up in their catalogs, the KV capacity computed.
#pragma once

#include <cstdint>

#include "core/config.h"
#include "core/experiment.h"
#include "core/model_spec.h"

namespace kvlab {

// Validates every key and resolves the catalogs and capacity. Throws InputError.
ExperimentConfig resolve_experiment(const Config& config);

// KV slots that fit in `memory_gib` per GPU after weights and an activation reserve, or
// from kv_cache_gb when it is > 0. Exposed for tests and `kvlab list`.
// Under pipeline parallelism every stage holds its layers' KV for every slot, so the capacity
// is the smallest over the stages of (that stage's per-GPU budget) / (its layers' bytes per
// slot per GPU); a stage's weights are its layers' (the embeddings on the first stage, the LM
// head on the last). REQUIRES: 1 <= pipeline_parallel <= model.num_layers.
int64_t kv_capacity_slots(const ModelSpec& model, const HardwareSpec& hw, int32_t tensor_parallel,
                          double kv_cache_gb, double gpu_memory_utilization,
                          int64_t max_batched_tokens, int32_t pipeline_parallel = 1);

}  // namespace kvlab
