// CudaLlamaWeights: a Llama model's parameters in device memory, in the storage dtype, in the
// fused layouts of kernels/model/llama_weights.h (qkv_proj = q, k, v rows stacked;
// gate_up_proj = gate rows then up rows), all in one allocation.
//
// Where the values come from (backend.weights_seed is the seed either way):
//  - kHost: DummyWeightSource on the host through load_llama_weights, exactly the CPU model's
//    fp32 weights, uploaded and rounded to the dtype. With dtype fp32 the CUDA model computes
//    with the CPU model's weights bit for bit: this is what lets tests compare greedy tokens.
//  - kDevice: a kernel fills each Hugging Face tensor with dummy_weights.h's counter-based
//    rule: same distributions as the CPU's, different values. For models whose fp32 host copy
//    would take minutes and gigabytes (llama-2-7b: 27 GB of fp32, ~1 minute of mt19937_64).
// default_source() picks kHost up to kMaxHostWeightParams parameters.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "core/model_spec.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"

namespace kvlab::cuda {

class CudaLlamaWeights {
 public:
  enum class Source { kHost, kDevice };
  static constexpr int64_t kMaxHostWeightParams = int64_t{1} << 27;  // ~134M parameters
  static Source default_source(const ModelSpec& spec);
  static const char* to_string(Source source);

  // REQUIRES: validate_llama_spec(spec) passes. Synchronizes `stream` before returning.
  CudaLlamaWeights(const ModelSpec& spec, DType dtype, uint64_t seed, Source source,
                   cudaStream_t stream);

  struct Layer {
    size_t input_norm, qkv_proj, o_proj, post_norm, gate_up_proj, down_proj;  // byte offsets
  };

  DType dtype() const { return dtype_; }
  Source source() const { return source_; }
  int64_t bytes() const { return static_cast<int64_t>(storage_.size_bytes()); }

  // Typed device pointers. REQUIRES: T matches dtype().
  template <typename T>
  const T* at(size_t offset) const {
    return reinterpret_cast<const T*>(storage_.as<const char>() + offset);
  }
  size_t embed_tokens() const { return embed_tokens_; }
  const Layer& layer(int32_t l) const { return layers_[static_cast<size_t>(l)]; }
  size_t final_norm() const { return final_norm_; }
  size_t lm_head() const { return lm_head_; }

 private:
  DType dtype_;
  Source source_;
  DeviceBuffer storage_;
  size_t embed_tokens_ = 0;
  std::vector<Layer> layers_;
  size_t final_norm_ = 0;
  size_t lm_head_ = 0;
};

}  // namespace kvlab::cuda
