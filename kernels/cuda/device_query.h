// Which CUDA devices exist and what they are: the no-device check every GPU entry point
// (executor, tests, benchmarks) makes first, and the properties they report.
#pragma once

#include <cstdint>
#include <string>

namespace kvlab::cuda {

// Devices the runtime can use; 0 when there are none or the runtime cannot start (no driver):
// then `why` (if given) says what cudaGetDeviceCount answered. Never throws.
int cuda_device_count(std::string* why = nullptr);

struct DeviceInfo {
  int32_t index = 0;
  std::string name;
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;  // cudaMemGetInfo when queried
  int32_t sm_count = 0;
  int32_t compute_capability = 0;  // major * 10 + minor
  // 2 x memory clock x bus width: the datasheet peak for DDR-type memory (HBM included).
  double peak_memory_gb_s = 0.0;
};

// Makes `device` current (creating its context) and describes it. Throws CudaError.
DeviceInfo query_device(int32_t device);

}  // namespace kvlab::cuda
