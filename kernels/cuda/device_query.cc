#include "kernels/cuda/device_query.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

int cuda_device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why != nullptr) *why = "cudaGetDeviceCount: " + describe(status);
    // The error is not sticky: clear it so the next runtime call does not report it.
    cudaGetLastError();
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "cudaGetDeviceCount found 0 devices";
  return count;
}

DeviceInfo query_device(int32_t device) {
  DeviceInfo info;
  info.index = device;
  check_cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  check_cuda(cudaFree(nullptr), "creating the CUDA context");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  info.name = prop.name;
  info.sm_count = prop.multiProcessorCount;
  info.compute_capability = prop.major * 10 + prop.minor;
  int memory_clock_khz = 0;
  int bus_width_bits = 0;
  check_cuda(cudaDeviceGetAttribute(&memory_clock_khz, cudaDevAttrMemoryClockRate, device),
             "cudaDeviceGetAttribute(memory clock)");
  check_cuda(cudaDeviceGetAttribute(&bus_width_bits, cudaDevAttrGlobalMemoryBusWidth, device),
             "cudaDeviceGetAttribute(bus width)");
  info.peak_memory_gb_s = 2.0 * memory_clock_khz * 1e3 * (bus_width_bits / 8.0) / 1e9;
  size_t free_bytes = 0, total_bytes = 0;
  check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  info.free_bytes = static_cast<int64_t>(free_bytes);
  info.total_bytes = static_cast<int64_t>(total_bytes);
  return info;
}

}  // namespace kvlab::cuda
