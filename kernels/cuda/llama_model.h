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
// Thread safety: none; a model owns per-step scratch and enqueues on one stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>

#include "core/model_spec.h"
#include "kernels/cpu/tensor.h"
#include "kernels/cuda/attention.h"
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

class CudaLlamaModel {
 public:
  // Loads the weights (see CudaLlamaWeights) on the current device. `stream` must outlive
  // the model. Throws InputError when `spec` is not a runnable llama shape.
  CudaLlamaModel(ModelSpec spec, DType dtype, uint64_t weights_seed,
                 CudaLlamaWeights::Source source, cudaStream_t stream, LlamaOptions options = {});

  const ModelSpec& spec() const { return spec_; }
  DType dtype() const { return dtype_; }
  const CudaLlamaWeights& weights() const { return weights_; }
  cudaStream_t stream() const { return stream_; }
  // How decode attention runs (tests and benchmarks force one pass or split-K).
  void set_decode_options(DecodeOptions options) { decode_options_ = options; }

  // A zero-filled device cache of `num_slots` slots shaped for this model, in its dtype.
  CudaKvCache make_kv_cache(int64_t num_slots) const;

  // Enqueues one step over `batch` (contract of LlamaModel::forward) and returns the device
  // address of the fp32 logits, [num_sampling][vocab_size], valid until the next forward.
  // `num_sampling` receives the number of rows. Nothing synchronizes except the upload of the
  // step's tables (see StagedUpload).
  const float* forward(std::span<const ForwardEntry> batch, CudaKvCache& cache,
                       int64_t* num_sampling);

  // forward(), then the logits copied to the host (synchronizes the stream).
  cpu::RowMatrix forward_to_host(std::span<const ForwardEntry> batch, CudaKvCache& cache);

 private:
  template <typename T>
  const float* forward_typed(const StepBatch& batch, CudaKvCache& cache);

  ModelSpec spec_;
  DType dtype_;
  LlamaOptions options_;
  cudaStream_t stream_;
  CublasHandle cublas_;
  CudaLlamaWeights weights_;
  RotaryTable rotary_;
  DecodeOptions decode_options_;
  StagedUpload upload_;
  // Per-step activations, grown to the largest step seen.
  DeviceBuffer h_, x_, qkv_, attn_, gate_up_, act_, last_, logits_, decode_workspace_;
};

}  // namespace kvlab::cuda
