// Sampling on the GPU: kernels/cpu/sampling.h's sample_token for many draws at once, each
// reading one row of a [rows][vocab] fp32 logits buffer on the device, writing int32 token ids
// to device memory. Greedy (temperature 0, after the repetition penalty), temperature, top-k,
// top-p and the repetition penalty, seeded per (request seed, sample index, position) exactly
// as the CPU sampler, so the draw does not depend on the batch either.
//
// Agreement with cpu::sample_token (sampling_row.h has the details): greedy ids and the top-k
// kept set are exactly the CPU's; the top-p set and the drawn token are the CPU's unless the
// CPU's decision lay within ~1e-12 (relative) of a boundary (u against a CDF value, the prefix
// mass against top_p * total), where sums taken in another order may fall on the other side.
// Results are deterministic run to run.
//
// Thread safety: none (one DeviceSampler per executor / stream).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/request.h"
#include "kernels/cuda/sampling_row.h"
#include "kernels/cuda/staged_upload.h"

namespace kvlab::cuda {

// One draw: the logits row it reads and what cpu::sample_token would be given.
struct SampleDraw {
  int64_t row = 0;
  SamplingParams params;
  int32_t sample_index = 0;
  int64_t position = 0;
  // The sequence's tokens so far (read only when params.repetition_penalty != 1); must stay
  // valid until sample() returns.
  std::span<const int32_t> history;
};

// The kernel's per-draw record for `draw` whose history starts at `history_begin` of the
// step's history array (exposed for tests).
sampling::RowSpec row_spec(const SampleDraw& draw, int64_t history_begin);

class DeviceSampler {
 public:
  DeviceSampler() = default;

  // Enqueues every draw on `stream`; out[d] (device memory, draws.size() ids) receives draw d's
  // token. Parameters and histories are uploaded in one asynchronous copy; `logits` (device) is
  // read by the kernel on `stream`, so it must stay valid until the stream passes it.
  // Throws InputError (a parameter cpu::validate refuses), InvariantError (shapes: a row outside
  // [0, rows), vocab outside (0, kMaxSamplingVocab], stride < vocab), CudaError.
  void sample(const float* logits, int64_t stride, int64_t rows, int32_t vocab,
              std::span<const SampleDraw> draws, int32_t* out, cudaStream_t stream);

 private:
  StagedUpload staged_;
  std::vector<sampling::RowSpec> specs_;
  std::vector<int32_t> history_;
};

}  // namespace kvlab::cuda
