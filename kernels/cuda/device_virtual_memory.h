// Real virtual memory on the device with the CUDA driver's VMM API, the counterpart of
// kernels/host_virtual_memory.h (memfd + mmap on the host):
//
//  - DevicePagePool: physical device memory as num_pages allocations of page_bytes each
//    (cuMemCreate, pinned on the device). One allocation per page, because cuMemMap maps an
//    allocation from its start (its offset argument must be 0), so a page that moves between
//    ranges must be an allocation of its own.
//  - DeviceReservation: device address space reserved with cuMemAddressReserve (no memory).
//    map() places one pool page at an offset of it (cuMemMap, then cuMemSetAccess granting the
//    device read/write, which a mapping needs before any kernel touches it); unmap() gives the
//    page's addresses back to the reservation (cuMemUnmap), the page keeps its bytes. One
//    page mapped in two reservations is the same memory, as on the host.
//
// Every map / set-access / unmap call is counted with its host wall time (VmmCallCounters,
// the cpu back end's counters): what the cuda back end reports per step (StepRecord::vmm_calls,
// vmm_s). The calls are synchronous driver calls; the caller must not unmap memory a kernel
// still reads (the cuda executor maps and unmaps between steps, after the previous step's sync).
//
// Sizes and offsets must be multiples of the device's allocation granularity
// (vmm_granularity: 2 MiB on the GPUs we know). Entry points come from driver_vmm_api.h (no
// link-time libcuda). Move-only; the destructors unmap, free the addresses and release the
// pages. Thread safety: none.
#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/host_virtual_memory.h"

namespace kvlab::cuda {

// "" when `device` supports the VMM API (CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED),
// else why not (the attribute, or the driver entry points' error). Never throws.
std::string vmm_unsupported_reason(int32_t device);

// The minimum granularity of a pinned allocation on `device` (cuMemGetAllocationGranularity,
// CU_MEM_ALLOC_GRANULARITY_MINIMUM): page sizes, offsets and reservations are multiples of it.
// Throws CudaError.
size_t vmm_granularity(int32_t device);

class DevicePagePool {
 public:
  DevicePagePool() = default;
  // REQUIRES (checked, std::invalid_argument): page_bytes a positive multiple of
  // vmm_granularity(device). Throws CudaError when cuMemCreate fails (out of memory: the
  // message says how many pages were made).
  DevicePagePool(int32_t device, size_t page_bytes, size_t num_pages);
  ~DevicePagePool();
  DevicePagePool(DevicePagePool&& other) noexcept { swap(other); }
  DevicePagePool& operator=(DevicePagePool&& other) noexcept {
    DevicePagePool(static_cast<DevicePagePool&&>(other)).swap(*this);
    return *this;
  }
  DevicePagePool(const DevicePagePool&) = delete;
  DevicePagePool& operator=(const DevicePagePool&) = delete;

  int32_t device() const { return device_; }
  size_t page_bytes() const { return page_bytes_; }
  size_t num_pages() const { return handles_.size(); }
  CUmemGenericAllocationHandle handle(size_t page) const { return handles_[page]; }

  void swap(DevicePagePool& other) noexcept;

 private:
  int32_t device_ = 0;
  size_t page_bytes_ = 0;
  std::vector<CUmemGenericAllocationHandle> handles_;
};

class DeviceReservation {
 public:
  DeviceReservation() = default;
  // Reserves `bytes` of device address space aligned to `page_bytes`, in page_bytes pages (one
  // cuMemAddressReserve, counted). REQUIRES (checked, std::invalid_argument): bytes a
  // positive multiple of page_bytes. Throws CudaError when the driver refuses.
  DeviceReservation(int32_t device, size_t bytes, size_t page_bytes);
  ~DeviceReservation();
  DeviceReservation(DeviceReservation&& other) noexcept { swap(other); }
  DeviceReservation& operator=(DeviceReservation&& other) noexcept {
    DeviceReservation(static_cast<DeviceReservation&&>(other)).swap(*this);
    return *this;
  }
  DeviceReservation(const DeviceReservation&) = delete;
  DeviceReservation& operator=(const DeviceReservation&) = delete;

  std::byte* data() const { return reinterpret_cast<std::byte*>(base_); }
  size_t size_bytes() const { return bytes_; }
  size_t page_bytes() const { return page_bytes_; }

  // Maps pool page `page` at reservation page `at` (bytes [at x page_bytes, ...)), readable
  // and writable by the device: cuMemMap + cuMemSetAccess, two counted calls.
  // REQUIRES (checked, std::invalid_argument): `at` inside and unmapped; `page` inside the
  // pool; the pool's page size this reservation's. Throws CudaError when the driver refuses.
  void map(size_t at, const DevicePagePool& pool, size_t page);
  // Unmaps reservation page `at` (cuMemUnmap, one counted call).
  // REQUIRES (checked, std::invalid_argument): `at` mapped.
  void unmap(size_t at);
  bool is_mapped(size_t at) const { return at < mapped_.size() && mapped_[at] != 0; }

  const VmmCallCounters& counters() const { return counters_; }

  void swap(DeviceReservation& other) noexcept;

 private:
  int32_t device_ = 0;
  CUdeviceptr base_ = 0;
  size_t bytes_ = 0;
  size_t page_bytes_ = 0;
  std::vector<uint8_t> mapped_;  // per reservation page
  VmmCallCounters counters_;
};

}  // namespace kvlab::cuda
