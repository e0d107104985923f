#include "kernels/cuda/driver_vmm_api.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

namespace {

// The driver ABI the typedefs above are (CUDA 12.0 serves every one of them).
constexpr unsigned int kDriverAbiVersion = 12000;

template <typename Fn>
void resolve(const char* symbol, Fn& fn) {
  void* address = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t status = cudaGetDriverEntryPointByVersion(symbol, &address, kDriverAbiVersion,
                                                              cudaEnableDefault, &found);
  if (status != cudaSuccess) {
    throw CudaError(std::string("CUDA driver entry point ") + symbol + ": " + describe(status));
  }
  if (found != cudaDriverEntryPointSuccess || address == nullptr) {
    throw CudaError(std::string("CUDA driver entry point ") + symbol +
                    (found == cudaDriverEntryPointVersionNotSufficent
                         ? ": the driver is older than CUDA 12.0"
                         : ": not found in the driver"));
  }
  fn = reinterpret_cast<Fn>(address);
}

DriverVmmApi load() {
  DriverVmmApi api{};
  resolve("cuMemAddressReserve", api.address_reserve);
  resolve("cuMemAddressFree", api.address_free);
  resolve("cuMemCreate", api.create);
  resolve("cuMemRelease", api.release);
  resolve("cuMemMap", api.map);
  resolve("cuMemUnmap", api.unmap);
  resolve("cuMemSetAccess", api.set_access);
  resolve("cuMemGetAllocationGranularity", api.granularity);
  resolve("cuDeviceGetAttribute", api.device_attribute);
  resolve("cuGetErrorName", api.error_name);
  resolve("cuGetErrorString", api.error_string);
  return api;
}

}  // namespace

const DriverVmmApi& driver_vmm_api() {
  static const DriverVmmApi api = load();
  return api;
}

void check_cu(CUresult status, const std::string& what) {
  if (status == CUDA_SUCCESS) return;
  const DriverVmmApi& api = driver_vmm_api();
  const char* name = nullptr;
  const char* text = nullptr;
  api.error_name(status, &name);
  api.error_string(status, &text);
  throw CudaError(what + ": " + (name != nullptr ? name : "CUDA_ERROR_" + std::to_string(status)) +
                  ": " + (text != nullptr ? text : "unknown driver error"));
}

}  // namespace kvlab::cuda
