// CudaOptWeights: an OPT model's parameters in device memory, in the storage dtype, in the
// layouts of kernels/model/opt_weights.h (qkv_proj = q, k, v rows stacked, qkv_bias likewise;
// the position table has max_seq_len + 2 rows, row p + 2 for position p), all in one
// allocation. Sources as DeviceWeights (weight_upload.h): kHost is DummyWeightSource
// through load_opt_weights, exactly the CPU OptModel's fp32 weights; kDevice fills each
// Hugging Face tensor with dummy_weights.h's counter-based rule (same ranges, other values).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/weight_upload.h"

namespace kvlab::cuda {

class CudaOptWeights : public DeviceWeights {
 public:
  // REQUIRES: validate_opt_spec(spec) passes. Synchronizes `stream` before returning.
  CudaOptWeights(const ModelSpec& spec, DType dtype, uint64_t seed, Source source,
                 cudaStream_t stream);

  struct Layer {  // byte offsets
    size_t attn_norm_weight, attn_norm_bias, qkv_proj, qkv_bias, out_proj, out_bias;
    size_t mlp_norm_weight, mlp_norm_bias, fc1, fc1_bias, fc2, fc2_bias;
  };

  size_t embed_tokens() const { return embed_tokens_; }
  size_t embed_positions() const { return embed_positions_; }
  const Layer& layer(int32_t l) const { return layers_[static_cast<size_t>(l)]; }
  size_t final_norm_weight() const { return final_norm_weight_; }
  size_t final_norm_bias() const { return final_norm_bias_; }
  size_t lm_head() const { return lm_head_; }

 private:
  size_t embed_tokens_ = 0;
  size_t embed_positions_ = 0;
  std::vector<Layer> layers_;
  size_t final_norm_weight_ = 0;
  size_t final_norm_bias_ = 0;
  size_t lm_head_ = 0;
};

}  // namespace kvlab::cuda
