// CudaLlamaModel: the Llama-style decoder of kernels/model/llama_model.h on the GPU, step for
// step the same computation (RMSNorm, fused QKV GEMM, rotate-half RoPE, K/V written to their
// slots, prefill / decode attention over the cache, O projection with residual, RMSNorm,
// gate-up GEMM, SiLU-and-mul, down projection with residual; final RMSNorm and LM head on
// the last token of each sampling entry), in the storage dtype with fp32 accumulation, over a
// CudaKvCache in the memory manager's layout.
//
// With dtype fp32 and host-generated weights the logits equal the CPU model's up to float
// rounding (summation orders differ: cuBLAS vs Eigen, online softmax vs two-pass); greedy
// tokens then agree except at near-ties.
//
// A CudaDecoderModel (decoder_model.h). Thread safety: none.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "core/model_spec.h"
#include "kernels/cpu/tensor.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/decoder_model.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/llama_weights.h"
#include "kernels/cuda/staged_upload.h"
#include "kernels/cuda/step_batch.h"
#include "kernels/model/llama_model.h"

namespace kvlab::cuda {

class CudaLlamaModel : public CudaDecoderModel {
 public:
  // Loads the weights (see CudaLlamaWeights) on the current device. `stream` must outlive
  // the model. Throws InputError when `spec` is not a runnable llama shape.
  CudaLlamaModel(ModelSpec spec, DType dtype, uint64_t weights_seed,
                 CudaLlamaWeights::Source source, cudaStream_t stream, LlamaOptions options = {});

  const CudaLlamaWeights& weights() const { return weights_; }

  // CudaDecoderModel::forward (contract of LlamaModel::forward).
  const float* forward(std::span<const ForwardEntry> batch, CudaKvCache& cache,
                       int64_t* num_sampling) override;

 private:
  template <typename T>
  const float* forward_typed(const StepBatch& batch, CudaKvCache& cache);

  LlamaOptions options_;
  CudaLlamaWeights weights_;
  RotaryTable rotary_;
  // Per-step activations, grown to the largest step seen.
  DeviceBuffer h_, x_, qkv_, attn_, gate_up_, act_, last_, logits_, decode_workspace_;
};

}  // namespace kvlab::cuda
