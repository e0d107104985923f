// CudaLlamaWeights: a Llama model's parameters in device memory, in the storage dtype, in the
// fused layouts of kernels/model/llama_weights.h (qkv_proj = q, k, v rows stacked;
// gate_up_proj = gate rows then up rows), all in one allocation. Sources (host DummyWeightSource
// through load_llama_weights, or the device rule) as DeviceWeights (weight_upload.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/weight_upload.h"

namespace kvlab::cuda {

class CudaLlamaWeights : public DeviceWeights {
 public:
  // REQUIRES: validate_llama_spec(spec) passes. Synchronizes `stream` before returning.
  CudaLlamaWeights(const ModelSpec& spec, DType dtype, uint64_t seed, Source source,
                   cudaStream_t stream);

  struct Layer {
    size_t input_norm, qkv_proj, o_proj, post_norm, gate_up_proj, down_proj;  // byte offsets
  };

  size_t embed_tokens() const { return embed_tokens_; }
  const Layer& layer(int32_t l) const { return layers_[static_cast<size_t>(l)]; }
  size_t final_norm() const { return final_norm_; }
  size_t lm_head() const { return lm_head_; }

 private:
  size_t embed_tokens_ = 0;
  std::vector<Layer> layers_;
  size_t final_norm_ = 0;
  size_t lm_head_ = 0;
};

}  // namespace kvlab::cuda
