// The CUDA driver's virtual-memory entry points (cuMemAddressReserve, cuMemCreate, cuMemMap,
// cuMemSetAccess, cuMemUnmap, ...), resolved at run time through the runtime's
// cudaGetDriverEntryPointByVersion the first time an arena needs them.
//
// Why not link libcuda: CI machines (and this project's build machines) have the toolkit but
// no driver, and libcuda.so ships with the driver, not the toolkit (only a link stub does),
// so a binary linked against it would not start there. The runtime (libcudart, linked) finds
// the driver when one exists and hands out its entry points; <cuda.h> and <cudaTypedefs.h>
// give the types only. Each entry point is requested at the ABI of CUDA 12.0 (the
// _v10020-era signatures of cudaTypedefs.h), which every driver since then serves.
//
// Thread-safe (resolved once).
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>

#include <string>

namespace kvlab::cuda {

struct DriverVmmApi {
  PFN_cuMemAddressReserve_v10020 address_reserve;
  PFN_cuMemAddressFree_v10020 address_free;
  PFN_cuMemCreate_v10020 create;
  PFN_cuMemRelease_v10020 release;
  PFN_cuMemMap_v10020 map;
  PFN_cuMemUnmap_v10020 unmap;
  PFN_cuMemSetAccess_v10020 set_access;
  PFN_cuMemGetAllocationGranularity_v10020 granularity;
  PFN_cuDeviceGetAttribute_v2000 device_attribute;
  PFN_cuGetErrorName_v6000 error_name;
  PFN_cuGetErrorString_v6000 error_string;
};

// Resolves the entry points on first use. Throws CudaError naming the symbol and what the
// runtime answered (no driver, a driver older than CUDA 12.0) when one is missing.
const DriverVmmApi& driver_vmm_api();

// Throws CudaError("WHAT: CUDA_ERROR_NAME: description") unless status is CUDA_SUCCESS.
void check_cu(CUresult status, const std::string& what);

}  // namespace kvlab::cuda
