// What the device weight classes (llama_weights.h, opt_weights.h) share: one allocation in the
// storage type with typed access by byte offset and where the values came from (DeviceWeights),
// byte offsets of the tensors in it (WeightLayout), and the upload of host fp32 tensors rounded
// to the storage type.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/model_spec.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/dummy_weights.h"
#include "kernels/cuda/elementwise.h"

namespace kvlab::cuda {

// A model's parameters in device memory, all in one allocation of the storage dtype.
//
// Where the values come from (backend.weights_seed is the seed either way):
//  - kHost: DummyWeightSource on the host (the CPU model's loader), exactly the CPU model's fp32
//    weights, uploaded and rounded to the dtype. With dtype fp32 the CUDA model computes with
//    the CPU model's weights bit for bit: this is what lets tests compare greedy tokens.
//  - kDevice: a kernel fills each Hugging Face tensor with dummy_weights.h's counter-based
//    rule: same distributions as the CPU's, different values. For models whose fp32 host copy
//    would take minutes and gigabytes (llama-2-7b: 27 GB of fp32, ~1 minute of mt19937_64).
// default_source() picks kHost up to kMaxHostWeightParams parameters.
class DeviceWeights {
 public:
  enum class Source { kHost, kDevice };
  static constexpr int64_t kMaxHostWeightParams = int64_t{1} << 27;  // ~134M parameters
  static Source default_source(const ModelSpec& spec) {
    return spec.num_params() <= kMaxHostWeightParams ? Source::kHost : Source::kDevice;
  }
  static const char* to_string(Source source) {
    return source == Source::kHost ? "host" : "device";
  }

  DType dtype() const { return dtype_; }
  Source source() const { return source_; }
  int64_t bytes() const { return static_cast<int64_t>(storage_.size_bytes()); }

  // Typed device pointers. REQUIRES: T matches dtype().
  template <typename T>
  const T* at(size_t offset) const {
    return reinterpret_cast<const T*>(storage_.as<const char>() + offset);
  }

 protected:
  DeviceWeights(DType dtype, Source source) : dtype_(dtype), source_(source) {}

  // kDevice: Hugging Face tensor `name` (`rows` x `cols`; a 1-D tensor, `is_vector`, is one
  // row) filled by dummy_weights.h's rule into rows [first_row, first_row + rows) of the fused
  // tensor at byte `offset`.
  template <typename T>
  void fill_dummy_rows(size_t offset, int64_t first_row, int64_t rows, int64_t cols,
                       uint64_t seed, const std::string& name, bool is_vector,
                       cudaStream_t stream) {
    T* dst = reinterpret_cast<T*>(storage_.as<char>() + offset) + first_row * cols;
    fill_dummy(dst, rows * cols, dummy_tensor_seed(seed, name), dummy_range(name, is_vector, cols),
               stream);
  }

  DType dtype_;
  Source source_;
  DeviceBuffer storage_;
};

// Hands out 256-byte-aligned byte offsets for tensors of `elements` elements.
class WeightLayout {
 public:
  explicit WeightLayout(int32_t element_bytes) : element_bytes_(element_bytes) {}
  size_t take(int64_t elements) {
    const size_t offset = total_;
    total_ +=
        (static_cast<size_t>(elements) * static_cast<size_t>(element_bytes_) + 255) / 256 * 256;
    return offset;
  }
  size_t total() const { return total_; }

 private:
  int32_t element_bytes_;
  size_t total_ = 0;
};

// fp32 host data -> T on the device, through a staging buffer of floats (T != float). The
// caller synchronizes `stream` before `host` goes away.
template <typename T>
void upload_weight(const float* host, int64_t count, void* device, DeviceBuffer& staging,
                   cudaStream_t stream) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(float);
  if constexpr (std::is_same_v<T, float>) {
    check_cuda(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream),
               "weights: upload");
  } else {
    staging.reserve(bytes);
    check_cuda(cudaMemcpyAsync(staging.data(), host, bytes, cudaMemcpyHostToDevice, stream),
               "weights: upload");
    convert_from_float(staging.as<const float>(), static_cast<T*>(device), count, stream);
    // The staging buffer is reused by the next tensor: wait for the conversion.
    check_cuda(cudaStreamSynchronize(stream), "weights: upload");
  }
}

}  // namespace kvlab::cuda
