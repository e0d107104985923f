#include "kernels/cuda/device_virtual_memory.h"

#include <chrono>
#include <stdexcept>
#include <utility>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/driver_vmm_api.h"

namespace kvlab::cuda {

namespace {

// A pinned allocation on `device`: what the pool's pages are and the granularity is asked of.
CUmemAllocationProp device_allocation(int32_t device) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  return prop;
}

// Runs one driver call, counting it and its host wall time.
template <typename Fn>
CUresult timed_call(VmmCallCounters& counters, Fn&& call) {
  const auto start = std::chrono::steady_clock::now();
  const CUresult status = call();
  counters.seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++counters.calls;
  return status;
}

}  // namespace

std::string vmm_unsupported_reason(int32_t device) {
  try {
    const DriverVmmApi& api = driver_vmm_api();
    int supported = 0;
    check_cu(api.device_attribute(&supported,
                                  CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, device),
             "cuDeviceGetAttribute(VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED)");
    if (supported == 0) {
      return "device " + std::to_string(device) +
             " does not support the CUDA virtual memory management API";
    }
    return "";
  } catch (const CudaError& e) {
    return e.what();
  }
}

size_t vmm_granularity(int32_t device) {
  const CUmemAllocationProp prop = device_allocation(device);
  size_t granularity = 0;
  check_cu(driver_vmm_api().granularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM),
           "cuMemGetAllocationGranularity");
  return granularity;
}

DevicePagePool::DevicePagePool(int32_t device, size_t page_bytes, size_t num_pages)
    : device_(device), page_bytes_(page_bytes) {
  const size_t granularity = vmm_granularity(device);
  if (page_bytes == 0 || page_bytes % granularity != 0) {
    throw std::invalid_argument("DevicePagePool: page size " + std::to_string(page_bytes) +
                                " bytes is not a positive multiple of device " +
                                std::to_string(device) + "'s allocation granularity (" +
                                std::to_string(granularity) + " bytes)");
  }
  const DriverVmmApi& api = driver_vmm_api();
  const CUmemAllocationProp prop = device_allocation(device);
  handles_.reserve(num_pages);
  for (size_t i = 0; i < num_pages; ++i) {
    CUmemGenericAllocationHandle handle = 0;
    const CUresult status = api.create(&handle, page_bytes, &prop, 0);
    if (status != CUDA_SUCCESS) {
      const std::string what = "cuMemCreate of page " + std::to_string(i) + " of " +
                               std::to_string(num_pages) + " (" + std::to_string(page_bytes) +
                               " bytes each)";
      DevicePagePool().swap(*this);  // releases what was made
      check_cu(status, what);
    }
    handles_.push_back(handle);
  }
}

DevicePagePool::~DevicePagePool() {
  if (handles_.empty()) return;
  const DriverVmmApi& api = driver_vmm_api();
  // A page still mapped somewhere is freed when its last mapping goes.
  for (CUmemGenericAllocationHandle handle : handles_) api.release(handle);
}

void DevicePagePool::swap(DevicePagePool& other) noexcept {
  std::swap(device_, other.device_);
  std::swap(page_bytes_, other.page_bytes_);
  std::swap(handles_, other.handles_);
}

DeviceReservation::DeviceReservation(int32_t device, size_t bytes, size_t page_bytes)
    : device_(device), page_bytes_(page_bytes) {
  if (page_bytes == 0 || bytes == 0 || bytes % page_bytes != 0) {
    throw std::invalid_argument("DeviceReservation: " + std::to_string(bytes) +
                                " bytes are not a positive number of " +
                                std::to_string(page_bytes) + "-byte pages");
  }
  CUdeviceptr base = 0;
  check_cu(
      timed_call(counters_,
                 [&] { return driver_vmm_api().address_reserve(&base, bytes, page_bytes, 0, 0); }),
      "cuMemAddressReserve of " + std::to_string(bytes) + " bytes");
  base_ = base;
  bytes_ = bytes;
  mapped_.assign(bytes / page_bytes, 0);
}

DeviceReservation::~DeviceReservation() {
  if (base_ == 0) return;
  const DriverVmmApi& api = driver_vmm_api();
  for (size_t at = 0; at < mapped_.size(); ++at) {
    if (mapped_[at] != 0) api.unmap(base_ + at * page_bytes_, page_bytes_);
  }
  api.address_free(base_, bytes_);
}

void DeviceReservation::swap(DeviceReservation& other) noexcept {
  std::swap(device_, other.device_);
  std::swap(base_, other.base_);
  std::swap(bytes_, other.bytes_);
  std::swap(page_bytes_, other.page_bytes_);
  std::swap(mapped_, other.mapped_);
  std::swap(counters_, other.counters_);
}

void DeviceReservation::map(size_t at, const DevicePagePool& pool, size_t page) {
  if (at >= mapped_.size() || mapped_[at] != 0 || page >= pool.num_pages() ||
      pool.page_bytes() != page_bytes_) {
    throw std::invalid_argument("DeviceReservation::map: page " + std::to_string(page) +
                                " of a pool of " + std::to_string(pool.num_pages()) + " " +
                                std::to_string(pool.page_bytes()) +
                                "-byte pages at reservation page " + std::to_string(at) + " of " +
                                std::to_string(mapped_.size()) + " " + std::to_string(page_bytes_) +
                                "-byte pages (must be inside, unmapped, same page size)");
  }
  const DriverVmmApi& api = driver_vmm_api();
  const CUdeviceptr ptr = base_ + at * page_bytes_;
  check_cu(
      timed_call(counters_, [&] { return api.map(ptr, page_bytes_, 0, pool.handle(page), 0); }),
      "cuMemMap");
  mapped_[at] = 1;
  CUmemAccessDesc access{};
  access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  access.location.id = device_;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  check_cu(timed_call(counters_, [&] { return api.set_access(ptr, page_bytes_, &access, 1); }),
           "cuMemSetAccess");
  ++counters_.pages_mapped;
}

void DeviceReservation::unmap(size_t at) {
  if (!is_mapped(at)) {
    throw std::invalid_argument("DeviceReservation::unmap: reservation page " + std::to_string(at) +
                                " is not mapped");
  }
  check_cu(
      timed_call(counters_,
                 [&] { return driver_vmm_api().unmap(base_ + at * page_bytes_, page_bytes_); }),
      "cuMemUnmap");
  mapped_[at] = 0;
  ++counters_.pages_unmapped;
}

}  // namespace kvlab::cuda
