#include "kernels/cuda/device_buffer.h"

#include <string>

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

namespace {

std::string mib(size_t bytes) {
  return std::to_string(static_cast<double>(bytes) / (1024.0 * 1024.0)) + " MiB";
}

}  // namespace

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

void DeviceBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_) return;
  if (ptr_ != nullptr) {
    check_cuda(cudaFree(ptr_), "cudaFree");
    ptr_ = nullptr;
    bytes_ = 0;
  }
  check_cuda(cudaMalloc(&ptr_, bytes), "cudaMalloc of " + mib(bytes));
  bytes_ = bytes;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

void PinnedBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_) return;
  if (ptr_ != nullptr) {
    check_cuda(cudaFreeHost(ptr_), "cudaFreeHost");
    ptr_ = nullptr;
    bytes_ = 0;
  }
  check_cuda(cudaHostAlloc(&ptr_, bytes, cudaHostAllocDefault),
             "cudaHostAlloc (pinned host memory) of " + mib(bytes));
  bytes_ = bytes;
}

CudaStream::CudaStream() {
  // A blocking stream: it waits for work on the legacy default stream, where synchronous
  // calls such as cudaMemset and cudaMemcpy from pageable memory may still be finishing.
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault), "cudaStreamCreate");
}

CudaStream::~CudaStream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaStream::synchronize(const char* what) const {
  check_cuda(cudaStreamSynchronize(stream_), what);
}

CudaEvent::CudaEvent() { check_cuda(cudaEventCreate(&event_), "cudaEventCreate"); }

CudaEvent::~CudaEvent() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

void CudaEvent::record(cudaStream_t stream) {
  check_cuda(cudaEventRecord(event_, stream), "cudaEventRecord");
}

void CudaEvent::synchronize() const {
  check_cuda(cudaEventSynchronize(event_), "cudaEventSynchronize");
}

float CudaEvent::elapsed_ms_since(const CudaEvent& start) const {
  float ms = 0.0f;
  check_cuda(cudaEventElapsedTime(&ms, start.event_, event_), "cudaEventElapsedTime");
  return ms;
}

}  // namespace kvlab::cuda
