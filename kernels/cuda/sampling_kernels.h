// Launcher of the sampling kernel (sampling_kernels.cu): one thread block per draw runs
// sampling_row.h's sample_row over its logits row. Raw arguments, cudaError_t out; the checked
// API with the CPU sampler's contract is sampling.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/sampling_row.h"

namespace kvlab::cuda {

// Largest vocabulary the kernel takes: its shared memory holds 16 bins per thread and, when a
// draw has a repetition penalty, one bit per token (up to 160 KiB in all, opted in).
constexpr int32_t kMaxSamplingVocab = 1 << 20;

// out[e] = the token of specs[e] (rows of `logits` are `stride` floats apart, `vocab` wide;
// `history` holds every spec's history range). `any_penalty`: some spec has
// repetition_penalty != 1 and a non-empty history (sizes the token bitmask).
cudaError_t launch_sample(const float* logits, int64_t stride, int32_t vocab,
                          const sampling::RowSpec* specs, int32_t count, const int32_t* history,
                          bool any_penalty, int32_t* out, cudaStream_t stream);

}  // namespace kvlab::cuda
