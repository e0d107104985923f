// How pipeline parallelism splits a model's layers into stages: written once, read by the KV
// capacity (app/resolve_experiment.cc), the cost model (sim/roofline_cost_model.cc) and the
// memory layout a GPU holds (docs/parallelism.md).
//
// P stages take layers / P layers each, and the first layers % P stages one more (an even split
// where layers divide, as Megatron-LM and vLLM; vLLM lets VLLM_PP_LAYER_PARTITION choose any
// other split, which kvlab does not model). Stage 0 therefore holds the most layers and binds
// the KV capacity: every stage stores the KV of its own layers for every token slot, on GPUs
// with the same memory.
#pragma once

#include <cstdint>
#include <vector>

namespace kvlab {

// REQUIRES: 1 <= pipeline_parallel <= num_layers. Layers of stages 0..P-1, summing to
// num_layers, non-increasing.
std::vector<int32_t> pipeline_stage_layers(int32_t num_layers, int32_t pipeline_parallel);

// The most layers any stage holds: ceil(num_layers / P). REQUIRES: as above.
int32_t max_stage_layers(int32_t num_layers, int32_t pipeline_parallel);

}  // namespace kvlab
