#include "kernels/cuda/device_buffer.h"

#include <string>

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

namespace {

std::string mib(size_t bytes) {
  return std::to_string(static_cast<double>(bytes) / (1024.0 * 1024.0)) + " MiB";
}

}  // namespace

cudaError_t DeviceMemory::allocate(void** ptr, size_t bytes) { return cudaMalloc(ptr, bytes); }
cudaError_t DeviceMemory::release(void* ptr) { return cudaFree(ptr); }

cudaError_t PinnedHostMemory::allocate(void** ptr, size_t bytes) {
  return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault);
}
cudaError_t PinnedHostMemory::release(void* ptr) { return cudaFreeHost(ptr); }

void check_allocation(cudaError_t status, const char* what, size_t bytes) {
  if (status != cudaSuccess) check_cuda(status, std::string(what) + " of " + mib(bytes));
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
