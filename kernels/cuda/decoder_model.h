// CudaDecoderModel: what the cuda executor needs of a device model, whatever its family (the
// CUDA twin of kernels/model/decoder_model.h): CudaLlamaModel (llama_model.h) and
// CudaOptModel (opt_model.h). make_cuda_decoder_model picks one by ModelSpec::family.
//
// Also the pieces of a step both families share: the step's index arrays uploaded in one copy
// (upload_step), and a layer's attention (K/V written to their slots, prefill and decode
// attention over the cache: attend_layer).
//
// Thread safety: none; a model owns per-step scratch and enqueues on one stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/model_spec.h"
#include "kernels/cpu/tensor.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_kv_tables.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/llama_weights.h"
#include "kernels/cuda/staged_upload.h"
#include "kernels/cuda/step_batch.h"
#include "kernels/model/decoder_model.h"

namespace kvlab::cuda {

// The state every family keeps (the spec, storage type, stream, cuBLAS handle, decode options
// and the per-step upload) lives here; a family adds its weights and activations.
class CudaDecoderModel {
 public:
  virtual ~CudaDecoderModel() = default;
  CudaDecoderModel(const CudaDecoderModel&) = delete;
  CudaDecoderModel& operator=(const CudaDecoderModel&) = delete;

  const ModelSpec& spec() const { return spec_; }
  DType dtype() const { return dtype_; }
  cudaStream_t stream() const { return stream_; }
  // How decode attention runs (tests and benchmarks force one pass or split-K).
  void set_decode_options(DecodeOptions options) { decode_options_ = options; }

  // A zero-filled device cache of `num_slots` slots shaped for this model, in its dtype or
  // quantized (`storage`: CudaKvCache's rule).
  CudaKvCache make_kv_cache(int64_t num_slots, KvDtype storage = KvDtype::kAuto) const;

  // Enqueues one step over `batch` (contract of DecoderModel::forward) and returns the device
  // address of the fp32 logits, [num_sampling][vocab_size], valid until the next forward.
  // `num_sampling` receives the number of rows. Nothing synchronizes except the upload of the
  // step's tables (see StagedUpload).
  virtual const float* forward(std::span<const ForwardEntry> batch, CudaKvCache& cache,
                               int64_t* num_sampling) = 0;

  // forward(), then the logits copied to the host (synchronizes the model's stream).
  cpu::RowMatrix forward_to_host(std::span<const ForwardEntry> batch, CudaKvCache& cache);

 protected:
  // `stream` must outlive the model.
  CudaDecoderModel(ModelSpec spec, DType dtype, cudaStream_t stream);
  // InvariantError unless `cache` is a device cache shaped for spec() in dtype() (storing
  // dtype() or quantized).
  void check_cache(const CudaKvCache& cache) const;

  ModelSpec spec_;
  DType dtype_;
  cudaStream_t stream_;
  CublasHandle cublas_;
  DecodeOptions decode_options_;
  StagedUpload upload_;
};

// The families the cuda back end runs: "llama, opt".
std::string cuda_model_families();

// Throws InputError (model.family) for a family the cuda back end does not run, and the
// family's own InputError for a shape it cannot run (validate_llama_spec, validate_opt_spec).
void validate_cuda_model_spec(const ModelSpec& spec);

// The model of `spec.family` (validate_cuda_model_spec first), weights from `source`.
std::unique_ptr<CudaDecoderModel> make_cuda_decoder_model(const ModelSpec& spec, DType dtype,
                                                          uint64_t weights_seed,
                                                          DeviceWeights::Source source,
                                                          cudaStream_t stream);

// A step's index arrays on the device (valid until the next upload through the same
// StagedUpload).
struct StepInputs {
  const int32_t* tokens = nullptr;
  const int32_t* positions = nullptr;
  const int64_t* slots = nullptr;
  const int32_t* query_indptr = nullptr;
  const int32_t* sample_rows = nullptr;
  StagedSeqTables prefill_tables, decode_tables;
};

// Stages and uploads `b`'s token ids, positions, slots, query offsets, sampling rows and
// attention tables in one copy.
StepInputs upload_step(const StepBatch& b, StagedUpload& upload, cudaStream_t stream);

// One layer's attention over the step: K and V of every row (at qkv + q_width and
// qkv + q_width + kv_width, rows qkv_stride apart) written to their slots of layer `layer` of
// `cache` (quantized if the cache is), then prefill attention for the prefill rows and decode
// attention for the decode rows, into attn ([rows][q_width]).
template <typename T>
void attend_layer(const StepBatch& b, const StepInputs& in, const StagedUpload& upload, T* qkv,
                  int64_t qkv_stride, int64_t q_width, int64_t kv_width, const CudaKvCache& cache,
                  int32_t layer, int32_t num_heads, T* attn, DeviceBuffer& decode_workspace,
                  DecodeOptions decode_options, cudaStream_t stream) {
  auto attend = [&](const auto& arena, const auto& read) {
    write_kv(static_cast<const T*>(qkv + q_width), qkv_stride,
             static_cast<const T*>(qkv + q_width + kv_width), qkv_stride, in.slots, b.total_rows,
             arena, stream);
    if (b.prefill_rows > 0) {
      prefill_attention(static_cast<const T*>(qkv), qkv_stride, in.query_indptr,
                        b.max_prefill_q_len, in.prefill_tables.view(upload), read, num_heads, attn,
                        q_width, stream);
    }
    if (b.decode_rows() > 0) {
      decode_attention(static_cast<const T*>(qkv + b.prefill_rows * qkv_stride), qkv_stride,
                       in.decode_tables.view(upload), in.decode_tables.max_context, read,
                       num_heads, attn + b.prefill_rows * q_width, q_width, decode_workspace,
                       stream, decode_options);
    }
  };
  if (cache.scaled()) {
    const ScaledKvLayer scaled = cache.scaled_layer(layer);
    attend(scaled, scaled);
  } else {
    const KvArenaView<T> arena = cache.layer<T>(layer);
    attend(arena, arena.as_const());
  }
}

}  // namespace kvlab::cuda
