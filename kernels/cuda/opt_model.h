// CudaOptModel: the OPT decoder of kernels/model/opt_model.h on the GPU, layer for layer the
// same computation:
//   h = embed_tokens[t] + embed_positions[p + 2]
//   per layer: x = layer_norm(h); qkv = qkv_proj(x) + qkv_bias; K/V written to their slots;
//              prefill / decode attention over the cache (no rotary embedding);
//              h += out_proj(attn), then + out_bias;
//              x = layer_norm(h); act = relu(fc1(x) + fc1_bias); h += fc2(act), then + fc2_bias
//   logits = lm_head(final_layer_norm(h)) for the last token of each sampling entry
// in the storage dtype with fp32 accumulation, over a CudaKvCache in the manager's layout.
// The residual adds of out_proj and fc2 are the GEMMs' beta = 1, their biases added after.
//
// With dtype fp32 and host-generated weights the logits equal the CPU OptModel's up to float
// rounding (summation orders differ). A CudaDecoderModel (decoder_model.h). Thread safety: none.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "core/model_spec.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/decoder_model.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/opt_weights.h"
#include "kernels/cuda/staged_upload.h"
#include "kernels/cuda/step_batch.h"
#include "kernels/model/opt_model.h"

namespace kvlab::cuda {

class CudaOptModel : public CudaDecoderModel {
 public:
  // Loads the weights (see CudaOptWeights) on the current device. `stream` must outlive the
  // model. Throws InputError when `spec` is not a runnable opt shape (validate_opt_spec).
  CudaOptModel(ModelSpec spec, DType dtype, uint64_t weights_seed, CudaOptWeights::Source source,
               cudaStream_t stream, OptOptions options = {});

  const CudaOptWeights& weights() const { return weights_; }

  // CudaDecoderModel::forward (contract of OptModel::forward): throws InputError for a token
  // id outside the vocabulary or a position >= spec().max_seq_len, before enqueuing anything.
  const float* forward(std::span<const ForwardEntry> batch, CudaKvCache& cache,
                       int64_t* num_sampling) override;

 private:
  template <typename T>
  const float* forward_typed(const StepBatch& batch, CudaKvCache& cache);

  OptOptions options_;
  CudaOptWeights weights_;
  // Per-step activations, grown to the largest step seen.
  DeviceBuffer h_, x_, qkv_, attn_, act_, last_, logits_, decode_workspace_;
};

}  // namespace kvlab::cuda
