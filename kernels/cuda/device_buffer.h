// RAII owners of CUDA resources: device memory, pinned host memory, a stream, an event.
// Move-only; destructors never throw (a failing free is ignored: it can only mean the
// context is already gone).
//
// DeviceBuffer and PinnedBuffer (one template over where the memory comes from) can grow
// (reserve): growing frees the old allocation first and does not keep its contents, which
// suits per-step scratch that is rewritten every step.
// cudaFree waits for the device, so a buffer is never freed under a running kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace kvlab::cuda {

// Where a buffer's bytes come from: device memory (cudaMalloc / cudaFree), or page-locked
// host memory (cudaHostAlloc / cudaFreeHost) for the swap pool and upload staging, so that
// cudaMemcpyAsync to and from it really runs asynchronously by DMA.
struct DeviceMemory {
  static cudaError_t allocate(void** ptr, size_t bytes);
  static cudaError_t release(void* ptr);
  static constexpr const char* kAllocate = "cudaMalloc";
  static constexpr const char* kRelease = "cudaFree";
};
struct PinnedHostMemory {
  static cudaError_t allocate(void** ptr, size_t bytes);
  static cudaError_t release(void* ptr);
  static constexpr const char* kAllocate = "cudaHostAlloc (pinned host memory)";
  static constexpr const char* kRelease = "cudaFreeHost";
};

// Throws CudaError naming `what` and `bytes` unless status is cudaSuccess (device_buffer.cc,
// so this header needs no cuda_check.h).
void check_allocation(cudaError_t status, const char* what, size_t bytes);

template <typename Memory>
class CudaBuffer {
 public:
  CudaBuffer() = default;
  // Throws CudaError naming `bytes` when the allocation fails.
  explicit CudaBuffer(size_t bytes) { reserve(bytes); }
  ~CudaBuffer() {
    if (ptr_ != nullptr) Memory::release(ptr_);
  }
  CudaBuffer(CudaBuffer&& other) noexcept { swap(other); }
  CudaBuffer& operator=(CudaBuffer&& other) noexcept {
    CudaBuffer(std::move(other)).swap(*this);
    return *this;
  }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;

  // Ensures at least `bytes` (contents not kept when it grows).
  void reserve(size_t bytes) {
    if (bytes <= bytes_) return;
    if (ptr_ != nullptr) {
      check_allocation(Memory::release(ptr_), Memory::kRelease, bytes_);
      ptr_ = nullptr;
      bytes_ = 0;
    }
    check_allocation(Memory::allocate(&ptr_, bytes), Memory::kAllocate, bytes);
    bytes_ = bytes;
  }
  void* data() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t size_bytes() const { return bytes_; }
  void swap(CudaBuffer& other) noexcept {
    std::swap(ptr_, other.ptr_);
    std::swap(bytes_, other.bytes_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

using DeviceBuffer = CudaBuffer<DeviceMemory>;
using PinnedBuffer = CudaBuffer<PinnedHostMemory>;

class CudaStream {
 public:
  CudaStream();  // a (blocking) stream on the current device
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize(const char* what) const;

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEvent {
 public:
  CudaEvent();  // a timing event
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  void synchronize() const;
  // Milliseconds from `start` to this event; both recorded and complete.
  float elapsed_ms_since(const CudaEvent& start) const;

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace kvlab::cuda
