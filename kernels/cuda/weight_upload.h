// What the device weight classes (llama_weights.h, opt_weights.h) share: byte offsets of the
// tensors in one allocation, and the upload of host fp32 tensors rounded to the storage type.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/elementwise.h"

namespace kvlab::cuda {

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
