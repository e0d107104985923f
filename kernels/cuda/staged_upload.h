// StagedUpload: many small host arrays (token ids, positions, slot mappings, block tables,
// copy lists) sent to the device in one cudaMemcpyAsync per step instead of one each.
//
// Usage per step: clear(); offsets = add(array)...; upload(stream); then device<T>(offset)
// gives each array's device address. Arrays are packed at 16-byte alignment into a pinned
// staging buffer, so the copy is asynchronous; the next clear() first waits for the previous
// copy to finish (an event), so the staging memory is never overwritten under a running DMA.
//
// Thread safety: none (one per executor / stream).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "kernels/cuda/device_buffer.h"

namespace kvlab::cuda {

class StagedUpload {
 public:
  StagedUpload();

  // Forgets the staged arrays (waits for the previous upload's copy to finish).
  void clear();

  // Stages `values`; returns the offset to pass to device<T>() after upload().
  template <typename T>
  size_t add(std::span<const T> values) {
    const size_t offset = (host_.size() + 15) / 16 * 16;
    host_.resize(offset + values.size_bytes());
    if (!values.empty()) std::memcpy(host_.data() + offset, values.data(), values.size_bytes());
    return offset;
  }
  template <typename T>
  size_t add(const std::vector<T>& values) {
    return add(std::span<const T>(values));
  }

  // Copies everything staged to the device, asynchronously on `stream`.
  void upload(cudaStream_t stream);

  // REQUIRES: upload() ran after the add() that returned `offset`.
  template <typename T>
  T* device(size_t offset) const {
    return reinterpret_cast<T*>(device_.as<std::byte>() + offset);
  }

  size_t size_bytes() const { return host_.size(); }

 private:
  std::vector<std::byte> host_;
  PinnedBuffer pinned_;
  DeviceBuffer device_;
  CudaEvent copied_;
  bool pending_ = false;
};

}  // namespace kvlab::cuda
